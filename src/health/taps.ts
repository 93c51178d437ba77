import type { GatewayEvent, Prediction, SampleBatch } from '../core/sample.ts';
import { Ring } from './ring.ts';
import { TagStore, type TagStoreOptions } from './tags.ts';

/**
 * What the health side sees of the data flow where it enters the outbox: the latest predictions
 * and events (bounded rings for the dashboard) and when the outbox last accepted a batch of
 * samples (readiness: data flows end to end). A passive recorder: the pipeline calls it beside
 * the outbox writes (src/pipeline/tapped-writer.ts), so health never sits between two stages.
 * Per batch, nothing per value.
 */
export class Taps {
  readonly predictions: Ring<Prediction>;
  readonly events: Ring<GatewayEvent>;
  /** ms since epoch when the outbox last accepted (committed) samples; 0 = never */
  lastAcceptedAt = 0;
  batchesAccepted = 0;
  /** every tag's latest sample, and its history when `history` is given */
  readonly tags: TagStore;
  /** model outputs ("model.<id>" / output) and gateway figures ("gateway" / "outbox.backlog") over time */
  readonly series?: TagStore;

  constructor(opts: { predictions?: number; events?: number; history?: TagStoreOptions } = {}) {
    this.predictions = new Ring(opts.predictions ?? 300);
    this.events = new Ring(opts.events ?? 100);
    // without history the store still keeps each tag's latest sample (alarms, the tag table):
    // one bucket per tier, a few bytes
    this.tags = new TagStore(opts.history ?? { fine: { resolution: 1_000, span: 1_000 }, coarse: { resolution: 1_000, span: 1_000 }, maxTags: 1_000_000 });
    if (opts.history) this.series = new TagStore({ ...opts.history, maxTags: 10_000 });
  }

  /** Records a gateway event (health transitions, restarts, reloads) next to the models' events. */
  event(e: Omit<GatewayEvent, 'ts'> & { ts?: number }): void {
    this.events.push({ ...e, ts: e.ts ?? Date.now() });
  }

  /** A batch on its way into the outbox: every tag's latest sample (and history). */
  samples(batch: SampleBatch): void {
    this.tags.record(batch);
  }

  /** The outbox committed a batch of samples. */
  samplesAccepted(): void {
    this.lastAcceptedAt = Date.now();
    this.batchesAccepted++;
  }

  predictionsWritten(list: readonly Prediction[]): void {
    for (const p of list) {
      this.predictions.push(p);
      if (this.series) for (const k in p.outputs) this.series.put(`model.${p.model}`, k, p.ts, p.outputs[k]!);
    }
  }

  eventsWritten(list: readonly GatewayEvent[]): void {
    for (const e of list) this.events.push(e);
  }
}
