import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { thresholdSchema } from './config.ts';
import { ThresholdTracker } from './thresholds.ts';

describe('ThresholdTracker', () => {
  it('raises once per excursion and clears only past the hysteresis level', () => {
    const t = new ThresholdTracker('m', [thresholdSchema.parse({ field: 'score', above: 1, clear: 0.7, kind: 'anomaly' })]);
    const seq = [0.5, 1.2, 0.9, 1.3, 0.8, 0.6, 1.1];
    const kinds = seq.map((v, i) => t.evaluate({ model: 'm', ts: i, outputs: { score: v }, latencyMs: 0 }).map((e) => `${e.kind}@${e.ts}`));
    assert.deepEqual(kinds.flat(), ['anomaly@1', 'anomaly-cleared@5', 'anomaly@6']);
    assert.deepEqual(t.raised(), ['score > 1']);
  });

  it('with clearAfter, ends an event only once the field stayed past clear that long (source time)', () => {
    const t = new ThresholdTracker('m', [thresholdSchema.parse({ field: 'score', above: 1, clear: 0.7, clearAfter: '10s', kind: 'anomaly' })]);
    // ts in seconds: dips below clear at 2 s and 6 s are shorter than 10 s (one event); the one from 9 s lasts
    const seq: [number, number][] = [[0, 0.5], [1, 1.5], [2, 0.5], [5, 0.5], [6, 0.9], [7, 0.6], [8, 1.2], [9, 0.3], [15, 0.3], [19, 0.4], [20, 1.1]];
    const ev = seq.flatMap(([s, v]) => t.evaluate({ model: 'm', ts: s * 1000, outputs: { score: v }, latencyMs: 0 }));
    assert.deepEqual(ev.map((e) => `${e.kind}@${e.ts / 1000}`), ['anomaly@1', 'anomaly-cleared@19', 'anomaly@20']);
  });

  it('supports below-thresholds', () => {
    const t = new ThresholdTracker('m', [thresholdSchema.parse({ field: 'v', below: 10, clear: 12, severity: 'critical' })]);
    const ev = [11, 9, 11, 13].flatMap((v, i) => t.evaluate({ model: 'm', ts: i, outputs: { v }, latencyMs: 0 }));
    assert.deepEqual(ev.map((e) => [e.kind, e.ts, e.severity]), [['threshold', 1, 'critical'], ['threshold-cleared', 3, 'info']]);
  });

  it('refuses thresholds without a level or with clear on the wrong side', () => {
    assert.equal(thresholdSchema.safeParse({ field: 'v' }).success, false);
    assert.equal(thresholdSchema.safeParse({ field: 'v', above: 1, clear: 2 }).success, false);
    assert.equal(thresholdSchema.safeParse({ field: 'v', below: 1, clear: 0 }).success, false);
  });
});
