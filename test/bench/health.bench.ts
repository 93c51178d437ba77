// npm run bench:health — what the health machinery costs with 100 sources registered.
//
// The same pipeline (100 ticker sources sending back to back -> router -> SQLite outbox) runs
// alternately with health disabled (the ceiling) and enabled (probes on their default adaptive
// intervals, watchdog, event-loop monitor, HTTP server, /metrics scraped every second), in the
// same process and run. Reported: throughput of each and their ratio, the CPU the probes and the
// watchdog take (timed around every run), and the CPU one /metrics scrape takes.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Counter } from 'prom-client';
import { silentLogger } from '../../src/log.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { get, tempDir, testConfig, testDrivers } from '../integration/health-testkit.ts';

const SOURCES = 100;
const TAGS = 50;
const PHASE_MS = Number(process.env.PHASE_MS ?? 6_000);
const ROUNDS = Number(process.env.ROUNDS ?? 4);
const WARMUP_MS = 1_500;

const tmp = tempDir('fg-bench-health-');

async function routed(c: Counter<'stage'>): Promise<number> {
  return (await c.get()).values.find((v) => v.labels.stage === 'router')?.value ?? 0;
}

interface Phase { samplesPerS: number; probeCpuMs: number; probeCalls: number; watchdogCpuMs: number; scrapes: number; wallMs: number }

async function phase(health: boolean, n: number): Promise<Phase> {
  const dataDir = join(tmp.dir, `p${n}`);
  const cfg = testConfig({
    gateway: { id: 'bench', dataDir },
    sources: Array.from({ length: SOURCES }, (_, i) => ({ type: 'ticker', id: `s${i}`, interval: 0, tags: TAGS })),
    // short group commits so the pipeline is bound by CPU, where health would show, not by the commit cadence
    outbox: { commitInterval: '5ms' },
    health: { enabled: health, port: 0 },
  }, tmp.dir);
  const p = new Pipeline({ config: cfg, baseDir: tmp.dir, log: silentLogger(), drivers: testDrivers });
  let probeCpuMs = 0;
  let watchdogCpuMs = 0;
  if (p.health) {
    // time every synchronous run of the scheduler and the watchdog
    const probes = p.health.probes;
    const tick = probes.tick.bind(probes);
    probes.tick = () => { const t = performance.now(); tick(); probeCpuMs += performance.now() - t; };
    const wd = p.watchdog!;
    const check = wd.check.bind(wd);
    wd.check = () => { const t = performance.now(); const r = check(); watchdogCpuMs += performance.now() - t; return r; };
  }
  await p.start();
  let scrapes = 0;
  let scraper: NodeJS.Timeout | undefined;
  if (p.health) {
    const url = `${p.health.url}/metrics`;
    scraper = setInterval(() => void get(url).then(() => { scrapes++; }), 1_000);
  }
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const probeCalls0 = p.health?.probes.probeCount ?? 0;
  probeCpuMs = 0;
  watchdogCpuMs = 0;
  scrapes = 0;
  const r0 = await routed(p.metrics.received);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, PHASE_MS));
  const r1 = await routed(p.metrics.received);
  const wallMs = performance.now() - t0;
  const probeCalls = (p.health?.probes.probeCount ?? 0) - probeCalls0;
  clearInterval(scraper);
  await p.stop(10_000);
  rmSync(dataDir, { recursive: true, force: true });
  return { samplesPerS: ((r1 - r0) / wallMs) * 1000, probeCpuMs, probeCalls, watchdogCpuMs, scrapes, wallMs };
}

/** CPU of one /metrics scrape of a registry holding 100 sources' series, measured alone. */
async function scrapeCost(): Promise<{ cpuMs: number; bytes: number }> {
  const cfg = testConfig({
    gateway: { id: 'bench', dataDir: join(tmp.dir, 'scrape') },
    sources: Array.from({ length: SOURCES }, (_, i) => ({ type: 'ticker', id: `s${i}`, interval: 50, tags: TAGS })),
    health: { port: 0 },
  }, tmp.dir);
  const p = new Pipeline({ config: cfg, baseDir: tmp.dir, log: silentLogger(), drivers: testDrivers });
  await p.start();
  await new Promise((r) => setTimeout(r, 1_000));
  p.health!.probes.refresh();
  const N = 50;
  let bytes = 0;
  const c0 = process.cpuUsage();
  for (let i = 0; i < N; i++) bytes = (await p.metrics.registry.metrics()).length;
  const c = process.cpuUsage(c0);
  await p.stop(5_000);
  // includes the pipeline's own work during the loop, so this is an upper bound
  return { cpuMs: (c.user + c.system) / 1000 / N, bytes };
}

const off: Phase[] = [];
const on: Phase[] = [];
let n = 0;
// the order alternates each round, so a drift over the run (heap growth, other load) favours neither mode
for (let r = 0; r < ROUNDS; r++) {
  if (r % 2 === 0) {
    off.push(await phase(false, n++));
    on.push(await phase(true, n++));
  } else {
    on.push(await phase(true, n++));
    off.push(await phase(false, n++));
  }
}
const scrape = await scrapeCost();
tmp.cleanup();

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const offRate = mean(off.map((p) => p.samplesPerS));
const onRate = mean(on.map((p) => p.samplesPerS));
const spread = (xs: number[]): number => (Math.max(...xs) - Math.min(...xs)) / mean(xs);
const probeShare = mean(on.map((p) => p.probeCpuMs / p.wallMs));
const watchdogShare = mean(on.map((p) => p.watchdogCpuMs / p.wallMs));
const scrapeShare = scrape.cpuMs / 1000; // one scrape per second
const total = probeShare + watchdogShare + scrapeShare;

const pct = (x: number): string => `${(x * 100).toFixed(3)}%`;
console.log(`health benchmark: ${SOURCES} sources x ${TAGS} tags, back to back; ${ROUNDS} rounds of ${PHASE_MS} ms per mode`);
console.log(`  throughput, health disabled (ceiling): ${Math.round(offRate)} samples/s  (runs: ${off.map((p) => Math.round(p.samplesPerS)).join(', ')}; spread ${pct(spread(off.map((p) => p.samplesPerS)))})`);
console.log(`  throughput, health enabled:            ${Math.round(onRate)} samples/s  (runs: ${on.map((p) => Math.round(p.samplesPerS)).join(', ')})`);
console.log(`  ratio enabled/disabled:                ${(onRate / offRate).toFixed(3)}`);
console.log(`  probes: ${Math.round(mean(on.map((p) => (p.probeCalls / p.wallMs) * 1000)))} probe() calls/s, ${pct(probeShare)} of a core`);
console.log(`  watchdog: ${pct(watchdogShare)} of a core`);
console.log(`  /metrics scrape: ${scrape.cpuMs.toFixed(2)} ms CPU each (upper bound), ${scrape.bytes} bytes; at 1 scrape/s ${pct(scrapeShare)} of a core (${on.map((p) => p.scrapes).join(', ')} scrapes during the runs)`);
console.log(`  probes + watchdog + metrics: ${pct(total)} of a core (budget 2%): ${total < 0.02 ? 'OK' : 'OVER BUDGET'}`);
