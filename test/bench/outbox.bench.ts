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
  console.log(`outbox benchmark: ${f(ROWS)} samples, ${BATCH} per batch, ${TXN} rows per transaction\n`);
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
