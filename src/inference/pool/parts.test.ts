// The pool's parts alone: spare buffers, dispatch (least loaded, packing a group, slicing the
// answer) and the latency window.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isFgError } from '../../core/errors.ts';
import { BufferPool } from './buffers.ts';
import { groupSize, type Job, leastLoaded, packGroup, sliceOutputs, type Target } from './dispatch.ts';
import { LatencyWindow } from './latency.ts';

test('buffers: reuse one large enough, else a new one rounded up to a power of two (at least 1 KiB)', () => {
  const pool = new BufferPool(2);
  const a = pool.take(100);
  assert.equal(a.byteLength, 1024);
  const b = pool.take(5_000);
  assert.equal(b.byteLength, 8192);
  pool.give(a);
  pool.give(b);
  assert.equal(pool.take(2_000), b, 'the first spare large enough');
  assert.equal(pool.take(1_000), a);
  assert.equal(pool.size, 0);
});

test('buffers: when full, the smallest spare makes room for a larger one, never for a smaller one', () => {
  const pool = new BufferPool(2);
  const k1 = new ArrayBuffer(1024);
  const k4 = new ArrayBuffer(4096);
  const k16 = new ArrayBuffer(16384);
  pool.give(k1);
  pool.give(k4);
  pool.give(new ArrayBuffer(512)); // smaller than all: dropped
  pool.give(k16); // replaces k1
  assert.equal(pool.size, 2);
  assert.equal(pool.take(10_000), k16);
  assert.equal(pool.take(4_000), k4);
});

const target = (size: number, over: Partial<Target> = {}): Target => ({ ready: true, retiring: false, generation: 1, inFlight: { size }, ...over });

test('dispatch: the ready worker of the generation with the fewest batches, under the depth', () => {
  const a = target(3);
  const b = target(1);
  const c = target(0, { ready: false });
  const d = target(0, { retiring: true });
  const e = target(0, { generation: 0 });
  assert.equal(leastLoaded([a, b, c, d, e], 1, 4), b);
  assert.equal(leastLoaded([a, target(4)], 1, 4), a);
  assert.equal(leastLoaded([target(4), target(5)], 1, 4), undefined);
  assert.equal(leastLoaded([target(1), target(1)], 1, 4)?.inFlight.size, 1);
});

test('dispatch: groups of half the depth, at least one', () => {
  assert.deepEqual([1, 2, 3, 4, 9, 32].map(groupSize), [1, 1, 1, 2, 4, 16]);
});

function job(rows: number, pack: Job['pack']): Job {
  return { rows, pack, attempt: 0, queuedAt: 0, resolve: () => {}, reject: () => {} };
}

test('dispatch: packs a group back to back in one buffer; a pack that throws or returns the wrong length is left out', () => {
  const rowSize = 3;
  const buffers = new BufferPool();
  const g = packGroup([
    { id: 1, job: job(2, (into) => { into.set([1, 2, 3, 4, 5, 6]); }) },
    { id: 2, job: job(1, () => { throw new Error('no data'); }) },
    { id: 3, job: job(1, () => new Float32Array([7, 8, 9])) },
    { id: 4, job: job(1, () => new Float32Array([1, 2])) },
  ], rowSize, buffers, 'm');
  assert.deepEqual(g.jobs, [{ id: 1, rows: 2, offset: 0 }, { id: 3, rows: 1, offset: 6 }]);
  assert.deepEqual(Array.from(g.data.subarray(0, 9)), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(g.data.length, 15, 'sized for every job');
  assert.deepEqual(g.failed.map((f) => f.id), [2, 4]);
  const wrong = g.failed[1]!.error;
  assert.ok(isFgError(wrong) && wrong.code === 'FG_E_MODEL_RUN');
  assert.match((wrong as Error).message, /^m: batch input holds 2 values, expected 3$/);
});

test('dispatch: answers sliced per job as views, offsets advancing per output', () => {
  const outputs = { y: new Float32Array([1, 2, 3, 4, 5]), z: new Float32Array([10, 20]) };
  const offsets = [0, 0];
  const first = sliceOutputs(['y', 'z'], outputs, [2, 1], offsets);
  const second = sliceOutputs(['y', 'z'], outputs, [3, 1], offsets);
  assert.deepEqual(Array.from(first.y!), [1, 2]);
  assert.deepEqual(Array.from(first.z!), [10]);
  assert.deepEqual(Array.from(second.y!), [3, 4, 5]);
  assert.deepEqual(Array.from(second.z!), [20]);
  assert.equal(second.y!.buffer, outputs.y.buffer, 'a view, not a copy');
  assert.deepEqual(offsets, [5, 2]);
});

test('latency: p99 over the last N, 0 before any', () => {
  const w = new LatencyWindow(100);
  assert.equal(w.p99(), 0);
  for (let i = 1; i <= 100; i++) w.add(i);
  assert.equal(w.p99(), 100); // index floor(99) of 1..100
  for (let i = 0; i < 100; i++) w.add(1); // the window forgets the old ones
  assert.equal(w.p99(), 1);
  const small = new LatencyWindow(10);
  small.add(5);
  small.add(3);
  assert.equal(small.p99(), 5);
});
