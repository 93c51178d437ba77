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

/** A driver, listed explicitly in drivers/index.ts. */
export interface DriverDefinition<C extends { id: string; type: string } = { id: string; type: string }> {
  type: string;
  description: string;
  /** a z.strictObject with `type: z.literal(<type>)`, built from sourceBaseShape */
  schema: z.ZodType<C, { type: string }>;
  /** the channel policy when a source does not set one (e.g. OPC UA notifications cannot wait) */
  channelDefaults: ChannelConfig;
  create(config: C, ctx: SourceContext): Source;
  /** the tag names a source with this config produces (the config check matches model features against them) */
  tagNames?(config: C): string[];
  /** simulator for `fieldgate simulate` and the demo's `simulators:` section */
  simulator?: {
    schema: z.ZodType<{ type: string; id: string }, { type: string }>;
    start(config: { type: string; id: string }, ctx: StageContext): Promise<SimulatorHandle>;
  };
  /** `fieldgate browse`: lists the device's address space as printable text (OPC UA) */
  browse?(config: { type: string; id: string }, opts: { node?: string; ctx: StageContext; signal: AbortSignal }): Promise<string>;
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

/** Erases a driver's config type so drivers/index.ts can list them in one array. */
export function defineDriver<C extends { id: string; type: string }>(d: DriverDefinition<C>): DriverDefinition {
  return d as unknown as DriverDefinition;
}
