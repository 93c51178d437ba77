/**
 * npm run bench:modbus — the Modbus driver polling our simulator (in its own process) with
 * 100 devices x 100 tags (50 int16 + 50 float32 each: 150 registers, 2 reads per device),
 * spread over 10 TCP connections of 10 unit ids, one request in flight per connection.
 *
 *  A. ceiling: bare modbus-serial clients (one per connection) issuing the same 200 reads per
 *     round back to back with `await client.readHoldingRegisters()`, no decoding;
 *  A'. the same bare loop on the driver's own link (link.ts, its MBAP wire tcp-port.ts and the
 *     strict answer checks) instead of modbus-serial, awaiting each read, no decoding
 *     (the ceiling for the driver's own overhead: B/A' is what polling and decoding cost);
 *  B. the driver with `interval: 0` (poll back to back): the same reads, decoded into batches;
 *  C. the driver at the target: interval 100 ms (10 Hz), 100,000 samples/s expected.
 *
 * Reports requests/s, samples/s delivered into the channels, latency p50/p99 (per request for
 * A, per poll of 10 devices for B/C), CPU of this process and of the simulator, and the ratios
 * B/A (target >= 0.8), B/A' and C samples/s vs 100,000. BENCH_SECONDS scales each phase (default 8);
 * a 2 s warm-up of each loop runs first (JIT); A and B alternate in BENCH_SLICES (default 4)
 * slices so load from other processes on this shared machine falls on both alike, each slice
 * after a full GC outside the measurement (so neither pays for the other's garbage). The CPU per
 * request ratio is printed beside the rate ratio: it moves far less with the machine's load.
 */
import { spawn } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import ModbusSerial from 'modbus-serial';
import { ModbusSource } from '../../drivers/modbus/source.ts';
import { ModbusLink } from '../../drivers/modbus/link.ts';
import { sourceConfig, sourceContext } from '../support/modbus/testing.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = 10;
const DEVICES_PER_CONNECTION = 10;
const INT_TAGS = 50;
const FLOAT_TAGS = 50;
const TAGS = INT_TAGS + FLOAT_TAGS;
const REGS = INT_TAGS + FLOAT_TAGS * 2;

// ---- simulator in its own process -----------------------------------------------------------

function simJson(): string {
  const registers = [
    ...Array.from({ length: INT_TAGS }, (_, i) => ({ area: 'holding', address: i, type: 'int16', value: { kind: 'ramp', min: -1000, max: 1000, period: '7s' } })),
    ...Array.from({ length: FLOAT_TAGS }, (_, i) => ({ area: 'holding', address: INT_TAGS + i * 2, type: 'float32', value: { kind: 'sine', amplitude: 10, offset: i, period: '5s' } })),
  ];
  const devices = Array.from({ length: CONNECTIONS * DEVICES_PER_CONNECTION }, (_, i) => ({ unit: 1 + (i % DEVICES_PER_CONNECTION), registers }));
  // one register map per unit id: the 10 connections read units 1..10 each
  return JSON.stringify({ type: 'modbus', id: 'bench', port: 0, resolution: 50, devices: devices.slice(0, DEVICES_PER_CONNECTION) });
}

async function startSim(): Promise<{ port: number; pid: number; stop: () => Promise<void> }> {
  const script = fileURLToPath(new URL('../support/modbus/sim-standalone.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, simJson()], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`simulator exited with ${code}`)));
  });
  return {
    port,
    pid: child.pid!,
    stop: async () => {
      child.stdin.end();
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
    },
  };
}

/** user+system CPU seconds of another process, from /proc. */
function procCpu(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const parts = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(parts[11]) + Number(parts[12])) / 100; // utime, stime in clock ticks (100/s)
  } catch {
    return Number.NaN;
  }
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

interface Result {
  name: string;
  requests: number;
  samples: number;
  seconds: number;
  p50: number;
  p99: number;
  cpu: number;
  /** share of `cpu` spent in the kernel (socket syscalls) */
  sys: number;
  simCpu: number;
  extra?: string;
}

// A full GC before each measured slice, outside it: the phases alternate in one process, and
// without this one phase's old-generation garbage would be collected (and billed) in the next
setFlagsFromString('--expose-gc');
const fullGc = runInNewContext('gc') as () => void;

function measure<T>(simPid: number, fn: () => Promise<T>): Promise<{ value: T; seconds: number; cpu: number; sys: number; simCpu: number }> {
  const c0 = process.cpuUsage();
  const s0 = procCpu(simPid);
  const t0 = performance.now();
  return fn().then((value) => {
    const seconds = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    return { value, seconds, cpu: (c.user + c.system) / 1e6 / seconds, sys: c.system / 1e6 / seconds, simCpu: (procCpu(simPid) - s0) / seconds };
  });
}

// ---- A: bare modbus-serial ------------------------------------------------------------------

async function bare(port: number, simPid: number, seconds = SECONDS, ownPort = false): Promise<Result> {
  const clients = await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      if (ownPort) {
        // the driver's link alone: its MBAP wire, strict answer checks and scheduling, no decoding
        const link = new ModbusLink({ connection: { transport: 'tcp', host: '127.0.0.1', port, maxInFlight: 1, connectTimeout: 5000 }, requestDelay: 0 });
        await link.connect(AbortSignal.timeout(5000));
        let unit = 1;
        return {
          setID: (u: number): void => void (unit = u),
          readHoldingRegisters: (start: number, count: number) => link.read(unit, 'holding', start, count, 1000),
          close: (cb: () => void) => void link.close().then(cb),
        };
      }
      const c = new ModbusSerial.default();
      await c.connectTCP('127.0.0.1', { port });
      c.setTimeout(1000);
      return c;
    }),
  );
  const lat: number[] = [];
  let requests = 0;
  const reads = [
    [0, 125],
    [125, REGS - 125],
  ] as const;
  fullGc();
  const deadline = performance.now() + seconds * 1000;
  const m = await measure(simPid, () =>
    Promise.all(
      clients.map(async (c) => {
        while (performance.now() < deadline) {
          for (let unit = 1; unit <= DEVICES_PER_CONNECTION; unit++) {
            c.setID(unit);
            for (const [start, count] of reads) {
              const t = performance.now();
              await c.readHoldingRegisters(start, count);
              lat.push(performance.now() - t);
              requests++;
            }
          }
        }
      }),
    ),
  );
  await Promise.all(clients.map((c) => new Promise<void>((r) => c.close(() => r()))));
  lat.sort((a, b) => a - b);
  return { name: ownPort ? "A' bare loop on the driver's link (no decoding)" : 'A bare modbus-serial (ceiling)', requests, samples: 0, seconds: m.seconds, p50: pct(lat, 0.5), p99: pct(lat, 0.99), cpu: m.cpu, sys: m.sys, simCpu: m.simCpu };
}

// ---- B/C: the driver ------------------------------------------------------------------------

async function driver(name: string, port: number, simPid: number, interval: number, seconds = SECONDS): Promise<Result> {
  const sources = Array.from({ length: CONNECTIONS }, (_, ci) => {
    const ctx = sourceContext({ id: `c${ci}`, capacity: 64 });
    const cfg = sourceConfig({
      id: `c${ci}`,
      connection: { transport: 'tcp', host: '127.0.0.1', port },
      interval,
      timeout: '1s',
      devices: Array.from({ length: DEVICES_PER_CONNECTION }, (_, di) => ({
        name: `d${ci * DEVICES_PER_CONNECTION + di}`,
        unit: di + 1,
        tags: [
          ...Array.from({ length: INT_TAGS }, (_, i) => ({ name: `i${i}`, area: 'holding', address: i, type: 'int16' })),
          ...Array.from({ length: FLOAT_TAGS }, (_, i) => ({ name: `f${i}`, area: 'holding', address: INT_TAGS + i * 2, type: 'float32' })),
        ],
      })),
    });
    return { ctx, src: new ModbusSource(cfg, ctx) };
  });
  const ac = new AbortController();
  setMaxListeners(0, ac.signal); // 10 sources share one signal here; the pipeline gives each its own
  let samples = 0;
  let bad = 0;
  let counting = false;
  // consumers: drain every channel as batches arrive (what the router does)
  const consumers = sources.map(async ({ ctx }) => {
    const buf: { samples: { quality: string }[] }[] = [];
    while (!ac.signal.aborted) {
      try {
        await ctx.out.readable(ac.signal);
      } catch {
        return;
      }
      buf.length = 0;
      for (const b of ctx.out.drain(Infinity, buf as never)) {
        if (!counting) continue;
        samples += b.samples.length;
        // spot-check quality on the first sample of each batch (a per-sample loop here would
        // bill the consumer's work to the driver)
        if (b.samples[0]?.quality !== 'good') bad++;
      }
    }
  });
  const runs = sources.map(({ src }) => src.run(ac.signal));
  // warm up: connections open, JIT settles; then count
  await new Promise((r) => setTimeout(r, 1000));
  fullGc();
  const req0 = sources.reduce((n, s) => n + s.src.stats().requests, 0);
  const over0 = sources.reduce((n, s) => n + s.src.stats().overruns, 0);
  const polls0 = sources.map((s) => s.src.stats().polls);
  counting = true;
  const m = await measure(simPid, () => new Promise((r) => setTimeout(r, seconds * 1000)));
  counting = false;
  const requests = sources.reduce((n, s) => n + s.src.stats().requests, 0) - req0;
  const overruns = sources.reduce((n, s) => n + s.src.stats().overruns, 0) - over0;
  const lat = sources.flatMap((s, i) => s.src.stats().latencies.slice(-(s.src.stats().polls - polls0[i]!))).sort((a, b) => a - b);
  ac.abort();
  await Promise.all([...runs, ...consumers]);
  const extra = `overruns ${overruns}, batches starting with a bad sample ${bad}${interval === 0 ? ' (interval 0 counts none)' : ''}`;
  return { name, requests, samples, seconds: m.seconds, p50: pct(lat, 0.5), p99: pct(lat, 0.99), cpu: m.cpu, sys: m.sys, simCpu: m.simCpu, extra };
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s.length ? s[Math.floor(s.length / 2)]! : Number.NaN;
}

function print(r: Result): void {
  const f = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  console.log(`${r.name}`);
  console.log(`  requests/s ${f(r.requests / r.seconds)}   samples/s ${f(r.samples / r.seconds)}   latency p50 ${f(r.p50, 2)} ms  p99 ${f(r.p99, 2)} ms`);
  console.log(`  CPU: this process ${f(r.cpu * 100)}% of a core (${f(((r.cpu - r.sys) * r.seconds * 1e6) / r.requests, 1)} us user + ${f((r.sys * r.seconds * 1e6) / r.requests, 1)} us kernel per request), simulator ${f(r.simCpu * 100)}%${r.extra ? `   ${r.extra}` : ''}`);
}

const sim = await startSim();
console.log(`modbus bench: ${CONNECTIONS * DEVICES_PER_CONNECTION} devices x ${TAGS} tags over ${CONNECTIONS} TCP connections, ${SECONDS}s per phase, simulator pid ${sim.pid}`);
const SLICES = Number(process.env.BENCH_SLICES ?? 4);
const ONLY = process.env.BENCH_ONLY; // 'A', "A'", 'B' or 'C' for profiling one phase
try {
  // warm-up, not reported: the first seconds of either loop run unoptimised code
  if (!ONLY || ONLY === 'A') await bare(sim.port, sim.pid, 2);
  if (!ONLY || ONLY === "A'") await bare(sim.port, sim.pid, 2, true);
  if (!ONLY || ONLY === 'B' || ONLY === 'C') await driver('warm-up', sim.port, sim.pid, 0, 2);
  // A and B alternate in slices so that load from other processes on this shared machine
  // falls on both alike; the sums are compared
  const as: Result[] = [];
  const aps: Result[] = [];
  const bs: Result[] = [];
  for (let i = 0; i < SLICES; i++) {
    if (!ONLY || ONLY === 'A') as.push(await bare(sim.port, sim.pid, SECONDS / SLICES));
    if (!ONLY || ONLY === "A'") aps.push(await bare(sim.port, sim.pid, SECONDS / SLICES, true));
    if (!ONLY || ONLY === 'B') bs.push(await driver('B driver, interval 0 (back to back)', sim.port, sim.pid, 0, SECONDS / SLICES));
    if (process.env.BENCH_VERBOSE) for (const r of [as.at(-1), aps.at(-1), bs.at(-1)]) if (r) print(r);
  }
  const sum = (rs: Result[], name: string): Result => ({
    name,
    requests: rs.reduce((n, r) => n + r.requests, 0),
    samples: rs.reduce((n, r) => n + r.samples, 0),
    seconds: rs.reduce((n, r) => n + r.seconds, 0),
    p50: median(rs.map((r) => r.p50)),
    p99: Math.max(...rs.map((r) => r.p99)),
    cpu: rs.reduce((n, r) => n + r.cpu * r.seconds, 0) / rs.reduce((n, r) => n + r.seconds, 0),
    sys: rs.reduce((n, r) => n + r.sys * r.seconds, 0) / rs.reduce((n, r) => n + r.seconds, 0),
    simCpu: rs.reduce((n, r) => n + r.simCpu * r.seconds, 0) / rs.reduce((n, r) => n + r.seconds, 0),
    extra: rs[0]?.extra,
  });
  const a = sum(as, `A bare modbus-serial (ceiling), ${SLICES} slices`);
  const ap = sum(aps, `A' bare loop on the driver's link (no decoding), ${SLICES} slices`);
  const b = sum(bs, `B driver, interval 0 (back to back), ${SLICES} slices`);
  if (as.length) print(a);
  if (aps.length) print(ap);
  if (bs.length) {
    print(b);
    console.log(`  slices: ${as.map((x, i) => `${((bs[i]!.requests / bs[i]!.seconds) / (x.requests / x.seconds)).toFixed(2)}`).join(' ')} (driver/bare per slice)`);
  }
  if (!ONLY || ONLY === 'C') {
    const c = await driver('C driver, interval 100ms (10 Hz target)', sim.port, sim.pid, 100);
    print(c);
    const target = (c.samples / c.seconds) / 100_000;
    console.log(`10 Hz: samples/s vs 100,000: ${target.toFixed(2)}; CPU ${(c.cpu * 100).toFixed(0)}% of one core; poll p50 ${c.p50.toFixed(2)} ms, p99 ${c.p99.toFixed(2)} ms of a 100 ms budget`);
  }
  if (as.length && bs.length) {
    // CPU per request is far less sensitive than the rates to other load on a shared machine;
    // it is printed beside the rate ratio (the target), not instead of it
    const cpuPerRequest = (r: Result) => (r.cpu * r.seconds) / r.requests;
    console.log(
      `ratio: driver/bare requests/s ${((b.requests / b.seconds) / (a.requests / a.seconds)).toFixed(2)} (target >= 0.8); ` +
        `bare/driver CPU per request ${(cpuPerRequest(a) / cpuPerRequest(b)).toFixed(2)} (${(cpuPerRequest(a) * 1e6).toFixed(1)} vs ${(cpuPerRequest(b) * 1e6).toFixed(1)} us); load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`,
    );
  }
  if (aps.length && bs.length) {
    // the driver's own cost (planning, queues, decoding, batches) with the port held equal
    console.log(`ratio, driver/its own link: driver/bare requests/s ${((b.requests / b.seconds) / (ap.requests / ap.seconds)).toFixed(2)}; CPU per request ${((ap.cpu * ap.seconds / ap.requests) * 1e6).toFixed(1)} vs ${((b.cpu * b.seconds / b.requests) * 1e6).toFixed(1)} us`);
  }
  if (as.length && aps.length) {
    console.log(`the link alone: bare loop requests/s on the driver's link / on modbus-serial ${((ap.requests / ap.seconds) / (a.requests / a.seconds)).toFixed(2)}`);
  }
} finally {
  await sim.stop();
}
