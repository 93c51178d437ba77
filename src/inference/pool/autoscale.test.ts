// The autoscaler and the pipeline depth as numbers in, numbers out.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decideScale, MAX_DEPTH, MIN_DEPTH, pipelineDepth, type ScaleInput } from './autoscale.ts';

const base: ScaleInput = {
  workers: 2, min: 1, max: 4, backlog: 0, inFlight: 0, perWorker: 4, p99: 10, targetP99Ms: 100, sinceLastMs: 10_000, cooldownMs: 5_000,
};
const at = (over: Partial<ScaleInput>) => decideScale({ ...base, ...over });

test('pipeline depth: about 2 ms of compute per worker, 2..32, a fixed value wins', () => {
  assert.equal(pipelineDepth(0), MIN_DEPTH); // nothing measured yet
  assert.equal(pipelineDepth(0.05), MAX_DEPTH); // 2 / 0.05 = 40, capped at 32
  assert.equal(pipelineDepth(0.1), 20);
  assert.equal(pipelineDepth(0.3), 7); // ceil(6.67)
  assert.equal(pipelineDepth(1), MIN_DEPTH);
  assert.equal(pipelineDepth(50), MIN_DEPTH);
  assert.equal(pipelineDepth(0.1, 5), 5);
});

test('scale up on a backlog larger than the workers hold (2 workers x 4 = 8)', () => {
  assert.equal(at({ backlog: 8 }), undefined);
  assert.deepEqual(at({ backlog: 9 }), { to: 3, why: 'backlog 9' });
});

test('scale up on p99 over target, and the reason names both', () => {
  assert.equal(at({ p99: 100 }), undefined);
  assert.deepEqual(at({ p99: 123.45 }), { to: 3, why: 'p99 123.5 ms > 100 ms' });
  // the backlog reason wins when both hold
  assert.deepEqual(at({ p99: 500, backlog: 20 }), { to: 3, why: 'backlog 20' });
});

test('never above max, never below min', () => {
  assert.equal(at({ workers: 4, backlog: 1_000, p99: 1_000 }), undefined);
  assert.equal(at({ workers: 1, backlog: 0, inFlight: 0, p99: 0 }), undefined);
});

test('scale down when idle: no backlog, in flight fits half depth on one worker less, p99 under half the target', () => {
  // 2 workers, depth 4: the rest (1 worker) at half depth holds 2
  assert.deepEqual(at({ inFlight: 2, p99: 49 }), { to: 1, why: 'idle' });
  assert.equal(at({ inFlight: 3, p99: 49 }), undefined);
  assert.equal(at({ inFlight: 0, p99: 50 }), undefined);
  assert.equal(at({ backlog: 1, p99: 0 }), undefined);
});

test('the cooldown holds any decision', () => {
  assert.equal(at({ backlog: 100, sinceLastMs: 4_999 }), undefined);
  assert.deepEqual(at({ backlog: 100, sinceLastMs: 5_000 }), { to: 3, why: 'backlog 100' });
});

test('property: a decision moves by exactly one worker and stays within [min, max]', () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 8 }),
    fc.integer({ min: 0, max: 500 }), fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 32 }),
    fc.double({ min: 0, max: 1_000, noNaN: true }), fc.double({ min: 1, max: 500, noNaN: true }),
    (min, extra, w, backlog, inFlight, perWorker, p99, target) => {
      const max = min + extra;
      const workers = Math.min(max, Math.max(min, w));
      const d = decideScale({ workers, min, max, backlog, inFlight, perWorker, p99, targetP99Ms: target, sinceLastMs: 1, cooldownMs: 0 });
      if (d === undefined) return;
      assert.equal(Math.abs(d.to - workers), 1);
      assert.ok(d.to >= min && d.to <= max);
    },
  ));
});
