import type { GatewayEvent } from '../core/sample.ts';
import type { Logger } from '../log.ts';
import type { OutboxWriter } from '../core/contracts.ts';

/** a failing outbox is logged at most this often; every failure is still counted */
const FAIL_LOG_MS = 10_000;

/**
 * The one place alarm events leave for upstream: through the outbox like every record (the
 * tapped writer also shows them among the dashboard's events). Kept small so a shared,
 * rate-limited gateway-event emitter can replace it.
 */
export function outboxEventEmitter(writer: OutboxWriter, log: Logger): { emit(events: GatewayEvent[]): void; failed: number } {
  let lastLog = 0;
  const state = {
    failed: 0,
    emit(events: GatewayEvent[]): void {
      writer.writeEvents(events).catch((err: unknown) => {
        state.failed += events.length;
        const now = Date.now();
        if (now - lastLog >= FAIL_LOG_MS) {
          lastLog = now;
          log.error({ err, events: events.length, failed: state.failed }, 'alarm events could not be written to the outbox');
        }
      });
    },
  };
  return state;
}
