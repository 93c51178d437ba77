import type { GatewayEvent, Prediction } from '../core/sample.ts';
import type { ThresholdConfig } from './config.ts';

/**
 * Raises an event when a prediction field crosses its level and another when it is back past
 * the `clear` level (hysteresis): a score hovering around the level raises one event, not many.
 */
export class ThresholdTracker {
  private readonly active: boolean[];
  constructor(private readonly model: string, private readonly list: readonly ThresholdConfig[]) {
    this.active = list.map(() => false);
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
          into.push({
            source: this.model, kind: t.kind, ts: p.ts, severity: t.severity,
            message: `${this.model}: ${t.field} = ${fmt(v)} ${up ? 'above' : 'below'} ${level}`,
            data: { field: t.field, value: v, level, state: 'raised' },
          });
        }
      } else if (up ? v < clear : v > clear) {
        this.active[i] = false;
        into.push({
          source: this.model, kind: `${t.kind}-cleared`, ts: p.ts, severity: 'info',
          message: `${this.model}: ${t.field} = ${fmt(v)} back ${up ? 'below' : 'above'} ${clear}`,
          data: { field: t.field, value: v, level: clear, state: 'cleared' },
        });
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
