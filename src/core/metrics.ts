import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Channel } from './channel.ts';

/**
 * The metric families every component emits, so dashboards and alerts need no special cases.
 * Counted per batch: call received(n) once per batch, never once per value.
 */
export class Metrics {
  readonly registry: Registry;
  /** `source` only on the outbox's series (records accepted per source; the identity per source, src/outbox/README.md) */
  readonly received: Counter<'stage' | 'source'>;
  readonly sent: Counter<'stage'>;
  /** `source` only where the stage knows it (the outbox, and its drops per sink) */
  readonly dropped: Counter<'stage' | 'reason' | 'source'>;
  readonly errors: Counter<'stage' | 'code'>;
  readonly overruns: Counter<'stage' | 'reason'>;
  private readonly channels = new Set<Channel<never>>();

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    this.registry = new Registry();
    const registers = [this.registry];
    this.received = new Counter({ name: 'fieldgate_records_received_total', help: 'Records received by a stage', labelNames: ['stage', 'source'], registers });
    this.sent = new Counter({ name: 'fieldgate_records_sent_total', help: 'Records a stage passed on or delivered', labelNames: ['stage'], registers });
    this.dropped = new Counter({ name: 'fieldgate_records_dropped_total', help: 'Records a stage dropped, by reason', labelNames: ['stage', 'reason', 'source'], registers });
    this.errors = new Counter({ name: 'fieldgate_errors_total', help: 'Errors by stage and FG_E_ code', labelNames: ['stage', 'code'], registers });
    this.overruns = new Counter({ name: 'fieldgate_source_overruns_total', help: 'Polls a source skipped, by reason: late (a poll overran its interval: a slow device or a busy machine), full (its channel was full: backpressure from the pipeline) or shed (a connected sink lagged past its shedAt: the overload rule)', labelNames: ['stage', 'reason'], registers });
    const channels = this.channels;
    new Gauge({
      name: 'fieldgate_channel_depth', help: 'Values queued in a channel', labelNames: ['channel'], registers,
      collect() { for (const c of channels) this.set({ channel: c.name }, c.depth); },
    });
    new Gauge({
      name: 'fieldgate_channel_capacity', help: 'Capacity of a channel', labelNames: ['channel'], registers,
      collect() { for (const c of channels) this.set({ channel: c.name }, c.capacity); },
    });
    new Gauge({
      name: 'fieldgate_channel_dropped', help: 'Values a channel dropped, by reason (oldest, newest, conflated)', labelNames: ['channel', 'reason'], registers,
      collect() {
        for (const c of channels) {
          const d = c.stats().dropped;
          for (const r of Object.keys(d) as (keyof typeof d)[]) this.set({ channel: c.name, reason: r }, d[r]);
        }
      },
    });
    new Gauge({
      name: 'fieldgate_channel_blocked_seconds', help: 'Time senders spent blocked on a full channel', labelNames: ['channel'], registers,
      collect() { for (const c of channels) this.set({ channel: c.name }, c.stats().blockedMs / 1000); },
    });
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'fieldgate_' });
  }

  /** Channels whose depth, capacity and drops are exported. */
  watchChannel<T extends {} | null>(ch: Channel<T>): void {
    this.channels.add(ch as unknown as Channel<never>);
  }

  unwatchChannel<T extends {} | null>(ch: Channel<T>): void {
    this.channels.delete(ch as unknown as Channel<never>);
  }

  /** The counters of one stage with its labels bound once. */
  stage(name: string): StageMetrics {
    return new StageMetrics(this, name);
  }
}

export class StageMetrics {
  private readonly rx;
  private readonly tx;
  constructor(private readonly m: Metrics, readonly stage: string) {
    this.rx = m.received.labels({ stage });
    this.tx = m.sent.labels(stage);
    // make the series visible at zero from the start
    this.rx.inc(0);
    this.tx.inc(0);
  }
  received(n: number): void { this.rx.inc(n); }
  sent(n: number): void { this.tx.inc(n); }
  dropped(n: number, reason: string): void { this.m.dropped.labels({ stage: this.stage, reason }).inc(n); }
  error(code: string): void { this.m.errors.labels(this.stage, code).inc(); }
  /** polls skipped (sources): overran the interval, found the channel full, or shed for a slow sink */
  overrun(n: number, reason: 'late' | 'full' | 'shed'): void { this.m.overruns.labels(this.stage, reason).inc(n); }
}
