// The file sink as src/sinks/registry.ts lists it.
import { defineSink } from '../plugin.ts';
import { fileSinkSchema } from './config.ts';
import { FileTransport } from './file.ts';

export const fileSink = defineSink({
  type: 'file',
  schema: fileSinkSchema,
  // one writer appends in order: a second chunk in flight could land before the first
  maxInFlight: () => 1,
  create: (cfg, ctx) => new FileTransport(cfg, ctx),
});
