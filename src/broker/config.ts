import { z } from 'zod';

/** The embedded MQTT broker: for demos and small sites without a broker of their own. */
export const brokerSchema = z
  .strictObject({
    enabled: z.boolean().default(false).describe('start an MQTT broker (aedes) inside fieldgate'),
    host: z.string().default('127.0.0.1').describe('address to bind; 127.0.0.1 unless other machines must subscribe'),
    port: z.number().int().min(0).max(65535).default(1883).describe('0 picks a free port'),
  })
  .describe('an embedded MQTT broker (aedes) for demos and small sites');

export type BrokerConfig = z.output<typeof brokerSchema>;
