import { z } from 'zod';

// Owned by the sinks issue (#5): the `sinks:` list, one schema per sink type.
const sinkBase = {
  id: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only').describe('unique sink id; also its outbox cursor name'),
  enabled: z.boolean().default(true),
};

export const fileSinkSchema = z.strictObject({
  ...sinkBase,
  type: z.literal('file'),
  path: z.string().describe('JSON lines file'),
});

export const sinkSchema = z.discriminatedUnion('type', [fileSinkSchema]);
export type SinkConfig = z.output<typeof sinkSchema>;
