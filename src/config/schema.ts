import { hostname } from 'node:os';
import { z } from 'zod';
import { driverSchemas } from '../../drivers/schemas.ts';
import { alarmsSchema } from '../alarms/config.ts';
import { toId } from '../core/ids.ts';
import { idSchema } from '../core/config-common.ts';
import { brokerSchema } from '../broker/config.ts';
import { healthSchema } from '../health/config.ts';
import { modelSchema } from '../inference/config.ts';
import { outboxSchema } from '../outbox/config.ts';
import { sinkSchema } from '../sinks/config.ts';
import type { DriverSchemas, SimulatorConfigBase, SourceConfigBase, TypedSchema } from '../core/contracts.ts';

/**
 * A union over the `type` field, tolerant of zero or one member. Its output is the base type the
 * pipeline works with; each driver gets its own type back through its DriverDefinition.
 */
function byType<T extends { type: string }>(schemas: TypedSchema<T>[], what: string): z.ZodType<T> {
  const [first, ...rest] = schemas;
  if (!first) return z.never().describe(`no ${what} types are registered`);
  if (rest.length === 0) return first;
  return z.discriminatedUnion('type', [first, ...rest]);
}

export const gatewaySchema = z
  .strictObject({
    // the default is applied by a transform, not .default(), so docs and JSON Schema do not carry this machine's name
    id: idSchema().optional()
      .transform((v) => v ?? toId(hostname()))
      .describe('this gateway\'s id: in record ids, topics and Sparkplug node ids (default: the host name)'),
    dataDir: z.string().default('./data').describe('where the outbox, certificates and state live'),
  })
  .describe('the gateway itself');

export const logSchema = z
  .strictObject({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    format: z.enum(['auto', 'json', 'pretty']).default('auto').describe('auto: human-readable on a TTY, JSON otherwise'),
  })
  .describe('logging (pino)');

/** The whole configuration schema, built from the registered drivers' schemas. */
export function buildConfigSchema(list: readonly DriverSchemas[] = driverSchemas) {
  const source = byType<SourceConfigBase>(list.map((d) => d.schema), 'source');
  const simulator = byType<SimulatorConfigBase>(list.flatMap((d) => (d.simulator ? [d.simulator.schema] : [])), 'simulator');
  return z
    .strictObject({
      $schema: z.string().optional().describe('JSON Schema reference for editors; ignored'),
      gateway: gatewaySchema.prefault({}),
      simulators: z.array(simulator).default([]).describe('simulated devices started in-process before the sources (demos, tests)'),
      sources: z.array(source).default([]).describe('devices to read: one entry per connection'),
      models: z.array(modelSchema).default([]).describe('ONNX models run on windows of samples'),
      alarms: alarmsSchema,
      outbox: outboxSchema.prefault({}),
      sinks: z.array(sinkSchema).default([]).describe('upstreams the outbox forwards to'),
      broker: brokerSchema.prefault({}),
      health: healthSchema.prefault({}),
      log: logSchema.prefault({}),
    });
}

export const configSchema = buildConfigSchema();
export type FieldgateConfig = z.output<typeof configSchema>;
