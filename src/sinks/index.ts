import { FgError } from '../core/errors.ts';
import type { Outbox } from '../outbox/index.ts';
import type { Stage, StageContext } from '../core/contracts.ts';
import type { SinkConfig } from './config.ts';
import type { SinkDefinition } from './plugin.ts';
import { sinks } from './registry.ts';
import { SinkRunner } from './runner.ts';

export { sinkSchema, type SinkConfig } from './config.ts';
export { sinks, findSink } from './registry.ts';

/**
 * A sink stage: reads its own outbox cursor (named by the sink id) in order and publishes.
 * Create it before or after `outbox.start()`; start it after the outbox, stop it before.
 */
export function createSink(cfg: SinkConfig, outbox: Outbox, ctx: StageContext, list: readonly SinkDefinition[] = sinks): Stage {
  const def = list.find((d) => d.type === cfg.type);
  // the `sinks:` schema admits only registered types; this guards a registry edited without it
  if (!def) throw new FgError('FG_E_CONFIG_INVALID', `sink ${cfg.id}: no sink type "${cfg.type}" is registered`);
  const metrics = ctx.metrics.stage(`sink.${cfg.id}`);
  const transport = def.create(cfg, ctx, { metrics, headSeq: () => outbox.stats().lastSeq });
  const lag = { ...cfg.maxLag, whenBehind: cfg.whenBehind };
  return new SinkRunner({ id: cfg.id, batchSize: cfg.batchSize, maxInFlight: def.maxInFlight(cfg), backoff: cfg.backoff, lag, shedAt: cfg.shedAt }, transport, outbox, ctx);
}
