import type { GatewayEvent, Prediction } from '../core/sample.ts';
import type { ThresholdConfig } from './config.ts';

/**
 * Raises an event when a prediction field crosses its level and another when it is back past
 * the `clear` level (hysteresis): a score hovering around the level raises one event, not many.
 * With `clearAfter`, the field must stay past `clear` that long (prediction timestamps, so replayed
 * data behaves as live data) before the event ends: one anomaly whose score dips is one event.
 */
export class ThresholdTracker {
  private readonly active: boolean[];
  /** per threshold: timestamp the field went past clear during an active event, NaN while it has not */
  private readonly pastClear: Float64Array;
  constructor(private readonly model: string, private readonly list: readonly ThresholdConfig[]) {
    this.active = list.map(() => false);
    this.pastClear = new Float64Array(list.length).fill(NaN);
  }

  evaluate(p: Prediction, into: GatewayEvent[] = []): GatewayEvent[] {
    this.list.forEach((t, i) => {
      const v = p.outputs[t.field];
      if (v === undefined || Number.isNaN(v)) return;
      const up = t.above !== undefined;
      const level = (up ? t.above : t.below)!;
      const clear = t.clear ?? level;
      if (!this.active[i]) {
        if (up ? v > level : v < level) {
          this.active[i] = true;
          this.pastClear[i] = NaN;
          into.push({
            source: this.model, kind: t.kind, ts: p.ts, severity: t.severity,
            message: `${this.model}: ${t.field} = ${fmt(v)} ${up ? 'above' : 'below'} ${level}`,
            data: { field: t.field, value: v, level, state: 'raised' },
          });
        }
      } else if (up ? v < clear : v > clear) {
        if (Number.isNaN(this.pastClear[i]!)) this.pastClear[i] = p.ts;
        if (p.ts - this.pastClear[i]! < (t.clearAfter ?? 0)) return;
        this.active[i] = false;
        into.push({
          source: this.model, kind: `${t.kind}-cleared`, ts: p.ts, severity: 'info',
          message: `${this.model}: ${t.field} = ${fmt(v)} back ${up ? 'below' : 'above'} ${clear}`,
          data: { field: t.field, value: v, level: clear, state: 'cleared' },
        });
      } else if (up ? v > clear : v < clear) {
        this.pastClear[i] = NaN; // back in the event's range: the clear hold starts over
      }
    });
    return into;
  }

  /** which thresholds are raised right now, for the probe */
  raised(): string[] {
    return this.list.filter((_, i) => this.active[i]).map((t) => `${t.field} ${t.above !== undefined ? '>' : '<'} ${t.above ?? t.below}`);
  }
}

function fmt(v: number): string {
  return Number(v.toPrecision(4)).toString();
}
