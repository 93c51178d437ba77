import { z } from 'zod';
import { idSchema } from '../core/config-common.ts';
import { duration, size } from '../core/units.ts';

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
  maxLag: z
    .strictObject({
      records: z.number().int().positive().optional().describe('most records this sink may be behind (unset: no record bound)'),
      bytes: size().prefault('128MB').describe('most outbox bytes this sink may hold back (estimated from the average row size); never more than 80% of outbox.maxBytes'),
      age: duration().optional().describe('oldest record this sink may still be owed (unset: no age bound)'),
    })
    .prefault({})
    .describe('how far this sink may fall behind the newest record before whenBehind applies'),
  shedAt: duration()
    .prefault(500)
    .describe('overload rule: while this sink is connected and confirming but its lag (fieldgate_sink_lag_seconds) passes this, sources shed polls (counted as fieldgate_source_overruns_total{reason="shed"}) until the lag is under half of it; 0 turns it off for this sink. A sink whose upstream is down never sheds: the outbox keeps its records'),
  whenBehind: z
    .enum(['drop-oldest', 'block'])
    .default('drop-oldest')
    .describe('drop-oldest: past maxLag this sink skips its oldest records (counted on it as reason "lag"; other sinks and ingestion carry on); block: it keeps every record until outbox.maxBytes, where outbox.whenFull applies to everyone'),
};

