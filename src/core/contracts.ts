import type { z } from 'zod';
import type { Channel } from './channel.ts';
import type { Metrics, StageMetrics } from './metrics.ts';
import type { ProbeResult } from './probe.ts';
import type { EventSeverity, GatewayEvent, Prediction, SampleBatch, SampleValue } from './sample.ts';
import type { Logger } from '../log.ts';
import type { ChannelConfig } from './config-common.ts';

/** What every stage gets from the pipeline. */
export interface StageContext {
  /** dataDir is already resolved to an absolute path */
  gateway: { id: string; dataDir: string };
  log: Logger;
  metrics: Metrics;
  /** relative paths in a config file are relative to that file's folder */
  resolvePath(p: string): string;
  /** the overload rule (src/pipeline/overload.ts): sinks report their load, pollers ask before each poll */
  overload?: OverloadControl;
}

/** What a running sink reports to the overload rule; undefined while it is not connected (or sheds nothing). */
export interface SinkLoad {
  readonly sink: string;
  /** lag at which this sink asks the sources to shed (ms; 0: never) */
  readonly shedAt: number;
  /** how long the oldest record it has not had confirmed has been committed (ms) */
  readonly lagMs: number;
  /** its cursor position (records delivered or skipped) */
  readonly acked: number;
  /** records committed after its cursor (acked + backlog: the log's end) */
  readonly backlog: number;
  /** performance.now() of its last confirmation (or of its connection) */
  readonly lastAckAt: number;
  /**
   * A queue in front of a bounded channel (the router's wait before the outbox): its input rate
   * equals its output once the channel is full, so a lag above shedAt that does not fall is a cut.
   */
  readonly queue?: boolean;
}

export interface LoadReporter {
  overloadReport(): SinkLoad | undefined;
}

export interface OverloadControl {
  /** a running sink registers; the returned function unregisters it */
  register(sink: LoadReporter): () => void;
  /** a poll gate for one poll loop: false means skip this tick (count it as an overrun, reason shed) */
  gate(): () => boolean;
}

export type StageKind = 'source' | 'router' | 'model' | 'outbox' | 'sink' | 'health' | 'simulator';

/** A long-lived part of the pipeline, started in dependency order and stopped in reverse. */
export interface Stage {
  readonly name: string;
  readonly kind: StageKind;
  start(): Promise<void>;
  /** stop taking input, drain within the deadline, release every handle */
  stop(deadlineMs: number): Promise<void>;
  probe(): ProbeResult;
}

// ---- sources ---------------------------------------------------------------------------------

export interface SourceContext extends StageContext {
  /** the source's own counters (received = samples read, errors by code) */
  stageMetrics: StageMetrics;
  /** the source's bounded channel: one SampleBatch per poll or notification */
  out: Channel<SampleBatch>;
  /** call after every completed poll/notification: the watchdog restarts a source whose heartbeat stops */
  heartbeat(): void;
  /**
   * A poll gate for one poll loop (one per loop, created at its start): a false answer means
   * skip this tick to shed load, counted as `overrun(1, 'shed')`. Absent: never shed.
   */
  pollGate?(): () => boolean;
}

/** A running source. `run` is supervised: a throw restarts it with backoff. */
export interface Source {
  run(signal: AbortSignal): Promise<void>;
  probe(): ProbeResult;
}

export interface SimulatorHandle {
  /** where clients connect, for the log line that tells the user */
  address: string;
  stop(): Promise<void>;
}

/** What the pipeline needs of every source config (sourceBaseShape plus the optional channel). */
export interface SourceConfigBase {
  id: string;
  type: string;
  /** false: kept in the file, not run (sourceBaseShape defaults it to true) */
  enabled?: boolean;
  /** keys left out keep the driver's channelDefaults */
  channel?: Partial<ChannelConfig>;
  /** and the driver's own keys */
  [key: string]: unknown;
}

/** A schema whose output is T and whose `type` field can discriminate a union (a z.strictObject with `type: z.literal(...)`). */
export type TypedSchema<T> = z.ZodType<T> & z.core.$ZodTypeDiscriminable;

export interface SimulatorConfigBase {
  id: string;
  type: string;
  /** and the simulator's own keys */
  [key: string]: unknown;
}

/**
 * A driver as the config layer sees it: its schemas and what a config produces, no driver code
 * (drivers/<name>/schemas.ts, listed in drivers/schemas.ts). `validate` loads only these.
 */
export interface DriverSchemas<C extends SourceConfigBase = SourceConfigBase, S extends SimulatorConfigBase = SimulatorConfigBase> {
  type: string;
  description: string;
  /** a z.strictObject with `type: z.literal(<type>)`, built from sourceBaseShape */
  schema: TypedSchema<C>;
  /** the channel policy when a source does not set one (e.g. OPC UA notifications cannot wait) */
  channelDefaults: ChannelConfig;
  /** the tag names a source with this config produces (the config check matches model features against them) */
  tagNames?(config: C): string[];
  /** simulator for `fieldgate simulate` and the demo's `simulators:` section */
  simulator?: { schema: TypedSchema<S> };
}

/**
 * A driver, listed explicitly in drivers/index.ts. C and S are its schemas' output types: the
 * pipeline hands `create` only configs its own schema produced (the config's source union is
 * discriminated on `type`, and the pipeline finds the driver by that `type`).
 */
export interface DriverDefinition<C extends SourceConfigBase = SourceConfigBase, S extends SimulatorConfigBase = SimulatorConfigBase>
  extends DriverSchemas<C, S> {
  create(config: C, ctx: SourceContext): Source;
  simulator?: {
    schema: TypedSchema<S>;
    start(config: S, ctx: StageContext): Promise<SimulatorHandle>;
  };
  /** `fieldgate browse`: lists the device's address space as printable text (OPC UA) */
  browse?(config: C, opts: { node?: string; ctx: StageContext; signal: AbortSignal }): Promise<string>;
}

// ---- outbox, models, sinks ---------------------------------------------------------------------

/** The durability point as the router and models see it. */
export interface OutboxWriter {
  /** resolves once the records are committed (accepted); concurrent calls share a group commit */
  writeSamples(batch: SampleBatch): Promise<void>;
  writePredictions(predictions: Prediction[]): Promise<void>;
  writeEvents(events: GatewayEvent[]): Promise<void>;
}

/** A model stage as the router sees it. */
export interface ModelInput {
  readonly name: string;
  /** whether the model uses any tag of this source */
  wants(source: string): boolean;
  /** hands a batch to the window assembler without waiting; drops are counted by the model */
  offer(batch: SampleBatch): void;
}

// ---- events and alarms as the health side sees them ------------------------------------------

/** An event to send upstream. `key` groups what is rate-limited together (default: the kind). */
export interface GatewayEventInput {
  kind: string;
  severity: EventSeverity;
  message: string;
  data?: Record<string, number | string | boolean>;
  key?: string;
  /** default: the emitter's source (`gateway`) */
  source?: string;
}

export type AlarmCondition = 'high' | 'low' | 'bad-quality' | 'no-data';

/** One alarm as the dashboard and /api/alarms show it. */
export interface ActiveAlarm {
  id: string;
  source: string;
  tag: string;
  condition: AlarmCondition;
  severity: EventSeverity;
  message: string;
  /** when it was raised (ms since epoch) */
  since: number;
  value: SampleValue;
  quality: string;
  acknowledged?: { at: number; by: string };
}

/** The alarm engine as the health side sees it (src/alarms/engine.ts implements it). */
export interface AlarmView {
  active(): ActiveAlarm[];
  acknowledge(id: string, by: string): boolean;
  readonly count: number;
}

/**
 * Types a driver from its schemas (C and S are inferred from them) and lists it as a
 * DriverDefinition: the methods taking C and S are checked against the driver's own types here,
 * and the list holds them as the base types the pipeline passes (method parameters are bivariant).
 */
export function defineDriver<C extends SourceConfigBase, S extends SimulatorConfigBase = SimulatorConfigBase>(d: DriverDefinition<C, S>): DriverDefinition {
  return d;
}
