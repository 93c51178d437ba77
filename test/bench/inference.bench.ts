/**
 * npm run bench:inference
 *
 * Windows/s through the worker pool against, in the same run, a direct session.run loop on the
 * main thread (the ceiling for one core), at batch sizes 1, 64 and 256. Reports latency p50/p99
 * per batch, the main thread's event-loop delay p99 during each phase, and CPU use per thread.
 * Model: a small autoencoder, 64 inputs -> 16 -> 64, score = mean squared reconstruction error.
 *
 * Every mode gets the same requests: batches of 1, 64 or 256 rows of the same data. The pool is
 * measured twice: as configured by default (a worker merges the batches it holds into one
 * session.run) and with merging off (one session.run per batch, like the direct loop).
 *
 * The machine is small and shared, so phases are interleaved in rounds (direct, pool and the
 * parallel ceiling one after another, order rotated per round) and each figure is the best of
 * the rounds; the ratio is also given as the median of the per-round ratios. The parallel
 * ceiling is W plain workers running session.run loops with no messaging at all: what W cores
 * give this machine right now (two sessions at once run slower per call than one alone).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { encodeModel } from '../../src/inference/onnx-graph.ts';
import { WorkerPool } from '../../src/inference/pool.ts';
import { tempDir, writeModel } from '../support/inference/testing.ts';

const D = 64;
const H = 16;
const PHASE_MS = Number(process.env.BENCH_PHASE_MS ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2);
const INFLIGHT = process.env.BENCH_INFLIGHT ? Number(process.env.BENCH_INFLIGHT) : undefined;
const BATCHES = (process.env.BENCH_BATCHES ?? '1,64,256').split(',').map(Number);

function autoencoder(): Uint8Array {
  const w1 = Float32Array.from({ length: D * H }, (_, i) => Math.sin(i) * 0.2);
  const w2 = Float32Array.from({ length: H * D }, (_, i) => Math.cos(i) * 0.2);
  return encodeModel({
    name: 'bench_ae',
    inputs: [{ name: 'x', elem: 'float', shape: ['batch', D] }],
    outputs: [{ name: 'score', elem: 'float', shape: ['batch', 1] }],
    initializers: [
      { name: 'W1', dims: [D, H], data: w1 }, { name: 'b1', dims: [H], data: new Float32Array(H).fill(0.01) },
      { name: 'W2', dims: [H, D], data: w2 }, { name: 'mean', dims: [D, 1], data: new Float32Array(D).fill(1 / D) },
    ],
    nodes: [
      { op: 'MatMul', inputs: ['x', 'W1'], outputs: ['h0'] },
      { op: 'Add', inputs: ['h0', 'b1'], outputs: ['h1'] },
      { op: 'Relu', inputs: ['h1'], outputs: ['h'] },
      { op: 'MatMul', inputs: ['h', 'W2'], outputs: ['r'] },
      { op: 'Sub', inputs: ['x', 'r'], outputs: ['e'] },
      { op: 'Mul', inputs: ['e', 'e'], outputs: ['e2'] },
      { op: 'MatMul', inputs: ['e2', 'mean'], outputs: ['score'] },
    ],
  });
}

interface Phase {
  rowsPerS: number;
  p50: number;
  p99: number;
  loopP99: number;
  /** CPU time of this process's threads during the phase: main thread, all others (ms) */
  cpuMain: number;
  cpuOther: number;
  elapsed: number;
  calls: number;
}

function pct(xs: number[], q: number): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
}

function input(rows: number): Float32Array {
  return Float32Array.from({ length: rows * D }, (_, i) => Math.sin(i * 0.7));
}

/** CPU time (ms) per thread of this process, from /proc (Linux); empty elsewhere. */
function threadCpu(): Map<string, number> {
  const m = new Map<string, number>();
  try {
    for (const t of readdirSync('/proc/self/task')) {
      try {
        m.set(t, Number(readFileSync(`/proc/self/task/${t}/schedstat`, 'utf8').split(' ')[0]) / 1e6);
      } catch {
        // thread gone
      }
    }
  } catch {
    // not Linux
  }
  return m;
}

function cpuSince(before: Map<string, number>): { main: number; other: number } {
  let main = 0;
  let other = 0;
  for (const [t, v] of threadCpu()) {
    const d = v - (before.get(t) ?? 0);
    if (t === String(process.pid)) main += d;
    else other += d;
  }
  return { main, other };
}

/** Measures `body` (which returns calls made and per-call latencies) with event-loop delay and CPU. */
async function measure(rows: number, body: () => Promise<{ calls: number; lat: number[] }>): Promise<Phase> {
  const h = monitorEventLoopDelay({ resolution: 2 });
  const cpu0 = threadCpu();
  h.enable();
  const t0 = performance.now();
  const { calls, lat } = await body();
  const elapsed = performance.now() - t0;
  h.disable();
  const cpu = cpuSince(cpu0);
  return {
    rowsPerS: (calls * rows) / (elapsed / 1000), p50: pct(lat, 0.5), p99: pct(lat, 0.99), loopP99: h.percentile(99) / 1e6,
    cpuMain: cpu.main, cpuOther: cpu.other, elapsed, calls,
  };
}

async function direct(session: ort.InferenceSession, rows: number): Promise<Phase> {
  const x = input(rows);
  for (let i = 0; i < 100; i++) await session.run({ x: new ort.Tensor('float32', x, [rows, D]) });
  return measure(rows, async () => {
    const lat: number[] = [];
    const t0 = performance.now();
    let calls = 0;
    while (performance.now() - t0 < PHASE_MS) {
      const s = performance.now();
      await session.run({ x: new ort.Tensor('float32', x, [rows, D]) });
      lat.push(performance.now() - s);
      calls++;
    }
    return { calls, lat };
  });
}

/** Feeds the pool as the model stage does: a batch whenever it has capacity, results handled as they come. */
async function pooled(pool: WorkerPool, rows: number): Promise<Phase> {
  const x = input(rows);
  // the stage writes its windows into the group buffer the same way
  const pack = (into: Float32Array) => {
    into.set(x);
  };
  for (let i = 0; i < 100; i++) await pool.run(rows, pack);
  return measure(rows, async () => {
    const lat: number[] = [];
    const t0 = performance.now();
    let calls = 0;
    let outstanding = 0;
    let drained: (() => void) | undefined;
    const done = (r: { latencyMs: number }) => {
      lat.push(r.latencyMs);
      calls++;
      if (--outstanding === 0) drained?.();
    };
    while (performance.now() - t0 < PHASE_MS) {
      await pool.whenCapacity();
      outstanding++;
      pool.run(rows, pack).then(done, (e: unknown) => {
        throw e;
      });
    }
    if (outstanding > 0) await new Promise<void>((r) => (drained = r));
    return { calls, lat };
  });
}

/** W plain workers, each its own session, running direct loops at the same time: no messaging. */
class ParallelCeiling {
  private readonly workers: Worker[];
  constructor(file: string, n: number) {
    const ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const ort = require(workerData.ortPath);
      const sessionP = ort.InferenceSession.create(workerData.file, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
      parentPort.on('message', async ({ rows, ms, x }) => {
        const session = await sessionP;
        for (let i = 0; i < 100; i++) await session.run({ x: new ort.Tensor('float32', x, [rows, ${D}]) });
        const t0 = performance.now();
        let calls = 0;
        while (performance.now() - t0 < ms) { await session.run({ x: new ort.Tensor('float32', x, [rows, ${D}]) }); calls++; }
        parentPort.postMessage({ calls, elapsed: performance.now() - t0 });
      });
      parentPort.once('close', () => sessionP.then((s) => s.release()));`;
    this.workers = Array.from({ length: n }, () => new Worker(code, { eval: true, workerData: { file, ortPath } }));
  }

  async run(rows: number): Promise<Phase> {
    const x = input(rows);
    return measure(rows, async () => {
      const parts = await Promise.all(this.workers.map((w) => new Promise<{ calls: number; elapsed: number }>((resolve) => {
        w.once('message', resolve);
        w.postMessage({ rows, ms: PHASE_MS, x });
      })));
      // rows/s is computed from the summed calls over the phase's own elapsed time
      return { calls: parts.reduce((n, p) => n + p.calls, 0), lat: [] };
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0));
const ms = (n: number) => `${n < 1 ? (n * 1000).toFixed(0) + ' us' : n.toFixed(2) + ' ms'}`;
const median = (xs: number[]) => pct(xs, 0.5);
const best = (ps: Phase[]) => ps.reduce((a, b) => (b.rowsPerS > a.rowsPerS ? b : a));
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

const tmp = tempDir('fg-bench-inference-');
const file = writeModel(tmp.dir, 'ae.onnx', autoencoder());
const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
const poolOf = (merge: boolean) => new WorkerPool({
  name: 'bench', modelPath: file, inputName: 'x', rowDims: [D], outputNames: ['score'], intraOpNumThreads: 1, merge, ...(process.env.BENCH_NICE ? { workerNice: Number(process.env.BENCH_NICE) } : {}),
  min: WORKERS, max: WORKERS, targetP99Ms: 1e9, cooldownMs: 1e9, ...(INFLIGHT !== undefined ? { inFlightPerWorker: INFLIGHT } : {}),
  breaker: { failureRate: 1, minCalls: 1e9, windowMs: 30_000, cooldownMs: 1000 },
});
const pool = poolOf(true);
const single = poolOf(false);
const ceiling = new ParallelCeiling(file, WORKERS);
try {
  await pool.start();
  await single.start();
  console.log(
    `inference bench: autoencoder ${D}->${H}->${D}, ${ROUNDS} interleaved rounds of ${PHASE_MS} ms phases, ` +
    `pool of ${WORKERS} workers (intraOpNumThreads 1, depth ${INFLIGHT ?? 'adaptive'}, nice ${process.env.BENCH_NICE ?? 'default 5'}), ${availableParallelism()} cores, load average ${load()}`,
  );
  const results = new Map<number, Record<'direct' | 'pool' | 'single' | 'par', Phase[]>>(
    BATCHES.map((b) => [b, { direct: [], pool: [], single: [], par: [] }]),
  );
  for (let r = 0; r < ROUNDS; r++) {
    for (const b of BATCHES) {
      const res = results.get(b)!;
      const phases: (() => Promise<void>)[] = [
        async () => void res.direct.push(await direct(session, b)),
        async () => void res.pool.push(await pooled(pool, b)),
        async () => void res.single.push(await pooled(single, b)),
        async () => void res.par.push(await ceiling.run(b)),
      ];
      for (let k = 0; k < phases.length; k++) await phases[(k + r) % phases.length]!();
    }
  }
  const ratio = (p: Phase[], d: Phase[]) =>
    `${(best(p).rowsPerS / best(d).rowsPerS).toFixed(2)}x ${median(p.map((x, i) => x.rowsPerS / d[i]!.rowsPerS)).toFixed(2)}x`;
  console.log(`\nthroughput (rows/s), best of ${ROUNDS} rounds; ratios to direct: best/best and the median of per-round ratios`);
  console.log('batch | direct (1 core) | pool (merging)  ratio       | pool (1 run per batch) ratio | parallel ceiling');
  for (const b of BATCHES) {
    const { direct: d, pool: p, single: q, par } = results.get(b)!;
    console.log(
      `${String(b).padStart(5)} | ${fmt(best(d).rowsPerS).padStart(15)} | ${fmt(best(p).rowsPerS).padStart(14)}  ${ratio(p, d).padEnd(11)} |` +
      ` ${fmt(best(q).rowsPerS).padStart(12)}  ${ratio(q, d).padEnd(13)} | ${fmt(best(par).rowsPerS).padStart(9)} (${(best(par).rowsPerS / best(d).rowsPerS).toFixed(2)}x)`,
    );
  }
  console.log('\nlatency and CPU from each mode\'s best round; event-loop p99 of the main thread: median and worst round; CPU: main thread, other threads, per batch');
  console.log('batch | mode        p50      p99      loop p99 median, worst | cpu main  others  per batch');
  const pctOf = (cpu: number, el: number) => `${((100 * cpu) / el).toFixed(0)}%`;
  for (const b of BATCHES) {
    const r = results.get(b)!;
    for (const [mode, label] of [['direct', 'direct'], ['pool', 'pool'], ['single', 'pool 1/run']] as const) {
      const ps = r[mode];
      const bp = best(ps);
      console.log(
        `${String(b).padStart(5)} | ${label.padEnd(10)} ${ms(bp.p50).padStart(8)} ${ms(bp.p99).padStart(8)} ${ms(median(ps.map((x) => x.loopP99))).padStart(8)} ${ms(Math.max(...ps.map((x) => x.loopP99))).padStart(8)} |` +
        ` ${pctOf(bp.cpuMain, bp.elapsed).padStart(8)} ${pctOf(bp.cpuOther, bp.elapsed).padStart(7)}  ${(((bp.cpuMain + bp.cpuOther) * 1000) / bp.calls).toFixed(1)} us`,
      );
    }
  }
  const stats = pool.runStats;
  console.log(`\npool (merging): ${stats.batches} batches took ${stats.sessionRuns} session runs`);
  console.log(`\nload average at the end: ${load()}`);
  console.log('targets: pool >= 0.8x direct at batch 64; main-thread event-loop p99 < 10 ms while the pool runs');
} finally {
  await pool.stop(1000);
  await single.stop(1000);
  await ceiling.close();
  await session.release();
  tmp.cleanup();
}
