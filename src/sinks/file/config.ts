import { z } from 'zod';
import { size } from '../../core/units.ts';
import { sinkBaseShape } from '../common.ts';

export const fileSinkSchema = z
  .strictObject({
    ...sinkBaseShape,
    type: z.literal('file'),
    path: z.string().describe('JSON lines file (relative paths are relative to the config file)'),
    maxBytes: size().prefault(10_000_000).describe('rotate when the file would grow past this'),
    keep: z.number().int().nonnegative().default(3).describe('rotated files kept: path.1 (newest) .. path.N'),
    fsync: z.boolean().default(false).describe('fsync after each chunk before the cursor moves (survives power loss)'),
    format: z.enum(['records', 'compact']).default('records').describe(
      'records: one record per line (below); compact: one line per source of each chunk in the MQTT sink\'s format: compact shape ' +
      '(columnar samples, ids as idBase + seq runs; predictions and events as {"gateway","records":[...]})',
    ),
  })
  .describe(
    'append JSON lines to a local file, with size-based rotation. With format: records (default) one record per line: ' +
      'a sample {"id","kind":"sample","source","tag","ts","value","quality"[,"reason"]}, ' +
      'a prediction {"id","kind":"prediction","model","ts","outputs":{name: number},"latencyMs"}, ' +
      'an event {"id","kind":"event","source","type","ts","severity","message"[,"data"]}; ' +
      'ts in ms since the epoch; id the stable record id (<gateway>:<epoch>:<seq>), by which an upstream drops a duplicate; int64 values travel as decimal strings',
  );

export type FileSinkConfig = z.output<typeof fileSinkSchema>;
