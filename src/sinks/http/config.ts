import { z } from 'zod';
import { duration } from '../../core/units.ts';
import { sinkBaseShape } from '../common.ts';

export const httpSinkSchema = z
  .strictObject({
    ...sinkBaseShape,
    type: z.literal('http'),
    url: z.string().regex(/^https?:\/\//, 'expected http:// or https://').describe('endpoint that receives POSTed batches'),
    format: z.enum(['json', 'ndjson', 'compact']).default('json').describe(
      'json: {"gateway","records":[...]}; ndjson: one record per line; compact: one line per source of the chunk in the MQTT sink\'s ' +
      'format: compact shape (columnar samples, ids as idBase + seq runs; predictions and events as {"gateway","records":[...]}), application/x-ndjson',
    ),
    gzip: z.boolean().default(false).describe('gzip the body (Content-Encoding: gzip)'),
    headers: z.record(z.string(), z.string()).default({}).describe('extra headers, e.g. Authorization: "Bearer ${env:TOKEN}" (values never logged)'),
    timeout: duration().prefault(10_000).describe('a request that takes longer is retried'),
    maxInFlight: z.number().int().positive().default(1).describe('requests awaiting a response; 1 keeps the server seeing batches strictly in order'),
    tls: z
      .strictObject({
        ca: z.string().optional().describe('CA certificate file (PEM)'),
        cert: z.string().optional(),
        key: z.string().optional(),
        rejectUnauthorized: z.boolean().default(true),
      })
      .optional(),
  })
  .describe('POST batches to an HTTP endpoint');

export type HttpSinkConfig = z.output<typeof httpSinkSchema>;
