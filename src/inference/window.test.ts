import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Sample, SampleBatch } from '../core/sample.ts';
import { modelInputSchema } from './config.ts';
import { WindowAssembler } from './window.ts';

const input = (over: Record<string, unknown>) =>
  modelInputSchema.parse({ name: 'x', features: [{ tag: 'p/a' }], window: 3, ...over });

const s = (tag: string, ts: number, value: Sample['value'], quality: Sample['quality'] = 'good'): Sample => ({ source: 'p', tag, ts, value, quality });
const batch = (...samples: Sample[]): SampleBatch => ({ source: 'p', samples, receivedAt: 0 });

describe('WindowAssembler', () => {
  it('slides windows of the driving tag with the configured stride, time-major and normalised', () => {
    const a = new WindowAssembler(input({ stride: 2, features: [{ tag: 'p/a', normalise: { mean: 10, std: 2 } }] }));
    const w = a.push(batch(...[10, 12, 14, 16, 18, 20].map((v, i) => s('a', i, v))));
    // windows end at rows 2 and 4 (stride 2); row 5 waits for the next stride
    assert.deepEqual(w.map((x) => [...x.data]), [[0, 1, 2], [2, 3, 4]]);
    assert.deepEqual(w.map((x) => x.ts), [2, 4]);
    assert.equal(a.wants('p'), true);
    assert.equal(a.wants('q'), false);
  });

  it('samples-and-holds slower tags by timestamp, whatever the order inside a batch', () => {
    const a = new WindowAssembler(input({ window: 2, features: [{ tag: 'p/fast' }, { tag: 'p/slow', normalise: { min: 0, max: 100 } }] }));
    // slow at t=0 and t=2; fast every t; the slow sample at t=2 arrives after fast@2 in the batch
    const w = a.push(batch(s('fast', 0, 1), s('slow', 0, 50), s('fast', 1, 2), s('fast', 2, 3), s('slow', 2, 100), s('fast', 3, 4)));
    assert.deepEqual(w.map((x) => [...x.data]), [[1, 0.5, 2, 0.5], [2, 0.5, 3, 1], [3, 1, 4, 1]]);
  });

  it('onBad skip: a bad sample skips every window holding its row, counted', () => {
    const a = new WindowAssembler(input({}));
    const w = a.push(batch(s('a', 0, 1), s('a', 1, 2), s('a', 2, null, 'bad'), s('a', 3, 4), s('a', 4, 5), s('a', 5, 6)));
    // rows 0..5, row 2 bad: windows ending at 2, 3, 4 skipped; 5 ok
    assert.deepEqual(w.map((x) => [...x.data]), [[4, 5, 6]]);
    assert.equal(a.counts.badSamples, 1);
    assert.equal(a.counts.skippedWindows, 3);
  });

  it('onBad impute: a bad or NaN sample takes the last good value, counted', () => {
    const a = new WindowAssembler(input({ onBad: 'impute' }));
    const w = a.push(batch(s('a', 0, 1), s('a', 1, Number.NaN), s('a', 2, 'text'), s('a', 3, 4, 'bad')));
    assert.deepEqual(w.map((x) => [...x.data]), [[1, 1, 1], [1, 1, 1]]);
    assert.equal(a.counts.badSamples, 3);
    assert.equal(a.counts.imputed, 3);
  });

  it('maxHold: a held value older than the limit makes the row bad', () => {
    const a = new WindowAssembler(input({ window: 1, maxHold: 1500, features: [{ tag: 'p/a' }, { tag: 'p/b' }] }));
    const w = a.push(batch(s('b', 0, 9), s('a', 1000, 1), s('a', 2000, 2), s('a', 3000, 3)));
    assert.deepEqual(w.map((x) => [...x.data]), [[1, 9]]);
    assert.equal(a.counts.skippedWindows, 2);
  });

  it('drops driving samples that are not newer than the last row', () => {
    const a = new WindowAssembler(input({ window: 1 }));
    assert.equal(a.push(batch(s('a', 5, 1))).length, 1);
    assert.equal(a.push(batch(s('a', 5, 2), s('a', 4, 3))).length, 0);
    assert.equal(a.counts.outOfOrder, 2);
  });

  it('reuses a window buffer once it is given back, with the new window\'s values', () => {
    const a = new WindowAssembler(input({}));
    const [first] = a.push(batch(s('a', 0, 1), s('a', 1, 2), s('a', 2, 3)));
    assert.deepEqual([...first!.data], [1, 2, 3]);
    a.buffers.give(first!.data);
    const [second] = a.push(batch(s('a', 3, 4)));
    assert.equal(second!.data, first!.data, 'the same buffer');
    assert.deepEqual([...second!.data], [2, 3, 4]);
    // a buffer not given back is never handed out again
    const [third] = a.push(batch(s('a', 4, 5)));
    assert.notEqual(third!.data, second!.data);
    assert.deepEqual([...second!.data], [2, 3, 4]);
    a.buffers.give(new Float32Array(7)); // the wrong size is not kept
    assert.equal(a.buffers.size, 0);
  });

  it('appends the baseline: a moving average of the rows that left the window, as partial sum and weight', () => {
    const a = new WindowAssembler(input({ window: 2, baseline: { halfLife: 1 }, features: [{ tag: 'p/a' }, { tag: 'p/b' }] }));
    const rows = [[10, 1], [20, 2], [30, 3], [40, 4]];
    const w = a.push(batch(...rows.flatMap(([x, y], t) => [s('b', t, y!), s('a', t, x!)])));
    // half-life 1 row: alpha = 0.5. Window 1 (rows 0-1): nothing left yet. Window 2: row 0 left; window 3: rows 0, 1
    assert.deepEqual(w.map((x) => [...x.data]), [
      [10, 1, 20, 2, 0, 0, 0],
      [20, 2, 30, 3, 5, 0.5, 0.5],
      [30, 3, 40, 4, 12.5, 1.25, 0.75],
    ]);
  });
});
