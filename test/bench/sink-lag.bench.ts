// npm run bench:sink-lag [-- MINUTES] — one dead upstream must not hold the others hostage.
// A Modbus simulator read by the real driver (50 registers every 100 ms: 500 samples/s), the
// outbox, a file sink, a live MQTT sink (aedes in process) and a dead MQTT sink (nothing listens)
// with a lag bound. Phase A (the ceiling, same run): every sink alive for one minute. Phase B: the
// dead sink for MINUTES (default 10). For both: live-sink latency (sample time to arrival at the
// broker / in the file) p50, p99, max; skipped polls; the dead sink's lag drops; the ratio B/A.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { startModbusSimulator } from '../../drivers/modbus/sim/server.ts';
import { simConfig } from '../support/modbus/testing.ts';
import { silentLogger } from '../../src/log.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { TestBroker } from '../support/mqtt/test-broker.ts';
import { freePort } from '../support/wait.ts';
import { tempDir, testConfig, testDrivers } from '../integration/health-testkit.ts';

const MINUTES = Number(process.argv[2] ?? process.env.BENCH_MINUTES ?? 10);
const BASE_MINUTES = Number(process.env.BENCH_BASE_MINUTES ?? 1);
const REGS = 50;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
}

/** Latencies of records as they arrive (sample ts to now): a reservoir of 200k, the exact max, and a per-minute window. */
class Lat {
  xs: number[] = [];
  n = 0;
  max = 0;
  win: number[] = [];
  add(ms: number): void {
    this.n++;
    if (ms > this.max) this.max = ms;
    if (this.xs.length < 200_000) this.xs.push(ms);
    else {
      const j = Math.floor(Math.random() * this.n);
      if (j < 200_000) this.xs[j] = ms;
    }
    if (this.win.length < 100_000) this.win.push(ms);
  }
  /** p50 / p99 / max of what arrived since the last call (for the progress lines) */
  window(): string {
    const w = this.win;
    this.win = [];
    let m = 0;
    for (const x of w) if (x > m) m = x;
    return `${pct(w, 50)}/${pct(w, 99)}/${m}`;
  }
  take(): { n: number; p50: number; p99: number; max: number } {
    const r = { n: this.n, p50: pct(this.xs, 50), p99: pct(this.xs, 99), max: this.max };
    this.xs = [];
    this.n = 0;
    this.max = 0;
    this.win = [];
    return r;
  }
}

const tmp = tempDir('fg-bench-lag-');
const simulator = await startModbusSimulator(simConfig({
  devices: [{ unit: 1, registers: Array.from({ length: REGS }, (_, a) => ({ area: 'holding', address: a, value: { kind: 'ramp', min: 0, max: 30000, period: '1m' } })) }],
}));
const broker = new TestBroker();
await broker.start();
const deadPort = await freePort();
const filePath = join(tmp.dir, 'hist.jsonl');
const cfg = testConfig({
  gateway: { id: 'bench-lag', dataDir: join(tmp.dir, 'data') },
  sources: [{
    type: 'modbus', id: 'plc', interval: '100ms', timeout: '500ms',
    connection: { transport: 'tcp', host: '127.0.0.1', port: simulator.port },
    devices: [{ unit: 1, tags: Array.from({ length: REGS }, (_, a) => ({ name: `r${a}`, area: 'holding', address: a })) }],
  }],
  sinks: [
    { type: 'file', id: 'hist', path: filePath, maxBytes: '10GB' },
    { type: 'mqtt', id: 'local', url: broker.url },
    { type: 'mqtt', id: 'cloud', url: `mqtt://127.0.0.1:${deadPort}`, maxLag: { records: 100_000 }, backoff: { initial: '500ms', max: '5s' }, connectTimeout: '1s' },
  ],
  health: { port: 0 },
}, tmp.dir);

// the "cloud" is alive in phase A: a second broker on the port the dead sink uses
const cloudBroker = new TestBroker();
cloudBroker.port = deadPort;
await cloudBroker.start();

const mqttLat = new Lat();
const fileLat = new Lat();
broker.onPublish = (m) => {
  const now = Date.now();
  for (const r of (JSON.parse(m.payload.toString()) as { records: { kind: string; ts: number }[] }).records) if (r.kind === 'sample') mqttLat.add(now - r.ts);
  broker.received.length = 0; // keep memory flat over a long run
};
cloudBroker.onPublish = () => { cloudBroker.received.length = 0; };

// the file sink's latency: new lines read every 20 ms (resolution 20 ms)
let fileOffset = 0;
let partial = '';
const buf = Buffer.alloc(4 << 20);
const fileTimer = setInterval(() => {
  let size: number;
  try { size = statSync(filePath).size; } catch { return; }
  if (size <= fileOffset) return;
  const fd = openSync(filePath, 'r');
  try {
    while (fileOffset < size) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, size - fileOffset), fileOffset);
      if (n <= 0) break;
      fileOffset += n;
      const text = partial + buf.toString('utf8', 0, n);
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      const now = Date.now();
      for (const l of lines) {
        const i = l.indexOf('"ts":');
        if (i >= 0 && l.includes('"kind":"sample"')) fileLat.add(now - Number(l.slice(i + 5, l.indexOf(',', i))));
      }
    }
  } finally {
    closeSync(fd);
  }
}, 20);

const p = new Pipeline({ config: cfg, baseDir: tmp.dir, log: silentLogger(), drivers: testDrivers });
await p.start();

async function counter(name: 'overruns' | 'dropped' | 'sent', labels: Record<string, string>): Promise<number> {
  const m = name === 'overruns' ? p.metrics.overruns : name === 'dropped' ? p.metrics.dropped : p.metrics.sent;
  let n = 0;
  for (const v of (await m.get()).values) if (Object.entries(labels).every(([k, w]) => (v.labels as Record<string, unknown>)[k] === w)) n += v.value;
  return n;
}

async function phase(name: string, minutes: number): Promise<{ mqtt: ReturnType<Lat['take']>; file: ReturnType<Lat['take']>; overruns: number; late: number; polls: number; lag: number; accepted: number }> {
  mqttLat.take();
  fileLat.take();
  const o0 = await counter('overruns', { stage: 'source.plc', reason: 'full' });
  const late0 = await counter('overruns', { stage: 'source.plc', reason: 'late' });
  const l0 = await counter('dropped', { stage: 'sink.cloud', reason: 'lag' });
  const a0 = p.outbox.stats().accepted;
  const end = Date.now() + minutes * 60_000;
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, Math.min(60_000, end - Date.now())));
    const cloud = p.sinks.find((s) => s.name === 'sink.cloud')!.probe();
    console.log(`  ${name} ${new Date().toISOString().slice(11, 19)} accepted ${p.outbox.stats().accepted - a0}, rows ${p.outbox.stats().rows}, cloud backlog ${(cloud.details as { backlog: number }).backlog}, cloud lag drops ${(await counter('dropped', { stage: 'sink.cloud', reason: 'lag' })) - l0}, skipped polls full/late ${(await counter('overruns', { stage: 'source.plc', reason: 'full' })) - o0}/${(await counter('overruns', { stage: 'source.plc', reason: 'late' })) - late0}, latency ms p50/p99/max MQTT ${mqttLat.window()} file ${fileLat.window()}, load ${loadavg()[0]!.toFixed(1)}`);
  }
  return {
    mqtt: mqttLat.take(), file: fileLat.take(),
    overruns: (await counter('overruns', { stage: 'source.plc', reason: 'full' })) - o0,
    late: (await counter('overruns', { stage: 'source.plc', reason: 'late' })) - late0,
    polls: Math.round((minutes * 60_000) / 100),
    lag: (await counter('dropped', { stage: 'sink.cloud', reason: 'lag' })) - l0,
    accepted: p.outbox.stats().accepted - a0,
  };
}

await new Promise((r) => setTimeout(r, 3_000)); // connected, first polls made
console.log(`phase A: every sink alive, ${BASE_MINUTES} min (load ${loadavg().map((x) => x.toFixed(1)).join(' ')})`);
const a = await phase('A', BASE_MINUTES);
await cloudBroker.stop();
console.log(`phase B: sink.cloud dead, ${MINUTES} min`);
const b = await phase('B', MINUTES);
clearInterval(fileTimer);
await p.stop(10_000);
await broker.stop();
await simulator.stop();
tmp.cleanup();

const row = (n: string, x: typeof a): string =>
  `| ${n} | ${x.accepted} | ${x.mqtt.p50} / ${x.mqtt.p99} / ${x.mqtt.max} | ${x.file.p50} / ${x.file.p99} / ${x.file.max} | ${x.overruns} / ${x.late} of ~${x.polls} | ${x.lag} |`;
console.log('\n| phase | records accepted | live MQTT latency ms p50 / p99 / max | file latency ms p50 / p99 / max (20 ms resolution) | skipped polls: channel full / late | cloud lag drops |');
console.log('|---|---|---|---|---|---|');
console.log(row(`A: all alive, ${BASE_MINUTES} min`, a));
console.log(row(`B: cloud dead, ${MINUTES} min`, b));
console.log(`ratio B/A: MQTT p50 ${(b.mqtt.p50 / Math.max(1, a.mqtt.p50)).toFixed(2)}, p99 ${(b.mqtt.p99 / Math.max(1, a.mqtt.p99)).toFixed(2)}; file p50 ${(b.file.p50 / Math.max(1, a.file.p50)).toFixed(2)}, p99 ${(b.file.p99 / Math.max(1, a.file.p99)).toFixed(2)}`);
console.log(`load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
