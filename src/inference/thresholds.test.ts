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
