import type { z } from 'zod';
import type { StageContext, TypedSchema } from '../core/contracts.ts';
import type { StageMetrics } from '../core/metrics.ts';
import type { sinkBaseShape } from './common.ts';
import type { Transport } from './runner.ts';

/** What every sink config has (sinkBaseShape) plus its `type`. */
export type SinkConfigBase = { [K in keyof typeof sinkBaseShape]: z.output<(typeof sinkBaseShape)[K]> } & { type: string };

/** What a transport may use beyond its StageContext. */
export interface SinkEnv {
  /** the sink's own counters (sink.<id>) */
  metrics: StageMetrics;
  /** the outbox's newest sequence number (Sparkplug's bdSeq/history decisions) */
  headSeq(): number;
}

/**
 * A sink, listed explicitly in src/sinks/registry.ts: one folder per sink (README.md with a
 * config example, sample.yaml, config.ts, its code, tests, testcases/). C is its schema's output:
 * the runner hands `create` only configs that schema produced (the `sinks:` union is
 * discriminated on `type`, and the registry is looked up by that `type`).
 */
export interface SinkDefinition<C extends SinkConfigBase = SinkConfigBase> {
  type: string;
  schema: TypedSchema<C>;
  /** chunks sent but not yet confirmed (1 where the upstream needs strict order, e.g. a file) */
  maxInFlight(config: C): number;
  create(config: C, ctx: StageContext, env: SinkEnv): Transport;
}

/** Types a sink from its schema and lists it as a SinkDefinition (methods are bivariant in C). */
export function defineSink<C extends SinkConfigBase>(d: SinkDefinition<C>): SinkDefinition {
  return d;
}
