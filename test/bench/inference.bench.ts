/**
 * npm run bench:inference
 *
 * Windows/s through the worker pool against, in the same run, a direct session.run loop on
 * the main thread (the ceiling for one core), at batch sizes 1, 64 and 256. Reports latency
 * p50/p99 per batch and the main thread's event-loop delay p99 during each phase.
 * Model: a small autoencoder, 64 inputs -> 16 -> 64, score = mean squared reconstruction error.
 */
import { availableParallelism } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import ort from 'onnxruntime-node';
import { encodeModel } from '../../src/inference/onnx-graph.ts';
import { WorkerPool } from '../../src/inference/pool.ts';
import { tempDir, writeModel } from '../../src/inference/testing.ts';

const D = 64;
const H = 16;
const PHASE_MS = Number(process.env.BENCH_PHASE_MS ?? 3000);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2);
const BATCHES = [1, 64, 256];

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

interface Result { rowsPerS: number; p50: number; p99: number; loopP99: number; calls: number }

function pct(xs: number[], q: number): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
}

function input(rows: number): Float32Array {
  return Float32Array.from({ length: rows * D }, (_, i) => Math.sin(i * 0.7));
}

async function direct(file: string, rows: number): Promise<Result> {
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
  const x = input(rows);
  for (let i = 0; i < 50; i++) await session.run({ x: new ort.Tensor('float32', x, [rows, D]) });
  const lat: number[] = [];
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const t0 = performance.now();
  let calls = 0;
  while (performance.now() - t0 < PHASE_MS) {
    const s = performance.now();
    await session.run({ x: new ort.Tensor('float32', x, [rows, D]) });
    lat.push(performance.now() - s);
    calls++;
  }
  const el = performance.now() - t0;
  h.disable();
  await session.release();
  return { rowsPerS: (calls * rows) / (el / 1000), p50: pct(lat, 0.5), p99: pct(lat, 0.99), loopP99: h.percentile(99) / 1e6, calls };
}

async function pooled(file: string, rows: number): Promise<Result> {
  const pool = new WorkerPool({
    name: 'bench', modelPath: file, inputName: 'x', rowDims: [D], outputNames: ['score'], intraOpNumThreads: 1,
    min: WORKERS, max: WORKERS, targetP99Ms: 1e9, cooldownMs: 1e9, inFlightPerWorker: Number(process.env.BENCH_INFLIGHT ?? 4),
    breaker: { failureRate: 1, minCalls: 1e9, windowMs: 30_000, cooldownMs: 1000 },
  });
  await pool.start();
  const x = input(rows);
  const pack = () => x.slice();
  for (let i = 0; i < 50; i++) await pool.run(rows, pack);
  const lat: number[] = [];
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const t0 = performance.now();
  let calls = 0;
  const inflight = new Set<Promise<void>>();
  while (performance.now() - t0 < PHASE_MS) {
    await pool.whenCapacity();
    const p = pool.run(rows, pack).then((r) => {
      lat.push(r.latencyMs);
      calls++;
    });
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
    // keep the main loop honest: yield when the pool is saturated
    if (pool.freeCapacity <= 0) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  const el = performance.now() - t0;
  h.disable();
  await pool.stop(1000);
  return { rowsPerS: (calls * rows) / (el / 1000), p50: pct(lat, 0.5), p99: pct(lat, 0.99), loopP99: h.percentile(99) / 1e6, calls };
}

const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0));
const ms = (n: number) => `${n < 1 ? (n * 1000).toFixed(0) + ' us' : n.toFixed(2) + ' ms'}`;

const tmp = tempDir('fg-bench-inference-');
try {
  const file = writeModel(tmp.dir, 'ae.onnx', autoencoder());
  console.log(`inference bench: autoencoder ${D}->${H}->${D}, ${PHASE_MS} ms per phase, pool of ${WORKERS} workers (intraOpNumThreads 1), ${availableParallelism()} cores`);
  console.log('batch | direct rows/s  p50      p99      loop p99 | pool rows/s  p50      p99      loop p99 | pool/direct');
  for (const b of BATCHES) {
    const d = await direct(file, b);
    const p = await pooled(file, b);
    console.log(
      `${String(b).padStart(5)} | ${fmt(d.rowsPerS).padStart(11)}  ${ms(d.p50).padEnd(8)} ${ms(d.p99).padEnd(8)} ${ms(d.loopP99).padEnd(8)} |` +
      ` ${fmt(p.rowsPerS).padStart(9)}  ${ms(p.p50).padEnd(8)} ${ms(p.p99).padEnd(8)} ${ms(p.loopP99).padEnd(8)} | ${(p.rowsPerS / d.rowsPerS).toFixed(2)}x`,
    );
  }
  console.log('targets: pool >= 0.8x direct at batch 64; main-thread event-loop p99 < 10 ms while the pool runs');
} finally {
  tmp.cleanup();
}
