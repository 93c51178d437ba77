import { z } from 'zod';
import { idSchema } from '../config/common.ts';
import { duration } from '../config/units.ts';

/** Fields every sink has. */
export const sinkBaseShape = {
  id: idSchema().describe('unique sink id; also its outbox cursor name'),
  enabled: z.boolean().default(true).describe('set false to keep a sink in the file without running it (its cursor is removed at start)'),
  batchSize: z.number().int().positive().default(500).describe('records read from the outbox per chunk'),
  backoff: z
    .strictObject({
      initial: duration().prefault(500).describe('first retry delay ceiling'),
      max: duration().prefault(30_000).describe('longest retry delay'),
    })
    .prefault({})
    .describe('retry backoff (exponential, full jitter) while the upstream is down'),
};
