import { accessSync, constants, mkdirSync } from 'node:fs';
import { drivers as registeredDrivers } from '../../drivers/index.ts';
import { FgError, errorMessage } from '../core/errors.ts';
import { Metrics } from '../core/metrics.ts';
import type { ProbeResult } from '../core/probe.ts';
import type { FieldgateConfig } from '../config/schema.ts';
import { AlarmEngine } from '../alarms/engine.ts';
import { outboxEventEmitter } from '../alarms/emit.ts';
import { configPathResolver } from '../config/paths.ts';
import { BrokerStage } from '../broker/broker.ts';
import { HealthStage } from '../health/stage.ts';
import { Taps } from '../health/taps.ts';
import { declaredTags } from '../health/tags.ts';
import type { HealthConfig } from '../health/config.ts';
import { createModelStage } from '../inference/index.ts';
import type { Logger } from '../log.ts';
import { createOutbox } from '../outbox/index.ts';
import { createSink } from '../sinks/index.ts';
import type { DriverDefinition, OutboxWriter, SimulatorHandle, Stage, StageContext } from './contracts.ts';
import { Router } from './router.ts';
import { SourceStage, type SourceStageConfig } from './source-stage.ts';
import { GatewayEvents } from './gateway-events.ts';

export interface PipelineOptions {
  config: FieldgateConfig;
  /** folder that relative paths in the config are resolved against */
  baseDir: string;
  log: Logger;
  metrics?: Metrics;
  /** the drivers sources and simulators are looked up in (default: drivers/index.ts); tests pass their own */
  drivers?: readonly DriverDefinition[];
}

export type ModelStage = ReturnType<typeof createModelStage>;
export type OutboxStage = ReturnType<typeof createOutbox>;

/** A simulator as a stage, so it starts first and stops last. */
export class SimulatorStage implements Stage {
  readonly kind = 'simulator' as const;
  private handle?: SimulatorHandle;
  constructor(readonly name: string, private readonly startFn: () => Promise<SimulatorHandle>, private readonly log: Logger) {}
  async start(): Promise<void> {
    this.handle = await this.startFn();
    this.log.info({ stage: this.name, address: this.handle.address }, 'simulator listening');
  }
  async stop(): Promise<void> {
    await this.handle?.stop();
    this.handle = undefined;
  }
  get address(): string | undefined {
    return this.handle?.address;
  }
  probe(): ProbeResult {
    return this.handle ? { state: 'up', details: { address: this.handle.address } } : { state: 'down', reason: 'not started' };
  }
}

/**
 * Builds the topology from a config and runs it: simulators, outbox, sinks, models, router,
 * sources are started in that order; stop() takes them down in the reverse order of the data
 * flow (sources first, so everything they read is drained and committed before the outbox closes).
 */
export class Pipeline {
  readonly metrics: Metrics;
  readonly ctx: StageContext;
  readonly simulators: SimulatorStage[] = [];
  readonly outbox: OutboxStage;
  readonly sinks: Stage[] = [];
  models: ModelStage[] = [];
  readonly router: Router;
  sources: SourceStage[] = [];
  private readonly started: Stage[] = [];
  private state: 'idle' | 'starting' | 'running' | 'stopping' | 'stopped' = 'idle';
  readonly log: Logger;
  config: FieldgateConfig;
  readonly drivers: readonly DriverDefinition[];
  /** latest predictions and events, and when the outbox last accepted samples (health, dashboard) */
  readonly taps: Taps;
  /** what the router and the models write through: the outbox, tapped */
  readonly writer: OutboxWriter;
  /** probes, watchdog, HTTP server and dashboard; undefined when health.enabled is false */
  health?: HealthStage;
  /** gateway events (stage down/up, restarts, reloads, outbox, sink lag) sent upstream through the outbox */
  readonly events: GatewayEvents;
  /** the embedded MQTT broker, when broker.enabled */
  broker?: BrokerStage;
  /** the `alarms:` rules on raw tags, evaluated on the tapped samples */
  readonly alarms: AlarmEngine;

  constructor(opts: PipelineOptions) {
    this.config = opts.config;
    this.log = opts.log;
    this.drivers = opts.drivers ?? registeredDrivers;
    this.metrics = opts.metrics ?? new Metrics({ defaultMetrics: true });
    const resolvePath = configPathResolver(opts.baseDir);
    this.ctx = {
      gateway: { id: opts.config.gateway.id, dataDir: resolvePath(opts.config.gateway.dataDir) },
      log: opts.log,
      metrics: this.metrics,
      resolvePath,
    };
    const cfg = opts.config;
    this.taps = new Taps({ ...cfg.health.keep, history: historyOptions(cfg.health.history) });
    for (const sim of cfg.simulators as { id: string; type: string }[]) this.simulators.push(this.createSimulator(sim));
    this.outbox = createOutbox(cfg.outbox, this.ctx);
    this.writer = this.taps.wrap(this.outbox);
    this.events = new GatewayEvents({ writer: this.outbox, log: opts.log, metrics: this.metrics.stage('gateway-events') });
    // outbox-full, -healed and -disk-full share a key: the latest state always arrives
    this.outbox.onEvent = (e) => {
      const sink = e.kind === 'sink-behind' ? String(e.data?.sink) : undefined;
      // the dashboard's ring shows them too (its own bound keeps it small)
      this.taps.event({ source: sink ? `sink.${sink}` : 'outbox', kind: e.kind, severity: e.severity, message: e.message, data: e.data });
      this.events.emit({ ...e, key: sink ? `sink-behind:${sink}` : 'outbox' });
    };
    if (cfg.broker.enabled) this.broker = new BrokerStage(cfg.broker, this.ctx);
    for (const s of cfg.sinks) if (s.enabled) this.sinks.push(createSink(s, this.outbox, this.ctx));
    for (const m of cfg.models) if (m.enabled) this.models.push(createModelStage(m, this.writer, this.ctx));
    this.router = new Router(this.writer, this.models, this.metrics.stage('router'), opts.log.child({ stage: 'router' }));
    this.declareTags(cfg);
    this.alarms = new AlarmEngine(cfg.alarms, this.taps.tags, outboxEventEmitter(this.writer, opts.log.child({ stage: 'alarms' })).emit);
    if (cfg.health.enabled) this.health = this.createHealth(cfg);
    for (const s of cfg.sources as SourceStageConfig[] & { enabled: boolean }[]) {
      if ((s as { enabled?: boolean }).enabled === false) continue;
      this.sources.push(this.createSource(s));
    }
  }

  /** Lists every configured tag in the tag table, so a tag never read shows as such. */
  declareTags(cfg: FieldgateConfig): void {
    for (const s of cfg.sources as { id: string; enabled?: boolean }[]) {
      if (s.enabled === false) continue;
      this.taps.tags.declare(s.id, declaredTags(s));
    }
  }

  findDriver(type: string): DriverDefinition | undefined {
    return this.drivers.find((d) => d.type === type);
  }

  createSimulator(sim: { id: string; type: string }): SimulatorStage {
    const d = this.findDriver(sim.type)?.simulator;
    if (!d) throw new FgError('FG_E_DRIVER_UNKNOWN', `no simulator for type ${sim.type}`);
    return new SimulatorStage(`simulator.${sim.id}`, () => d.start(sim, this.ctx), this.log);
  }

  createHealth(cfg: FieldgateConfig): HealthStage {
    return new HealthStage({ config: cfg.health, view: this, gatewayId: this.ctx.gateway.id, log: this.log });
  }

  createSource(s: SourceStageConfig): SourceStage {
    const driver = this.findDriver(s.type);
    if (!driver) throw new FgError('FG_E_DRIVER_UNKNOWN', `source ${s.id}: no driver for type "${s.type}"`);
    const stage = new SourceStage(s, driver, this.ctx);
    this.router.addInput(stage.channel);
    return stage;
  }

  /** Every stage in start order (health first: a port in use is refused before any device is touched). */
  stages(): Stage[] {
    const broker = this.broker ? [this.broker] : [];
    const all: Stage[] = [...this.simulators, ...broker, this.outbox, ...this.sinks, ...this.models, this.router, ...this.sources];
    return this.health ? [this.health, ...all] : all;
  }

  /** Starts one stage while running (reload) and tracks it so stop() takes it down. */
  async startStage(stage: Stage): Promise<void> {
    await stage.start();
    this.started.push(stage);
  }

  /** Stops one stage while running (reload) and forgets it. */
  async stopStage(stage: Stage, deadlineMs: number): Promise<void> {
    const i = this.started.indexOf(stage);
    if (i >= 0) this.started.splice(i, 1);
    await stage.stop(deadlineMs);
  }

  get running(): boolean {
    return this.state === 'running';
  }

  /** Starts every stage in order; if one fails, the ones already started are stopped again. */
  async start(): Promise<void> {
    if (this.state !== 'idle') throw new Error(`pipeline already ${this.state}`);
    this.state = 'starting';
    ensureDataDir(this.ctx.gateway.dataDir);
    for (const stage of this.stages()) {
      try {
        await stage.start();
        this.started.push(stage);
      } catch (thrown) {
        const err = explainStartError(stage.name, thrown);
        // a coded error is the user's to fix and is printed by the caller: no stack trace for it
        const detail = err instanceof FgError ? { code: err.code, reason: err.message } : { err };
        this.log.error({ stage: stage.name, ...detail }, 'stage failed to start; stopping the stages already started');
        await this.stopStarted(5_000);
        this.state = 'stopped';
        if (err instanceof FgError) throw err;
        throw new FgError('FG_E_PIPELINE_START', `${stage.name} failed to start: ${errorMessage(err)}`, { cause: err });
      }
    }
    this.state = 'running';
    this.alarms.start();
    this.health?.activate();
    this.log.info(
      { sources: this.sources.length, models: this.models.length, sinks: this.sinks.length, dataDir: this.ctx.gateway.dataDir },
      'pipeline running',
    );
  }

  /**
   * Stops taking input, drains the channels and the router into the outbox, lets models finish,
   * stops sinks, commits and closes the outbox, then the simulators. `deadlineMs` bounds the whole.
   */
  async stop(deadlineMs = 10_000): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return;
    this.state = 'stopping';
    this.alarms.stop();
    this.health?.draining();
    await this.stopStarted(deadlineMs);
    this.state = 'stopped';
    this.log.info('pipeline stopped');
  }

  private async stopStarted(deadlineMs: number): Promise<void> {
    const end = Date.now() + deadlineMs;
    const left = (): number => Math.max(100, end - Date.now());
    const started = new Set(this.started);
    // what is held by the rate limit goes into the outbox before it closes
    this.events.stop();
    const order: Stage[][] = [
      this.sources, [this.router], this.models, this.sinks, this.broker ? [this.broker] : [], [this.outbox], this.simulators,
      this.health ? [this.health] : [],
    ];
    for (const group of order) {
      await Promise.all(
        group.filter((s) => started.has(s)).map(async (s) => {
          try {
            await s.stop(left());
          } catch (err) {
            this.log.error({ stage: s.name, err }, 'stage failed to stop cleanly');
          }
        }),
      );
    }
    // sources that never started still hold an open channel
    for (const s of this.sources) s.channel.close();
    this.started.length = 0;
  }
}

function historyOptions(h: HealthConfig['history']) {
  if (!h.enabled) return undefined;
  return {
    fine: { resolution: h.liveResolution, span: h.liveSpan },
    coarse: { resolution: h.resolution, span: h.span },
    maxTags: h.maxTags,
  };
}

/** A port already in use, whichever stage hit it: which port, which stage, what to change. */
function explainStartError(stage: string, err: unknown): unknown {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (e instanceof FgError || e?.code !== 'EADDRINUSE') return err;
  return new FgError(
    'FG_E_PORT_IN_USE',
    `${stage} cannot listen on ${e.address ?? '?'}:${e.port ?? '?'}: the port is already in use by another process. ` +
      `Change the port of ${stage} in the config, or stop the process that holds it (find it with: ss -ltnp 'sport = :${e.port ?? ''}')`,
    { cause: err, details: { stage, port: e.port } },
  );
}

/** Creates the data directory and proves it is writable, with the path and the fix when not. */
export function ensureDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new FgError(
      'FG_E_DATA_DIR',
      `data directory ${dir} is not writable (${code}): create it and give the user running fieldgate write access ` +
        `(e.g. sudo install -d -o $(id -un) ${dir}), or set gateway.dataDir to a writable path`,
    );
  }
}
