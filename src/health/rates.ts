import type { Counter } from 'prom-client';
import type { Metrics } from '../core/metrics.ts';

export interface StageRates {
  /** records per second received by the stage */
  in: number;
  /** records per second passed on or delivered */
  out: number;
}

/**
 * Per-stage rates from the received/sent counters, computed only when someone asks (dashboard,
 * status line): nothing runs while nobody watches. Answers are reused for `minWindowMs`, so
 * several viewers share one window and rates stay smooth.
 */
export class RateTracker {
  private last?: { at: number; rx: Map<string, number>; tx: Map<string, number> };
  private rates = new Map<string, StageRates>();
  private pending?: Promise<Map<string, StageRates>>;

  constructor(private readonly metrics: Metrics, private readonly minWindowMs = 1_000) {}

  /** Takes the first reading (so the first answer has a window to compare with). */
  async prime(): Promise<void> {
    if (!this.last) this.last = await this.read();
  }

  sample(): Promise<Map<string, StageRates>> {
    if (this.last && Date.now() - this.last.at < this.minWindowMs) return Promise.resolve(this.rates);
    this.pending ??= this.compute().finally(() => { this.pending = undefined; });
    return this.pending;
  }

  private async compute(): Promise<Map<string, StageRates>> {
    const cur = await this.read();
    const prev = this.last;
    this.last = cur;
    if (!prev) return this.rates;
    const dt = (cur.at - prev.at) / 1000;
    if (dt <= 0) return this.rates;
    const rates = new Map<string, StageRates>();
    const names = new Set([...cur.rx.keys(), ...cur.tx.keys()]);
    for (const n of names) {
      rates.set(n, {
        in: Math.max(0, ((cur.rx.get(n) ?? 0) - (prev.rx.get(n) ?? 0)) / dt),
        out: Math.max(0, ((cur.tx.get(n) ?? 0) - (prev.tx.get(n) ?? 0)) / dt),
      });
    }
    this.rates = rates;
    return rates;
  }

  private async read(): Promise<{ at: number; rx: Map<string, number>; tx: Map<string, number> }> {
    const [rx, tx] = await Promise.all([byStage(this.metrics.received), byStage(this.metrics.sent)]);
    return { at: Date.now(), rx, tx };
  }
}

async function byStage(c: Counter<'stage'>): Promise<Map<string, number>> {
  const m = new Map<string, number>();
  for (const v of (await c.get()).values) {
    const s = v.labels.stage;
    if (typeof s === 'string') m.set(s, (m.get(s) ?? 0) + v.value);
  }
  return m;
}
