import { z } from 'zod';
import { fileSinkSchema } from './file/config.ts';
import { httpSinkSchema } from './http/config.ts';
import { mqttSinkSchema } from './mqtt/config.ts';
import { natsSinkSchema } from './nats/config.ts';

// Owned by the sinks issue (#5): the `sinks:` list, one schema per sink type, each beside its code.
export { fileSinkSchema, type FileSinkConfig } from './file/config.ts';
export { httpSinkSchema, type HttpSinkConfig } from './http/config.ts';
export { mqttSinkSchema, type MqttSinkConfig } from './mqtt/config.ts';
export { natsSinkSchema, type NatsSinkConfig } from './nats/config.ts';

export const sinkSchema = z.discriminatedUnion('type', [mqttSinkSchema, httpSinkSchema, fileSinkSchema, natsSinkSchema]);
export type SinkConfig = z.output<typeof sinkSchema>;
