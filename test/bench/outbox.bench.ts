// npm run bench:outbox — records/s through the outbox against the raw better-sqlite3 ceiling
// (same rows, same transaction size, same run), event-loop delay p99 during each, write volume
// per record, and end to end into an in-process MQTT broker with QoS 1. Runs well under 2 minutes.
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { createOutbox, outboxSchema } from '../../src/outbox/index.ts';
import { numberBatch, tempContext } from '../support/outbox/testing.ts';
import { createSink } from '../../src/sinks/index.ts';
import { sinkSchema } from '../../src/sinks/config.ts';
import { TestBroker } from '../support/mqtt/test-broker.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 600_000);
const TXN = Number(process.env.BENCH_TXN ?? 1000);
const BATCH = 100; // samples per SampleBatch (one poll)
/** the end-to-end run is repeated (the machine is shared and noisy): each run and the median are printed */
const E2E_RUNS = Number(process.env.BENCH_E2E_RUNS ?? 3);

function wchar(): number {
  try {
    return Number(/wchar: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** bytes this process caused to be written to storage (page-cache pages dirtied), the figure bench:e2e reports */
function writeBytes(): number {
  try {
    return Number(/write_bytes: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function loopMonitor() {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  return () => {
    h.disable();
    return { p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
  };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
}

/** The ceiling: the same insert of the same rows in transactions of TXN rows, default auto-checkpoint. */
async function raw(dir: string, autoCheckpoint: boolean) {
  const db = new Database(join(dir, `raw-${autoCheckpoint}.db`));
  db.pragma('journal_mode = WAL');
  if (!autoCheckpoint) db.pragma('wal_autocheckpoint = 0');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE records (seq INTEGER PRIMARY KEY, kind INTEGER NOT NULL, source TEXT NOT NULL, tag TEXT NOT NULL, ts REAL NOT NULL, vtype INTEGER NOT NULL, quality INTEGER NOT NULL, value, reason TEXT, extra TEXT)');
  const ins = db.prepare('INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
  const batches = Array.from({ length: TXN / BATCH }, (_, i) => numberBatch('plc1', i * BATCH, BATCH));
  let seq = 0;
  const txn = db.transaction(() => {
    for (const b of batches) for (const s of b.samples) ins.run(++seq, 0, s.source, s.tag, s.ts, 1, 0, s.value as number, null, null);
  });
  const stop = loopMonitor();
  const txnMs: number[] = [];
  const w0 = wchar();
  const t0 = performance.now();
  while (seq < ROWS) {
    const t = performance.now();
    txn();
    txnMs.push(performance.now() - t);
    await new Promise((r) => setImmediate(r)); // let the loop (and its delay monitor) run between transactions
  }
  const secs = (performance.now() - t0) / 1000;
  const loop = stop();
  const bytes = wchar() - w0;
  db.close();
  return { rate: ROWS / secs, loop, bytesPerRow: bytes / ROWS, txnP99: pct(txnMs, 99), txnMax: Math.max(...txnMs) };
}

/** The outbox: SampleBatches of BATCH samples, enough writes in flight to fill a group commit. */
async function outbox(dir: string) {
  const ctx = { ...tempContext('gw-bench'), gateway: { id: 'gw-bench', dataDir: dir } };
  const box = createOutbox(outboxSchema.parse({ commitRows: TXN, commitInterval: '50ms', maxBytes: '4GB' }), ctx);
  await box.start();
  const inFlight = Math.ceil((TXN * 1.5) / BATCH);
  const stop = loopMonitor();
  const w0 = wchar();
  const t0 = performance.now();
  let written = 0;
  const writer = async () => {
    while (written < ROWS) {
      const start = written;
      written += BATCH;
      await box.writeSamples(numberBatch('plc1', start, BATCH));
    }
  };
  await Promise.all(Array.from({ length: inFlight }, writer));
  const secs = (performance.now() - t0) / 1000;
  const loop = stop();
  const bytes = wchar() - w0;
  const s = box.stats();
  await box.stop(5000);
  return { rate: ROWS / secs, loop, bytesPerRow: bytes / ROWS, commits: s.commits, maxCommitMs: s.maxCommitMs, checkpoints: s.checkpoints, maxCheckpointMs: s.maxCheckpointMs };
}

/**
 * Disk bytes per tag at a steady paced rate, as bench:e2e runs it: PACED_SOURCES sources each
 * writing a batch of PACED_TAGS float32 values every PACED_MS, at most 64 writes in flight (the
 * router's bound), and a sink that reads and confirms every 20 ms. The ceiling is the values
 * themselves: 4 bytes a tag.
 */
const PACED_SOURCES = Number(process.env.BENCH_PACED_SOURCES ?? 100);
const PACED_TAGS = Number(process.env.BENCH_PACED_TAGS ?? 50);
const PACED_MS = Number(process.env.BENCH_PACED_MS ?? 100);
const PACED_S = Number(process.env.BENCH_PACED_SECONDS ?? 20);
async function paced(dir: string) {
  const ctx = { ...tempContext('gw-bench'), gateway: { id: 'gw-bench', dataDir: dir } };
  const box = createOutbox(outboxSchema.parse({ path: 'paced.db', maxBytes: '4GB', ...(JSON.parse(process.env.BENCH_OUTBOX ?? '{}') as object) }), ctx);
  const cur = box.cursor('sink');
  await box.start();
  const tags = Array.from({ length: PACED_TAGS }, (_, j) => `sensor_${String(j).padStart(3, '0')}`);
  const inFlight = new Set<Promise<void>>();
  let tagsWritten = 0;
  let skipped = 0;
  let stop = false;
  let pos = cur.rewind();
  const sink = setInterval(() => {
    for (;;) {
      const recs = cur.read(pos, 1000);
      if (recs.length === 0) break;
      pos = recs.at(-1)!.seq;
      cur.ack(pos, recs.length);
    }
  }, 20);
  const poll = async (i: number) => {
    let next = performance.now();
    while (!stop) {
      next += PACED_MS;
      if (inFlight.size >= 64) skipped++;
      else {
        const ts = Date.now();
        const p = box.writeSamples({ source: `dev${String(i).padStart(3, '0')}`, receivedAt: ts, samples: tags.map((tag, j) => ({ source: `dev${String(i).padStart(3, '0')}`, tag, ts, value: Math.fround(50 + 10 * Math.sin(ts / 1000 + j + i)), quality: 'good' as const })) });
        inFlight.add(p);
        p.then(() => { inFlight.delete(p); tagsWritten += PACED_TAGS; }, () => inFlight.delete(p));
      }
      await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
    }
  };
  const pollers = Array.from({ length: PACED_SOURCES }, (_, i) => poll(i));
  await new Promise((r) => setTimeout(r, 3000)); // warm-up: the file reaches its steady size
  const w0 = writeBytes();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const n0 = tagsWritten;
  const k0 = box.stats().commits;
  const p0 = box.stats().checkpoints;
  await new Promise((r) => setTimeout(r, PACED_S * 1000));
  const secs = (performance.now() - t0) / 1000;
  const n = tagsWritten - n0;
  const bytes = writeBytes() - w0;
  const cpu = process.cpuUsage(c0);
  const s = box.stats();
  stop = true;
  await Promise.all(pollers);
  clearInterval(sink);
  await box.stop(5000);
  return { tagsPerS: n / secs, bytesPerTag: bytes / n, cpuPerM: ((cpu.user + cpu.system) / 1e6 / n) * 1e6, commitsPerS: (s.commits - k0) / secs, checkpointsPerS: (s.checkpoints - p0) / secs, skipped, fileBytes: s.fileBytes };
}

/** End to end: written into the outbox while the MQTT sink publishes JSON batches with QoS 1; done when every PUBACK is in. */
async function endToEnd(dir: string, run: number) {
  const n = Math.min(ROWS, 300_000);
  const ctx = { ...tempContext('gw-bench'), gateway: { id: 'gw-bench', dataDir: dir } };
  const broker = new TestBroker();
  await broker.start();
  let published = 0;
  broker.onPublish = () => { published++; };
  const box = createOutbox(outboxSchema.parse({ path: `e2e-${run}.db`, commitRows: TXN, maxBytes: '4GB' }), ctx);
  const sink = createSink(sinkSchema.parse({ id: 'mqtt', type: 'mqtt', url: broker.url, qos: 1, batchSize: Number(process.env.BENCH_SINK_BATCH ?? 1000), maxInFlight: 16 }), box, ctx);
  await box.start();
  await sink.start();
  const stop = loopMonitor();
  const t0 = performance.now();
  let written = 0;
  const writer = async () => {
    while (written < n) {
      const start = written;
      written += BATCH;
      await box.writeSamples(numberBatch(`plc${(start / BATCH) % 4}`, start, BATCH));
    }
  };
  await Promise.all(Array.from({ length: 50 }, writer));
  const acceptedSecs = (performance.now() - t0) / 1000;
  while ((sink.probe().details?.sent as number) < n) await new Promise((r) => setTimeout(r, 5));
  const secs = (performance.now() - t0) / 1000;
  const loop = stop();
  const s = box.stats();
  await sink.stop(2000);
  await box.stop(2000);
  await broker.stop();
  return { rate: n / secs, acceptedRate: n / acceptedSecs, loop, messages: published, n, maxCommitMs: s.maxCommitMs };
}

const f = (x: number) => Math.round(x).toLocaleString('en-US');
const ms = (x: number) => x.toFixed(1);

const dir = tempContext('gw-bench');
try {
  console.log(`outbox benchmark: ${f(ROWS)} samples, ${BATCH} per batch, ${TXN} rows per transaction; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  const pc = await paced(dir.dir);
  console.log(`paced ${PACED_SOURCES} sources x ${PACED_TAGS} float32 tags every ${PACED_MS} ms, ${PACED_S} s: ${f(pc.tagsPerS)} tags/s   disk written ${pc.bytesPerTag.toFixed(2)} B/tag (the values alone: 4; ratio ${(pc.bytesPerTag / 4).toFixed(2)}x)   CPU ${pc.cpuPerM.toFixed(2)} s per 1M tags (outbox, writer thread and this loop)   ${pc.commitsPerS.toFixed(1)} commits/s, ${pc.checkpointsPerS.toFixed(2)} checkpoints/s, file ${f(pc.fileBytes)} B, polls skipped (64 writes in flight) ${pc.skipped}`);
  if (process.env.BENCH_ONLY === 'paced') process.exit(0);
  const r0 = await raw(dir.dir, true);
  console.log(`raw better-sqlite3, default   ${f(r0.rate)} rows/s   loop p99 ${ms(r0.loop.p99)} ms (max ${ms(r0.loop.max)})   txn p99 ${ms(r0.txnP99)} ms max ${ms(r0.txnMax)} ms (auto-checkpoint inside commits)   written ${f(r0.bytesPerRow)} B/row`);
  const r = await raw(dir.dir, false);
  console.log(`raw, no checkpoint (ceiling)  ${f(r.rate)} rows/s   loop p99 ${ms(r.loop.p99)} ms (max ${ms(r.loop.max)})   txn p99 ${ms(r.txnP99)} ms max ${ms(r.txnMax)} ms (WAL only grows)   written ${f(r.bytesPerRow)} B/row`);
  const o = await outbox(dir.dir);
  console.log(`outbox (group commit)         ${f(o.rate)} rows/s   loop p99 ${ms(o.loop.p99)} ms (max ${ms(o.loop.max)})   ${o.commits} commits, max ${ms(o.maxCommitMs)} ms; ${o.checkpoints} checkpoints (writer thread), max ${ms(o.maxCheckpointMs)} ms   written ${f(o.bytesPerRow)} B/row`);
  const runs = [];
  for (let i = 0; i < E2E_RUNS; i++) {
    const e = await endToEnd(dir.dir, i);
    runs.push(e);
    console.log(`end to end MQTT QoS 1 (#${i + 1})   ${f(e.rate)} records/s delivered (PUBACKed)   accepted ${f(e.acceptedRate)}/s   loop p99 ${ms(e.loop.p99)} ms (max ${ms(e.loop.max)})   ${f(e.n)} records in ${f(e.messages)} messages; writer thread commit max ${ms(e.maxCommitMs)} ms`);
  }
  const median = (xs: number[]) => pct(xs, 50);
  const e = { rate: median(runs.map((x) => x.rate)), loop: { p99: median(runs.map((x) => x.loop.p99)) } };
  const worst = { rate: Math.min(...runs.map((x) => x.rate)), p99: Math.max(...runs.map((x) => x.loop.p99)) };
  console.log('');
  console.log(`ratio outbox / raw ceiling:   ${(o.rate / r.rate).toFixed(2)}x   (target >= 0.5x); vs raw with auto-checkpoint ${(o.rate / r0.rate).toFixed(2)}x`);
  console.log(`ratio end-to-end / raw:       ${(e.rate / r.rate).toFixed(2)}x   median of ${runs.length}: ${f(e.rate)} records/s, worst ${f(worst.rate)}   (target >= 100,000 records/s: ${e.rate >= 100_000 ? 'met' : 'NOT met'})`);
  console.log(`event-loop p99 outbox / e2e:  ${ms(o.loop.p99)} / ${ms(e.loop.p99)} ms (e2e median; worst ${ms(worst.p99)})   (target < 20 ms)`);
  console.log(`load average (1 min) at the end: ${loadavg()[0]!.toFixed(2)} on ${availableParallelism()} cores (the figures depend on what else runs)`);
} finally {
  dir.cleanup();
}
