import { z } from 'zod';
import { WHEN_FULL } from './channel.ts';
import { ID_MAX_LENGTH, ID_PATTERN, ID_RULE } from './ids.ts';

/** An id (see src/core/ids.ts): bounded length, letters, digits, _ . - only. */
export function idSchema(): z.ZodString {
  return z.string().min(1).max(ID_MAX_LENGTH).regex(ID_PATTERN, ID_RULE);
}

/**
 * The bounded channel between a source and the router. No defaults here: a key left out keeps
 * the driver's default (its `channelDefaults`), so `channel: { capacity: 10 }` on an OPC UA
 * source stays drop-oldest (a default here used to switch it to block and 256).
 */
export const channelSchema = z
  .strictObject({
    capacity: z.number().int().positive().optional().describe("batches the channel holds (default: the driver's)"),
    whenFull: z.enum(WHEN_FULL).optional()
      .describe("what happens when the channel is full (default: the driver's): block waits (backpressure), drop-oldest / drop-newest drop a batch, conflate keeps one queued batch per source holding the newest sample of every tag"),
  })
  .describe('bounded channel settings');

export type ChannelConfig = { capacity: number; whenFull: 'block' | 'drop-oldest' | 'drop-newest' | 'conflate' };

/**
 * Fields every source has. A driver's schema is `sourceBase.extend({ type: z.literal('name'), ... })`,
 * built with z.strictObject so unknown keys are errors.
 */
export const sourceBaseShape = {
  id: idSchema().describe('unique source id, used in topics and metrics'),
  enabled: z.boolean().default(true).describe('set false to keep a source in the file without running it'),
};
