import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isFgError } from '../core/errors.ts';
import { createModelStage, inspectModel, validateModel } from './index.ts';
import { batchOf, linearModel, linearRef, MemoryOutbox, modelConfig, tempDir, testContext, writeModel } from '../../test/support/inference/testing.ts';

const W = 4;

describe('ModelStage', () => {
  const tmp = tempDir();
  before(() => {
    writeModel(tmp.dir, 'model.onnx', linearModel({ inputs: W, outputs: 2 }));
  });
  after(() => tmp.cleanup());

  it('turns samples into windows, batches of at most maxBatch, predictions and hysteresis events', async () => {
    const ctx = testContext(tmp.dir);
    const outbox = new MemoryOutbox();
    const cfg = modelConfig({
      outputs: [{ name: 'y', field: 'first' }, { name: 'y', field: 'second', index: 1 }],
      thresholds: [{ field: 'first', above: 20, clear: 10 }],
      batching: { maxBatch: 16, maxWait: '1s' },
    });
    const stage = createModelStage(cfg, outbox, ctx);
    await stage.start();
    const values = Array.from({ length: 103 }, (_, i) => (i >= 50 && i < 60 ? 100 : i % 5));
    stage.offer(batchOf('plant', 'a', values, 1_000));
    await outbox.waitFor(100);
    await stage.stop(2000);
    assert.equal(outbox.predictions.length, 100);
    const sizes = stage.batchSizes();
    assert.ok(sizes.every((n) => n <= 16), `batch sizes ${sizes}`);
    assert.equal(sizes.reduce((a, b) => a + b, 0), 100);
    // predictions match the model's function, in time order
    outbox.predictions.forEach((p, k) => {
      const x = Float32Array.from(values.slice(k, k + W));
      const y = linearRef(x, W, 2);
      assert.equal(p.ts, 1_000 + (k + W - 1) * 1000);
      assert.ok(Math.abs(p.outputs.first! - y[0]!) < 1e-4 && Math.abs(p.outputs.second! - y[1]!) < 1e-4);
    });
    const kinds = outbox.events.map((e) => e.kind);
    assert.ok(kinds.filter((k) => k === 'threshold').length >= 1);
    assert.equal(kinds.filter((k) => k === 'threshold').length, kinds.filter((k) => k === 'threshold-cleared').length + (stage.probe().details!.raised as string[]).length);
    assert.equal(stage.probe().state, 'down', 'stopped');
  });

  it('waits maxWait for a partial batch, then runs it', async () => {
    const ctx = testContext(tmp.dir);
    const outbox = new MemoryOutbox();
    const stage = createModelStage(modelConfig({ batching: { maxBatch: 64, maxWait: '300ms' } }), outbox, ctx);
    await stage.start();
    try {
      const t0 = performance.now();
      stage.offer(batchOf('plant', 'a', [1, 2, 3, 4, 5, 6], 0)); // 3 windows
      await outbox.waitFor(3);
      const waited = performance.now() - t0;
      assert.ok(waited >= 250, `ran after ${waited.toFixed(0)} ms, before maxWait`);
      assert.deepEqual(stage.batchSizes(), [3]);
    } finally {
      await stage.stop(2000);
    }
  });

  it('drops windows older than the deadline and counts them', async () => {
    const ctx = testContext(tmp.dir);
    const outbox = new MemoryOutbox();
    const stage = createModelStage(modelConfig({ deadline: '50ms', batching: { maxBatch: 64, maxWait: '200ms' } }), outbox, ctx);
    await stage.start();
    stage.offer(batchOf('plant', 'a', [1, 2, 3, 4, 5], 0)); // 2 windows, stale after maxWait
    await new Promise((r) => setTimeout(r, 400));
    await stage.stop(2000);
    assert.equal(outbox.predictions.length, 0);
    assert.deepEqual(stage.probe().details!.dropped, { deadline: 2 });
    const text = await ctx.metrics.registry.metrics();
    assert.match(text, /fieldgate_records_dropped_total\{stage="model.m",reason="deadline"\} 2/);
  });

  it('refuses a model that does not match its config, showing both sides', async () => {
    const ctx = testContext(tmp.dir);
    const cfg = modelConfig({ input: { name: 'x', features: [{ tag: 'plant/a' }], window: 8 }, outputs: [{ name: 'score' }] });
    const stage = createModelStage(cfg, new MemoryOutbox(), ctx);
    await assert.rejects(stage.start(), (e) => {
      assert.ok(isFgError(e, 'FG_E_MODEL_MISMATCH'));
      assert.match(e.message, /model expects float32 \[batch, 4\]; config provides float32 \[batch, 8\] \(window 8 x 1 feature, layout flat\)/);
      assert.match(e.message, /output "score".*no such output; model outputs: y float32 \[batch, 2\]/);
      return true;
    });
    const problems = await validateModel(cfg, ctx.resolvePath);
    assert.equal(problems.length, 2);
    assert.match(problems[0]!, /models\[m\].*model expects float32 \[batch, 4\]/);
    assert.deepEqual(await validateModel(modelConfig({}), ctx.resolvePath), []);
    assert.match((await validateModel(modelConfig({ path: 'missing.onnx' }), ctx.resolvePath))[0]!, /not found/);
    const pinned = modelConfig({ sha256: '0'.repeat(64) });
    await assert.rejects(createModelStage(pinned, new MemoryOutbox(), ctx).start(), (e) => isFgError(e, 'FG_E_MODEL_MISMATCH') && /pins 0000/.test(e.message));
  });

  it('refuses a corrupt model file with FG_E_MODEL_LOAD', async () => {
    const ctx = testContext(tmp.dir);
    writeModel(tmp.dir, 'corrupt.onnx', new TextEncoder().encode('this is not a model'));
    const stage = createModelStage(modelConfig({ path: 'corrupt.onnx' }), new MemoryOutbox(), ctx);
    await assert.rejects(stage.start(), (e) => isFgError(e, 'FG_E_MODEL_LOAD') && /corrupt\.onnx/.test(e.message));
    assert.match((await validateModel(modelConfig({ path: 'corrupt.onnx' }), ctx.resolvePath))[0]!, /FG_E_MODEL_LOAD|cannot load/);
    await assert.rejects(inspectModel(join(tmp.dir, 'corrupt.onnx')), (e) => isFgError(e, 'FG_E_MODEL_LOAD'));
  });

  it('inspect prints the signature', async () => {
    const text = await inspectModel(join(tmp.dir, 'model.onnx'));
    assert.match(text, /inputs:\n {2}x float32 \[batch, 4\]\noutputs:\n {2}y float32 \[batch, 2\]/);
    assert.match(text, /sha256: [0-9a-f]{64}/);
    assert.match(text, /dynamic batch dimension/);
  });

  it('hot-swaps a replaced model file under load without losing or repeating a window', async () => {
    const dir = tempDir();
    try {
      writeModel(dir.dir, 'model.onnx', linearModel({ inputs: W, outputs: 2, scale: 1 }));
      const ctx = testContext(dir.dir);
      const outbox = new MemoryOutbox();
      const stage = createModelStage(modelConfig({
        watch: true, deadline: '60s', batching: { maxBatch: 8, maxWait: '2ms', queue: 100_000 }, workers: { min: 2, max: 2 },
      }), outbox, ctx);
      await stage.start();
      try {
      let ts = 0;
      const sent: number[] = [];
      const feed = setInterval(() => {
        const vals = Array.from({ length: 20 }, (_, i) => ((ts + i) % 7) - 3);
        stage.offer(batchOf('plant', 'a', vals, ts, 1));
        for (let i = 0; i < 20; i++) sent.push(ts + i);
        ts += 20;
      }, 10);
      await new Promise((r) => setTimeout(r, 300));
      // replace by rename, as a deploy would
      writeModel(dir.dir, 'model.onnx.tmp', linearModel({ inputs: W, outputs: 2, scale: 2 }));
      renameSync(join(dir.dir, 'model.onnx.tmp'), join(dir.dir, 'model.onnx'));
      for (let i = 0; i < 200 && stage.probe().details!.generation === 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(stage.probe().details!.generation, 1, 'the watcher swapped the model');
      await new Promise((r) => setTimeout(r, 200));
      clearInterval(feed);
      const windows = sent.length - (W - 1);
      await outbox.waitFor(windows).catch((e: unknown) => {
        throw new Error(`${String(e)}; stage: ${JSON.stringify(stage.probe())}`);
      });
      await stage.stop(2000);
      assert.equal(outbox.predictions.length, windows, 'every window exactly once');
      const seen = new Set(outbox.predictions.map((p) => p.ts));
      assert.equal(seen.size, windows, 'no window twice');
      // each prediction comes from the old model or the new one; once the new one answers, the old never does again
      let switched = false;
      let olds = 0;
      for (const p of outbox.predictions) {
        const x = Float32Array.from({ length: W }, (_, i) => ((p.ts - (W - 1) + i) % 7) - 3);
        const y1 = linearRef(x, W, 2, 1)[0]!;
        const y2 = linearRef(x, W, 2, 2)[0]!;
        const v = p.outputs.y!;
        const isNew = Math.abs(v - y2) < 1e-4 && Math.abs(v - y1) >= 1e-4;
        const isOld = Math.abs(v - y1) < 1e-4;
        assert.ok(isNew || isOld, `prediction at ${p.ts} = ${v} is from neither model`);
        if (isNew) switched = true;
        else if (Math.abs(v - y2) >= 1e-4) {
          olds++;
          assert.ok(!switched, `old model answered at ${p.ts} after the switch`);
        }
      }
      assert.ok(switched && olds > 0, 'both models answered');
      } finally {
        await stage.stop(2000);
      }
    } finally {
      dir.cleanup();
    }
  });
});

describe('ModelStage stop()', () => {
  const fixture = new URL('../../test/support/inference/stop-exits.ts', import.meta.url).pathname;
  const runChild = (args: string[]) =>
    new Promise<{ code: number | null; out: string; ms: number }>((resolve, reject) => {
      const t0 = performance.now();
      const child = spawn(process.execPath, args, { cwd: new URL('../..', import.meta.url).pathname, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`child still alive 20 s after start: something kept it running; output: ${out}`));
      }, 20_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, out, ms: performance.now() - t0 });
      });
    });

  it('leaves no worker, session, timer or watcher: the process exits by itself (node --import tsx)', async () => {
    const r = await runChild(['--import', 'tsx', fixture]);
    assert.equal(r.code, 0);
    assert.match(r.out, /stopped predictions=497 workers=0/);
  });

  it('works when tsx is registered in-process, as a CLI entry would (workers bootstrap tsx themselves)', async () => {
    const r = await runChild(['--input-type=module', '-e', `import { register } from 'tsx/esm/api'; register(); await import(${JSON.stringify(fixture)});`]);
    assert.equal(r.code, 0);
    assert.match(r.out, /stopped predictions=497 workers=0/);
  });
});
