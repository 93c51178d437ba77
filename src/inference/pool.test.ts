import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { isFgError } from '../core/errors.ts';
import { WorkerPool, type PoolOptions } from './pool.ts';
import { linearModel, linearRef, slowModel, tempDir, writeModel } from '../../test/support/inference/testing.ts';

const IN = 16;
const OUT = 3;

function poolOptions(modelPath: string, over: Partial<PoolOptions> = {}): PoolOptions {
  return {
    name: 'test', modelPath, inputName: 'x', rowDims: [IN], outputNames: ['y'], intraOpNumThreads: 1,
    min: 1, max: 2, targetP99Ms: 1000, cooldownMs: 60_000,
    breaker: { failureRate: 0.5, minCalls: 3, windowMs: 30_000, cooldownMs: 60_000 },
    ...over,
  };
}

function rowsOf(n: number, seed: number): Float32Array {
  const x = new Float32Array(n * IN);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(seed * 131 + i * 0.37) * 3;
  return x;
}

describe('WorkerPool', () => {
  const tmp = tempDir();
  let linear: string;
  let fixed1: string;
  let slow: string;
  before(() => {
    linear = writeModel(tmp.dir, 'linear.onnx', linearModel({ inputs: IN, outputs: OUT }));
    fixed1 = writeModel(tmp.dir, 'fixed1.onnx', linearModel({ inputs: IN, outputs: OUT, batch: 1 }));
    slow = writeModel(tmp.dir, 'slow.onnx', slowModel(IN));
  });
  after(() => tmp.cleanup());

  it('gives the same outputs as a direct session run (within 1e-6), dynamic and fixed batch', async () => {
    const direct = await ort.InferenceSession.create(linear, { intraOpNumThreads: 1 });
    for (const file of [linear, fixed1]) {
      const pool = new WorkerPool(poolOptions(file, { min: 2 }));
      await pool.start();
      try {
        const batches = [1, 7, 64, 3].map((n, k) => rowsOf(n, k));
        const results = await Promise.all(batches.map((x) => pool.run(x.length / IN, () => x.slice())));
        for (let k = 0; k < batches.length; k++) {
          const x = batches[k]!;
          const want = (await direct.run({ x: new ort.Tensor('float32', x, [x.length / IN, IN]) })).y!.data as Float32Array;
          const got = results[k]!.outputs.y!;
          assert.equal(got.length, want.length);
          for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-6, `${file} batch ${k} [${i}]: ${got[i]} vs ${want[i]}`);
          // and the direct run is the function we wrote down
          const ref = linearRef(x, IN, OUT);
          for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i]! - ref[i]!) <= 1e-4);
        }
      } finally {
        await pool.stop(1000);
      }
      assert.equal(pool.workers, 0);
    }
    await direct.release();
  });

  it('merges the batches a worker holds into one session.run, each batch getting exactly its own outputs', async () => {
    const direct = await ort.InferenceSession.create(linear, { intraOpNumThreads: 1 });
    for (const merge of [true, false]) {
      // depth 8: the 8 batches below leave in two groups of 4
      const pool = new WorkerPool(poolOptions(linear, { min: 1, max: 1, merge, inFlightPerWorker: 8 }));
      await pool.start();
      try {
        const batches = [3, 64, 1, 17, 5, 40, 2, 9].map((n, k) => rowsOf(n, 10 + k));
        // packed in place into the group's buffer, as the stage does
        const results = await Promise.all(batches.map((x) => pool.run(x.length / IN, (into) => void into.set(x))));
        for (let k = 0; k < batches.length; k++) {
          const x = batches[k]!;
          const want = (await direct.run({ x: new ort.Tensor('float32', x, [x.length / IN, IN]) })).y!.data as Float32Array;
          const got = results[k]!.outputs.y!;
          assert.equal(got.length, want.length, `merge ${merge} batch ${k}`);
          for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-6, `merge ${merge} batch ${k} [${i}]: ${got[i]} vs ${want[i]}`);
        }
        assert.deepEqual(pool.runStats, { batches: 8, sessionRuns: merge ? 2 : 8 });
      } finally {
        await pool.stop(1000);
      }
      assert.equal(pool.workers, 0);
    }
    await direct.release();
  });

  it('replaces a worker that dies with batches in flight and retries them once', async () => {
    const pool = new WorkerPool(poolOptions(slow, { outputNames: ['y'] }));
    await pool.start();
    try {
      const x = rowsOf(64, 1);
      const want = (await pool.run(64, () => x.slice())).outputs.y!;
      const [victim] = pool.threads();
      const runs = [pool.run(64, () => x.slice()), pool.run(64, () => x.slice())];
      assert.equal(pool.inFlight, 2, 'both batches are on the worker');
      // session.run is asynchronous in the worker, so this exit lands while the first batch computes
      victim!.postMessage({ t: 'crash', code: 7 });
      for (const r of await Promise.all(runs)) assert.deepEqual(r.outputs.y, want);
      assert.equal(pool.crashes, 1);
      assert.equal(pool.retries, 2);
      assert.equal(pool.workers, 1, 'replaced');
      assert.notEqual(pool.threads()[0], victim);
      assert.equal(pool.breaker.state, 'closed');
    } finally {
      await pool.stop(1000);
    }
  });

  it('a batch whose worker dies twice is rejected, not retried again', async () => {
    const pool = new WorkerPool(poolOptions(slow, { min: 2, breaker: { failureRate: 1, minCalls: 100, windowMs: 30_000, cooldownMs: 60_000 } }));
    await pool.start();
    try {
      const x = rowsOf(64, 2);
      const [w1, w2] = pool.threads();
      w1!.postMessage({ t: 'crash', code: 5, when: 'next-run' });
      w2!.postMessage({ t: 'crash', code: 6, when: 'next-run' });
      const j = pool.run(64, () => x.slice()); // dies on one worker, retried on the other, dies again
      await assert.rejects(j, (e) => isFgError(e, 'FG_E_WORKER_CRASHED') && /crashed twice/.test(e.message));
      assert.equal(pool.crashes, 2);
      assert.equal(pool.retries, 1);
      // the replacements serve the next batch
      assert.equal((await pool.run(64, () => x.slice())).outputs.y!.length, 64);
    } finally {
      await pool.stop(1000);
    }
    assert.equal(pool.workers, 0);
  });

  it('opens the circuit breaker after repeated crashes and refuses runs while open', async () => {
    const pool = new WorkerPool(poolOptions(linear, { breaker: { failureRate: 0.5, minCalls: 2, windowMs: 30_000, cooldownMs: 60_000 } }));
    await pool.start();
    try {
      pool.threads()[0]!.postMessage({ t: 'crash', code: 1 });
      for (let i = 0; i < 200 && pool.crashes < 1; i++) await new Promise((r) => setTimeout(r, 5));
      // wait for the replacement, then crash it too
      for (let i = 0; i < 200 && pool.threads().length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(pool.threads().length, 1);
      pool.threads()[0]!.postMessage({ t: 'crash', code: 1 });
      for (let i = 0; i < 200 && pool.crashes < 2; i++) await new Promise((r) => setTimeout(r, 5));
      assert.equal(pool.breaker.state, 'open');
      await assert.rejects(pool.run(1, () => rowsOf(1, 0)), (e) => isFgError(e, 'FG_E_BREAKER_OPEN'));
      assert.equal(pool.crashes, 2);
    } finally {
      await pool.stop(1000);
    }
    assert.equal(pool.workers, 0);
  });

  it('autoscales between min and max on backlog, with cooldown, and back down when idle', async () => {
    const events: string[] = [];
    const pool = new WorkerPool(poolOptions(linear, { min: 1, max: 2, cooldownMs: 1000, onEvent: (e) => e.type === 'scale' && events.push(`${e.from}->${e.to}`) }));
    await pool.start();
    try {
      const t = performance.now() + 10_000;
      pool.autoscale(50, t); // backlog 50 > 1 worker x 2 in flight
      pool.autoscale(50, t + 10); // within cooldown: no change
      for (let i = 0; i < 200 && pool.threads().length < 2; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(pool.workers, 2);
      pool.autoscale(50, t + 2000); // at max: stays
      assert.equal(pool.workers, 2);
      pool.autoscale(0, t + 4000); // idle: one retires
      for (let i = 0; i < 200 && pool.threads().length > 1; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(pool.workers, 1);
      pool.autoscale(0, t + 6000); // at min: stays
      assert.deepEqual(events, ['1->2', '2->1']);
      assert.equal((await pool.run(2, () => rowsOf(2, 3))).outputs.y!.length, 2 * OUT);
    } finally {
      await pool.stop(1000);
    }
  });

  it('refuses a corrupt model file with FG_E_MODEL_LOAD', async () => {
    const bad = writeModel(tmp.dir, 'corrupt.onnx', new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
    const pool = new WorkerPool(poolOptions(bad));
    await assert.rejects(pool.start(), (e) => isFgError(e, 'FG_E_MODEL_LOAD') && /corrupt\.onnx/.test(e.message));
    assert.equal(pool.workers, 0);
  });
});
