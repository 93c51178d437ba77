// The NATS JetStream sink as src/sinks/registry.ts lists it.
import { defineSink } from '../plugin.ts';
import { natsSinkSchema } from './config.ts';
import { NatsTransport } from './nats.ts';

export const natsSink = defineSink({
  type: 'nats',
  schema: natsSinkSchema,
  maxInFlight: (cfg) => cfg.maxInFlight,
  create: (cfg, ctx, env) => new NatsTransport(cfg, ctx, env.metrics),
});
