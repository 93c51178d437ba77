// npm run bench:wire — the cost of the wire encoders per value, against their ceilings in the same run.
//
// 1. float32Text (the shortest decimal that reads back as the same float32) against String(v) and
//    JSON.stringify(v) of the same values: sensor-like float32 values (sines, as the e2e simulator
//    makes) and uniformly random float32 bit patterns.
// 2. The compact JSON message of a 50-tag poll (10-character names) with the values flagged float32
//    (shortest text) and unflagged (double text), and a Sparkplug DDATA of the same poll, per tag.
// Figures are CPU ns per value (process.cpuUsage: the machine is shared, wall time would count the
// others' turns), median of 5 passes after a warm-up pass; read the ratios.
import { loadavg } from 'node:os';
import type { OutboxRecord } from '../../src/outbox/index.ts';
import { float32Text } from '../../src/sinks/float32-text.ts';
import { compactSamplesText } from '../../src/sinks/json.ts';
import { SparkplugSession, encodePayload } from '../../src/sinks/mqtt/sparkplug.ts';

const N = Number(process.env.BENCH_VALUES ?? 1_000_000);
let sink = 0; // keeps the results alive

function time(fn: () => void, count: number): number {
  fn(); // warm-up: compiled before it is measured
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.cpuUsage();
    fn();
    const d = process.cpuUsage(t0);
    runs.push(((d.user + d.system) * 1000) / count);
  }
  return runs.sort((a, b) => a - b)[2]!;
}

function values(kind: 'sensor' | 'bits'): Float64Array {
  const out = new Float64Array(N);
  const b = new DataView(new ArrayBuffer(4));
  for (let i = 0; i < N; i++) {
    if (kind === 'sensor') out[i] = Math.fround(50 + (10 + (i % 50)) * Math.sin(i / 977));
    else {
      do {
        b.setUint32(0, (Math.random() * 2 ** 32) >>> 0);
        out[i] = b.getFloat32(0);
      } while (!Number.isFinite(out[i]!));
    }
  }
  return out;
}

console.log(`bench:wire ${N.toLocaleString('en-US')} values a pass, median of 5; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log('\n| values | String(v) ns | JSON.stringify(v) ns | float32Text(v) ns | ratio to String | chars String -> float32Text |');
console.log('|---|---|---|---|---|---|');
for (const kind of ['sensor', 'bits'] as const) {
  const vs = values(kind);
  const str = time(() => { for (let i = 0; i < N; i++) sink += String(vs[i]).length; }, N);
  const json = time(() => { for (let i = 0; i < N; i++) sink += JSON.stringify(vs[i]).length; }, N);
  const f32 = time(() => { for (let i = 0; i < N; i++) sink += float32Text(vs[i]!).length; }, N);
  let a = 0;
  let b = 0;
  for (let i = 0; i < N; i++) { a += String(vs[i]).length; b += float32Text(vs[i]!).length; }
  console.log(`| ${kind} | ${str.toFixed(0)} | ${json.toFixed(0)} | ${f32.toFixed(0)} | ${(f32 / str).toFixed(2)} | ${(a / N).toFixed(1)} -> ${(b / N).toFixed(1)} |`);
}

// ---- whole messages: one 50-tag poll ------------------------------------------------------------
const TAGS = 50;
const POLLS = Math.max(1, Math.floor(N / TAGS / 5));
function poll(p: number, float32: boolean): OutboxRecord[] {
  return Array.from({ length: TAGS }, (_, j) => {
    const seq = 1_000_000 + p * TAGS + j;
    const sample: Extract<OutboxRecord, { kind: 'sample' }>['sample'] = {
      source: 'dev000', tag: `d.sensor_${String(j).padStart(3, '0')}`, ts: 1764500000000 + p * 100, value: Math.fround(50 + (10 + j) * Math.sin(p / 97 + j)), quality: 'good',
    };
    if (float32) sample.float32 = true;
    return { kind: 'sample', seq, id: `bench:mfx3k2:${seq}`, sample };
  });
}
const flagged = Array.from({ length: POLLS }, (_, p) => poll(p, true));
const plain = Array.from({ length: POLLS }, (_, p) => poll(p, false));
const count = POLLS * TAGS;
const bytes = (recs: OutboxRecord[][], enc: (r: OutboxRecord[]) => string | Uint8Array) =>
  recs.reduce((n, r) => { const x = enc(r); return n + (typeof x === 'string' ? Buffer.byteLength(x) : x.length); }, 0) / count;
const compact = (r: OutboxRecord[]) => compactSamplesText('bench', 'dev000', 'bench:mfx3k2:', r, new Map());
const sp = new SparkplugSession({ groupId: 'bench', edgeNodeId: 'bench', qos: 1 });
sp.newSession();
sp.nodeBirth();
sp.encode(flagged[0]!); // births
const lean = new SparkplugSession({ groupId: 'bench', edgeNodeId: 'bench', qos: 1, timestamps: 'per-payload' });
lean.newSession();
lean.nodeBirth();
lean.encode(flagged[0]!);
const ddata = (s: SparkplugSession) => (r: OutboxRecord[]) => s.encode(r).messages.at(-1)!.payload as Uint8Array;
// the library's raw encoder on the same metrics (alias, timestamp, datatype, value): what DDATA cost before, without recordId
const library = (r: OutboxRecord[]) => encodePayload({ timestamp: Date.now(), seq: 1, metrics: r.map((x, j) => ({ alias: 200 + j, timestamp: (x as { sample: { ts: number } }).sample.ts, type: 'Float' as const, value: (x as { sample: { value: number } }).sample.value })) });

console.log(`\n| ${TAGS}-tag poll, per tag | ns | payload B |`);
console.log('|---|---|---|');
const rows: [string, OutboxRecord[][], (r: OutboxRecord[]) => string | Uint8Array][] = [
  ['compact JSON, double text (unflagged)', plain, compact],
  ['compact JSON, float32 shortest text', flagged, compact],
  ['Sparkplug DDATA (timestamps per metric)', flagged, ddata(sp)],
  ['Sparkplug DDATA (timestamps: per-payload)', flagged, ddata(lean)],
  ['sparkplug-payload encodePayload, same metrics + datatype (raw library call)', flagged, library],
];
for (const [name, recs, enc] of rows) {
  const ns = time(() => { for (const r of recs) { const x = enc(r); sink += typeof x === 'string' ? x.length : x.length; } }, count);
  console.log(`| ${name} | ${ns.toFixed(0)} | ${bytes(recs, enc).toFixed(1)} |`);
}
console.log(`(load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${sink > 0 ? 'ok' : ''})`);
