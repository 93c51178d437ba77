import type { OutboxWriter } from '../core/contracts.ts';
import type { GatewayEvent, Prediction, SampleBatch } from '../core/sample.ts';

/** What observes the writes into the outbox (the health side's Taps fits). */
export interface WriteObserver {
  samples(batch: SampleBatch): void;
  samplesAccepted(): void;
  predictionsWritten(list: readonly Prediction[]): void;
  eventsWritten(list: readonly GatewayEvent[]): void;
}

/**
 * The outbox writer the router, models and alarms use: the outbox's own promises, with the
 * observer told beside them. The writer hands back the outbox's promise itself (the observer
 * hangs off it), so an observer never delays or fails a write.
 */
export function tappedWriter(outbox: OutboxWriter, observer: WriteObserver): OutboxWriter {
  const accepted = (): void => observer.samplesAccepted();
  const ignore = (): void => undefined;
  return {
    writeSamples(batch) {
      observer.samples(batch);
      const done = outbox.writeSamples(batch);
      done.then(accepted, ignore);
      return done;
    },
    writePredictions(list) {
      observer.predictionsWritten(list);
      return outbox.writePredictions(list);
    },
    writeEvents(list) {
      observer.eventsWritten(list);
      return outbox.writeEvents(list);
    },
  };
}
