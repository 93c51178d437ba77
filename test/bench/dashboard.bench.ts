// npm run bench:dashboard — what the tag table, tag history and the dashboard's API cost.
//
// 10,000 tags (100 sources x 100 tags) updating at 1 Hz, fed into the tag store with history on
// (the defaults: 1 s buckets over 2 min, 10 s buckets over 1 h), served by the real health HTTP
// server to a page-like poller in a child process (every second /api/status-sized work is left
// out: /api/tags?limit=300&spark=60 each second, /api/series every 5 s, one tag's trend every 2 s,
// plus a script reading all 10,000 tags every 10 s). Reported:
//   - CPU of the feed + API per second of wall time, as % of one core (target < 3%);
//   - the ceiling: a plain loop writing the same 10,000 values into a Float64Array, and the ratio;
//   - the memory of one hour of history for 10,000 tags, filled in accelerated time, measured
//     after a full GC (heap + array buffers), against the computed bound.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { silentLogger } from '../../src/log.ts';
import type { Sample, SampleBatch } from '../../src/core/sample.ts';
import { healthApi } from '../../src/health/api.ts';
import { HealthServer } from '../../src/health/server.ts';
import { Taps } from '../../src/health/taps.ts';
import { DEFAULT_TAG_STORE, TagStore } from '../../src/health/tags.ts';
import type { HealthView } from '../../src/health/view.ts';

const SOURCES = 100;
const TAGS = 100;
const N = SOURCES * TAGS;
const RUN_S = Number(process.env.RUN_S ?? 20);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (npm run bench:dashboard does)');

function batches(t: number): SampleBatch[] {
  const out: SampleBatch[] = [];
  for (let s = 0; s < SOURCES; s++) {
    const samples = new Array<Sample>(TAGS);
    for (let k = 0; k < TAGS; k++) samples[k] = { source: `s${s}`, tag: `dev${k % 4}.tag${k}`, ts: t, value: Math.sin(t / 10_000 + k) * 50 + s, quality: 'good' as const };
    out.push({ source: `s${s}`, samples, receivedAt: t });
  }
  return out;
}

function mem(): number {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

// ---- 1. memory of one hour of history for 10,000 tags (accelerated time) -----------------------
{
  const prepared = batches(0); // reused: only ts/value change
  const before = mem();
  const store = new TagStore();
  const start = Date.now() - 3_600_000;
  const t0 = performance.now();
  for (let sec = 0; sec <= 3600; sec++) {
    const t = start + sec * 1000;
    for (const b of prepared) {
      b.receivedAt = t;
      for (const s of b.samples) { s.ts = t; s.value = Math.sin(sec / 10 + s.tag.length); }
      store.record(b);
    }
  }
  const fillMs = performance.now() - t0;
  const after = mem();
  const bound = (Math.ceil(DEFAULT_TAG_STORE.fine.span / DEFAULT_TAG_STORE.fine.resolution) + Math.ceil(DEFAULT_TAG_STORE.coarse.span / DEFAULT_TAG_STORE.coarse.resolution)) * 16;
  console.log(`memory, one hour of history for ${N} tags: ${((after - before) / 1e6).toFixed(1)} MB measured (heap + array buffers after GC), ` +
    `${(store.historyBytes() / 1e6).toFixed(1)} MB of it bucket arrays (${bound} B per tag), ${((after - before - store.historyBytes()) / N).toFixed(0)} B per tag for the entry`);
  console.log(`filling that hour in accelerated time: ${(3601 * N / 1e6).toFixed(1)} M samples in ${(fillMs / 1000).toFixed(1)} s = ${(3601 * N / fillMs / 1000).toFixed(2)} M samples/s`);
  const h = store.history('s0', 'dev0.tag0', start, start + 3_600_000)!;
  console.log(`one tag's hour: ${h.t.length} buckets (coarse ${DEFAULT_TAG_STORE.coarse.resolution / 1000} s + fine ${DEFAULT_TAG_STORE.fine.resolution / 1000} s for the last ${DEFAULT_TAG_STORE.fine.span / 1000} s)`);
}

// ---- 2. ceiling: a plain loop writing the same values ------------------------------------------
let ceilingNsPerSample: number;
{
  const arr = new Float64Array(N * 4);
  const list = batches(Date.now());
  let rounds = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 1_000) {
    let i = 0;
    for (const b of list) for (const s of b.samples) { const v = s.value as number; arr[i] = v; arr[i + 1] = Math.min(arr[i + 1]!, v); arr[i + 2] = Math.max(arr[i + 2]!, v); i += 4; }
    rounds++;
  }
  ceilingNsPerSample = (performance.now() - t0) * 1e6 / (rounds * N);
}
let storeNsPerSample: number;
{
  const store = new TagStore();
  const list = batches(Date.now());
  for (const b of list) store.record(b); // the first round creates the entries and their arrays
  let rounds = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 1_000) {
    const t = Date.now() + rounds * 1000;
    for (const b of list) {
      b.receivedAt = t;
      for (const s of b.samples) s.ts = t;
      store.record(b);
    }
    rounds++;
  }
  storeNsPerSample = (performance.now() - t0) * 1e6 / (rounds * N);
}
console.log(`per sample: tag store ${storeNsPerSample.toFixed(0)} ns, plain Float64Array loop (ceiling) ${ceilingNsPerSample.toFixed(1)} ns, ratio ${(storeNsPerSample / ceilingNsPerSample).toFixed(1)}x`);

// ---- 3. real time: 10,000 tags at 1 Hz, the API served over HTTP to a polling page --------------
{
  const taps = new Taps({ history: DEFAULT_TAG_STORE });
  const view = { taps, config: { models: [] } } as unknown as HealthView;
  const server = new HealthServer({
    host: '127.0.0.1', port: 0, log: silentLogger(), stage: 'health',
    routes: {
      healthz: () => ({ ok: true, body: {} }), readyz: () => ({ ok: true, body: {} }),
      metrics: async () => ({ contentType: 'text/plain', body: '' }), status: async () => ({}),
      api: (req) => healthApi(view, req),
    },
  });
  await server.start();
  // warm: the first second declares every tag
  for (const b of batches(Date.now())) taps.tags.record(b);
  const poller = spawn(process.execPath, ['-e', `
    const base = ${JSON.stringify(server.url)};
    let n = 0, bytes = 0, full = 0;
    async function get(p) { const r = await fetch(base + p); const t = await r.text(); bytes += t.length; return t; }
    setInterval(async () => {
      n++;
      await get('/api/tags?limit=300&spark=60');
      if (n % 5 === 0) await get('/api/series?since=1h');
      if (n % 2 === 0) await get('/api/tags/s3/dev1.tag5/history?since=15m');
      if (n % 10 === 0) { const t = await get('/api/tags'); full = t.length; }
    }, 1000);
    process.on('SIGTERM', () => { console.log(JSON.stringify({ polls: n, bytes, full })); process.exit(0); });
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  let pollerOut = '';
  poller.stdout.on('data', (d: Buffer) => { pollerOut += d.toString(); });

  let feedUs = 0;
  let deviceUs = 0;
  let ticks = 0;
  const list = batches(Date.now());
  const used = (): number => { const c = process.cpuUsage(); return c.user + c.system; };
  const cpu0 = used();
  const wall0 = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      // the stand-in devices: new values and timestamps, in place (their CPU is measured and left out)
      const c0 = used();
      const t = Date.now();
      for (const b of list) {
        b.receivedAt = t;
        for (const smp of b.samples) { smp.ts = t; smp.value = Math.sin(t / 10_000 + smp.tag.length) * 50; }
      }
      const c1 = used();
      for (const b of list) taps.tags.record(b);
      const c2 = used();
      deviceUs += c1 - c0;
      feedUs += c2 - c1;
      if (++ticks >= RUN_S) {
        clearInterval(timer);
        resolve();
      }
    }, 1000);
  });
  const wallS = (performance.now() - wall0) / 1000;
  const cpuUs = used() - cpu0 - deviceUs;
  const exited = new Promise((r) => poller.once('exit', r));
  poller.kill('SIGTERM');
  await exited;
  await server.stop();
  const cpuMs = cpuUs / 1000;
  const p = JSON.parse(pollerOut.trim() || '{}') as { polls?: number; bytes?: number; full?: number };
  console.log(`real time, ${N} tags at 1 Hz for ${wallS.toFixed(1)} s with a page polling (${p.polls} polls, ${((p.bytes ?? 0) / 1e6).toFixed(1)} MB served, the full /api/tags is ${((p.full ?? 0) / 1e6).toFixed(2)} MB):`);
  console.log(`  feed into the tag store: ${(feedUs / 1000 / ticks).toFixed(1)} ms CPU per second = ${(feedUs / 1000 / ticks / 10).toFixed(2)}% of a core`);
  console.log(`  feed + API + HTTP (all CPU of the process but the stand-in devices' ${(deviceUs / 1000 / ticks).toFixed(1)} ms/s): ${(cpuMs / wallS).toFixed(1)} ms per second = ${(cpuMs / wallS / 10).toFixed(2)}% of a core (target < 3%)`);
}
