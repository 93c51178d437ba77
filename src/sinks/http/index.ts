// The HTTP sink as src/sinks/registry.ts lists it.
import { defineSink } from '../plugin.ts';
import { httpSinkSchema } from './config.ts';
import { HttpTransport } from './http.ts';

export const httpSink = defineSink({
  type: 'http',
  schema: httpSinkSchema,
  maxInFlight: (cfg) => cfg.maxInFlight,
  create: (cfg, ctx) => new HttpTransport(cfg, ctx),
});
