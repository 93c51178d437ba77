import type { StageContext } from '../core/contracts.ts';
import type { OutboxConfig } from './config.ts';
import { type Outbox, OutboxImpl } from './outbox.ts';

export type { Outbox, OutboxCursor, OutboxEvent, OutboxReconfigured, OutboxStats, SinkSourceAccounting, SourceAccounting } from './outbox.ts';
export type { LagBound, SkipReason } from './lag.ts';
export type { OutboxRecord, RecordKind } from './records.ts';
export { outboxSchema, type OutboxConfig } from './config.ts';

/**
 * The SQLite store-and-forward outbox. `start()` opens the file (default `<dataDir>/outbox.db`),
 * runs the integrity check and starts the checkpoint worker; `stop()` commits what is pending and
 * closes. Sinks take their cursor with `outbox.cursor(sinkId)` before or after start.
 */
export function createOutbox(cfg: OutboxConfig, ctx: StageContext): Outbox {
  return new OutboxImpl(cfg, ctx);
}
