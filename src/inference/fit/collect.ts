/**
 * What `fieldgate model evaluate` runs the real model stage against: no SQLite outbox, the
 * predictions and events kept in memory to be scored, and a silent stage context.
 */
import { Metrics } from '../../core/metrics.ts';
import type { GatewayEvent, Prediction, SampleBatch } from '../../core/sample.ts';
import { silentLogger } from '../../log.ts';
import type { OutboxWriter, StageContext } from '../../core/contracts.ts';
import { configPathResolver } from '../../core/config-paths.ts';

/** An OutboxWriter that keeps everything in memory (the model stage's view of the outbox). */
export class MemoryOutbox implements OutboxWriter {
  readonly predictions: Prediction[] = [];
  readonly events: GatewayEvent[] = [];
  readonly samples: SampleBatch[] = [];
  private waiters: { n: number; resolve: () => void }[] = [];

  async writeSamples(batch: SampleBatch): Promise<void> {
    this.samples.push(batch);
  }
  async writePredictions(p: Prediction[]): Promise<void> {
    for (const x of p) this.predictions.push(x);
    this.waiters = this.waiters.filter((w) => (this.predictions.length >= w.n ? (w.resolve(), false) : true));
  }
  async writeEvents(e: GatewayEvent[]): Promise<void> {
    for (const x of e) this.events.push(x);
  }
  /** resolves once at least n predictions arrived; rejects after ms */
  waitFor(n: number, ms = 20_000): Promise<void> {
    if (this.predictions.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${n} predictions, have ${this.predictions.length}`)), ms);
      this.waiters.push({ n, resolve: () => (clearTimeout(t), resolve()) });
    });
  }
}

/** A stage context with no log output, paths relative to `dir`. */
export function quietContext(dir: string, gatewayId = 'test'): StageContext & { metrics: Metrics } {
  return { gateway: { id: gatewayId, dataDir: dir }, log: silentLogger(), metrics: new Metrics(), resolvePath: configPathResolver(dir) };
}
