import { Channel } from '../core/channel.ts';
import type { Metrics, StageMetrics } from '../core/metrics.ts';
import type { ProbeResult } from '../core/probe.ts';
import { mergeNewestPerTag, type SampleBatch } from '../core/sample.ts';
import { Supervisor, type SupervisorStatus } from '../core/supervisor.ts';
import type { ChannelConfig } from '../core/config-common.ts';
import type { Logger } from '../log.ts';
import type { DriverDefinition, Source, SourceConfigBase, Stage, StageContext } from '../core/contracts.ts';

/** a source's config as its schema produced it (channel keys left out keep the driver's channelDefaults) */
export type SourceStageConfig = SourceConfigBase;

/**
 * One source: its driver instance run by a supervisor, and its bounded channel to the router.
 * The channel outlives restarts of the driver, so a restart loses nothing already queued.
 */
export class SourceStage implements Stage {
  readonly kind = 'source' as const;
  readonly name: string;
  readonly channel: Channel<SampleBatch>;
  readonly supervisor: Supervisor;
  readonly stageMetrics: StageMetrics;
  private readonly source: Source;
  private lastBeat = Date.now();
  private readonly log: Logger;
  private readonly metrics: Metrics;

  constructor(readonly config: SourceStageConfig, driver: DriverDefinition, ctx: StageContext) {
    this.name = `source.${config.id}`;
    this.log = ctx.log.child({ stage: this.name, source: config.id });
    this.metrics = ctx.metrics;
    const ch: ChannelConfig = { ...driver.channelDefaults, ...withoutUndefined(config.channel ?? {}) };
    this.channel = new Channel<SampleBatch>({
      name: this.name,
      capacity: ch.capacity,
      whenFull: ch.whenFull,
      // conflate keeps one queued batch per source holding the newest sample of every tag (see
      // mergeNewestPerTag): keying on a batch's first tag let a batch replace one with other tags
      keyOf: (b) => b.source,
      merge: mergeNewestPerTag,
    });
    this.stageMetrics = ctx.metrics.stage(this.name);
    // the skipped-polls series are visible at zero from the start
    this.stageMetrics.overrun(0, 'late');
    this.stageMetrics.overrun(0, 'full');
    this.stageMetrics.overrun(0, 'shed');
    const overload = ctx.overload;
    this.source = driver.create(config, {
      ...ctx,
      log: this.log,
      stageMetrics: this.stageMetrics,
      out: this.channel,
      heartbeat: () => {
        this.lastBeat = Date.now();
      },
      // the overload rule: a poller asks before each poll (src/pipeline/overload.ts)
      ...(overload ? { pollGate: () => overload.gate() } : {}),
    });
    // watched only once the driver accepted its config: a create() that throws (a reload that
    // gets rolled back) leaves no channel behind in the metrics
    ctx.metrics.watchChannel(this.channel);
    this.supervisor = new Supervisor({
      name: this.name,
      run: (signal) => this.source.run(signal),
      log: this.log,
      onError: (code) => this.stageMetrics.error(code),
    });
  }

  /** ms since epoch of the last completed poll or notification */
  get lastHeartbeat(): number {
    return this.lastBeat;
  }

  async start(): Promise<void> {
    this.lastBeat = Date.now();
    this.supervisor.start();
  }

  /** Stops the driver; the channel is closed so the router drains what is queued. */
  async stop(deadlineMs: number): Promise<void> {
    await this.supervisor.stop(deadlineMs);
    this.channel.close();
  }

  supervisorStatus(): SupervisorStatus {
    return this.supervisor.status();
  }

  probe(): ProbeResult {
    const st = this.supervisor.status();
    if (st.state === 'failed') return { state: 'down', reason: `failed after ${st.restarts} restarts: ${st.lastError?.message ?? 'unknown'}` };
    if (st.state === 'backoff') return { state: 'down', reason: `restarting after: ${st.lastError?.message ?? 'error'}` };
    if (st.state !== 'running') return { state: 'down', reason: st.state };
    return this.source.probe();
  }

  /** Unregisters the channel from metrics (after a reload removed this source). */
  dispose(): void {
    this.metrics.unwatchChannel(this.channel);
  }
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
