import type { Channel } from '../core/channel.ts';
import type { Metrics } from '../core/metrics.ts';
import type { ProbeResult } from '../core/probe.ts';
import type { SampleBatch } from '../core/sample.ts';
import type { Supervisor } from '../core/supervisor.ts';
import type { AlarmView, GatewayEventInput, Stage } from '../core/contracts.ts';
import type { Taps } from './taps.ts';

/** A source as the health side sees it (SourceStage fits). */
export interface SourceView {
  readonly name: string;
  readonly kind: 'source';
  readonly channel: Channel<SampleBatch>;
  readonly supervisor: Supervisor;
  readonly lastHeartbeat: number;
  probe(): ProbeResult;
}

/**
 * What the health stage reads from the running pipeline (Pipeline fits). Getters, not copies:
 * a reload changes the stage list under it.
 */
export interface HealthView {
  stages(): readonly Stage[];
  readonly sources: readonly SourceView[];
  readonly router: { readonly lastBatchTime: number; readonly batchesRouted: number };
  readonly metrics: Metrics;
  readonly taps: Taps;
  readonly alarms?: AlarmView;
  /** model id -> its thresholds, for the chart's threshold lines */
  readonly config?: { models: readonly { id: string; thresholds?: readonly { field: string; above?: number; below?: number }[] }[] };
  /** the pipeline's source watchdog, when it runs */
  readonly watchdog?: { restarts(name?: string): number };
  /** gateway events sent upstream through the outbox (rate-limited per key) */
  readonly events?: { emit(e: GatewayEventInput): boolean };
}
