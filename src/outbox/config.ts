import { z } from 'zod';
import { duration, size } from '../core/units.ts';

// Owned by the outbox issue (#5): the `outbox:` section.
export const outboxSchema = z
  .strictObject({
    path: z.string().optional().describe('SQLite file; default <dataDir>/outbox.db'),
    synchronous: z.enum(['normal', 'full']).default('normal').describe('full survives power loss, normal survives a process crash'),
    commitInterval: duration().prefault(50).describe('longest time rows wait for their group commit'),
    commitRows: z.number().int().positive().default(1000).describe('file rows that trigger a commit at once (a sample batch is one row; the commit runs on the writer thread; larger groups mean fewer, larger writes to flash)'),
    maxBytes: size().prefault(512_000_000).describe('bound on the outbox file'),
    maxAge: duration().optional().describe('records older than this are dropped (counted)'),
    whenFull: z.enum(['block', 'drop-oldest']).default('block').describe('what happens when maxBytes is reached'),
    checkpointInterval: duration().prefault(10_000).describe('how often the WAL is checkpointed (on a worker thread) while rows are written; earlier once the WAL passes half of the free space above diskReserve (at most 64 MB; 64 MB with diskReserve 0). A checkpoint copies each page changed since the last one once, however often it changed: longer intervals write fewer bytes'),
    housekeepingInterval: duration().prefault(1000).describe('how often sink positions are persisted and rows every sink confirmed are deleted (with a commit of new rows, not one per commit: fewer pages written); after a crash a sink replays at most this much, with the same ids'),
    diskReserve: size().prefault('16MB').describe('free space the outbox leaves on its filesystem: below it new records wait (ingestion pauses) while confirmed rows are still deleted, so the outbox heals by draining; 0 turns the check off (SQLite then stops only when the disk is full)'),
    dropLogInterval: duration().prefault(10_000).describe('drops are counted always and logged at most once per this interval'),
  })
  .describe('the SQLite store-and-forward outbox');

export type OutboxConfig = z.output<typeof outboxSchema>;
