import { accessSync, constants, mkdirSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { drivers as registeredDrivers } from '../../drivers/index.ts';
import { FgError, errorCode, errorMessage } from '../core/errors.ts';
import { Metrics } from '../core/metrics.ts';
import type { ProbeResult } from '../core/probe.ts';
import type { FieldgateConfig } from '../config/schema.ts';
import { AlarmEngine } from '../alarms/engine.ts';
import { outboxEventEmitter } from '../alarms/emit.ts';
import { configPathResolver } from '../core/config-paths.ts';
import { BrokerStage } from '../broker/broker.ts';
import { HealthStage } from '../health/stage.ts';
import { Taps } from '../health/taps.ts';
import { fitHistory } from '../health/history-budget.ts';
import { declaredTags } from '../health/tags.ts';
import type { HealthConfig } from '../health/config.ts';
import { createModelStage } from '../inference/index.ts';
import type { Logger } from '../log.ts';
import { createOutbox } from '../outbox/index.ts';
import { createSink } from '../sinks/index.ts';
import type { DriverDefinition, OutboxWriter, SimulatorHandle, Stage, StageContext } from '../core/contracts.ts';
import { Router } from './router.ts';
import { SECTION_LABEL, type StageEntry, type StageEntryOf, type StageSection } from './reload-plan.ts';
import { SourceStage, type SourceStageConfig } from './source-stage.ts';
import { GatewayEvents } from './gateway-events.ts';
import { OverloadGovernor } from './overload.ts';
import { tappedWriter } from './tapped-writer.ts';
import { Watchdog } from './watchdog.ts';

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

/** The stage each section's entries run as. */
interface SectionStage {
  simulators: SimulatorStage;
  sinks: Stage;
  models: ModelStage;
  sources: SourceStage;
}
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
  readonly outbox: OutboxStage;
  readonly router: Router;
  // the stage lists and the config they run change only through this class's own methods
  // (addStage, replaceStage, removeStage, replaceHealth, ...), so `config` always describes what runs
  #simulators: SimulatorStage[] = [];
  #sinks: Stage[] = [];
  #models: ModelStage[] = [];
  #sources: SourceStage[] = [];
  #health?: HealthStage;
  #watchdog?: Watchdog;
  #config: FieldgateConfig;
  private readonly started: Stage[] = [];
  private state: 'idle' | 'starting' | 'running' | 'stopping' | 'stopped' = 'idle';
  readonly log: Logger;
  readonly drivers: readonly DriverDefinition[];
  /** latest predictions and events, and when the outbox last accepted samples (health, dashboard) */
  readonly taps: Taps;
  /** what the router and the models write through: the outbox, tapped */
  readonly writer: OutboxWriter;
  /** gateway events (stage down/up, restarts, reloads, outbox, sink lag) sent upstream through the outbox */
  readonly events: GatewayEvents;
  /** the embedded MQTT broker, when broker.enabled */
  broker?: BrokerStage;
  /** the `alarms:` rules on raw tags, evaluated on the tapped samples */
  readonly alarms: AlarmEngine;

  constructor(opts: PipelineOptions) {
    this.#config = opts.config;
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
    // the overload rule: connected sinks that lag past their shedAt make sources shed polls
    const overload = new OverloadGovernor({
      registry: this.metrics.registry,
      log: opts.log.child({ stage: 'overload' }),
      onChange: (shedding, d) => {
        const message = shedding
          ? `sinks ${d.over.join(', ')} cannot keep up while connected: sources keep ${Math.round(d.share * 100)}% of their polls`
          : 'sinks keep up again: sources poll at their configured interval';
        this.taps.event({ source: 'overload', kind: 'overload', severity: shedding ? 'warning' : 'info', message });
        this.events.emit({ kind: 'overload', severity: shedding ? 'warning' : 'info', message, data: { shedding, share: Math.round(d.share * 1000) / 1000 }, key: 'overload' });
      },
    });
    this.ctx.overload = overload;
    this.taps = new Taps({ ...cfg.health.keep, history: historyOptions(cfg, opts.log) });
    for (const sim of cfg.simulators) this.#simulators.push(this.createSimulator(sim));
    this.outbox = createOutbox(cfg.outbox, this.ctx);
    this.writer = tappedWriter(this.outbox, this.taps);
    this.events = new GatewayEvents({ writer: this.outbox, log: opts.log, metrics: this.metrics.stage('gateway-events') });
    // outbox-full, -healed and -disk-full share a key: the latest state always arrives
    this.outbox.onEvent = (e) => {
      const sink = e.kind === 'sink-behind' ? String(e.data?.sink) : undefined;
      // the dashboard's ring shows them too (its own bound keeps it small)
      this.taps.event({ source: sink ? `sink.${sink}` : 'outbox', kind: e.kind, severity: e.severity, message: e.message, data: e.data });
      this.events.emit({ ...e, key: sink ? `sink-behind:${sink}` : 'outbox' });
    };
    if (cfg.broker.enabled) this.broker = new BrokerStage(cfg.broker, this.ctx);
    for (const s of cfg.sinks) if (s.enabled) this.#sinks.push(createSink(s, this.outbox, this.ctx));
    for (const m of cfg.models) if (m.enabled) this.#models.push(createModelStage(m, this.writer, this.ctx));
    this.router = new Router(this.writer, this.#models, this.metrics.stage('router'), opts.log.child({ stage: 'router' }));
    // the wait before the outbox is bounded like a sink's lag, by the strictest shedAt of the sinks
    this.router.shedAt = routerShedAt(cfg.sinks);
    this.router.overload = overload;
    this.declareTags(cfg);
    this.alarms = new AlarmEngine(cfg.alarms, this.taps.tags, outboxEventEmitter(this.writer, opts.log.child({ stage: 'alarms' })).emit);
    if (cfg.health.enabled) this.#health = this.createHealth(cfg);
    this.#watchdog = this.createWatchdog(cfg.health);
    for (const s of cfg.sources) {
      if (s.enabled === false) continue;
      const stage = this.createSource(s);
      this.router.addInput(stage.channel);
      this.#sources.push(stage);
    }
  }

  /** the configuration that runs: a reload changes it stage by stage, as each change succeeds */
  get config(): FieldgateConfig {
    return this.#config;
  }
  get simulators(): readonly SimulatorStage[] {
    return this.#simulators;
  }
  get sinks(): readonly Stage[] {
    return this.#sinks;
  }
  get models(): readonly ModelStage[] {
    return this.#models;
  }
  get sources(): readonly SourceStage[] {
    return this.#sources;
  }
  /**
   * Restarts a source whose heartbeat stopped; configured under health.watchdog (and off with
   * health.enabled: false). Started with the stages' activation, stopped when draining begins.
   */
  get watchdog(): Watchdog | undefined {
    return this.#watchdog;
  }

  /** probes, HTTP server and dashboard; undefined when health.enabled is false */
  get health(): HealthStage | undefined {
    return this.#health;
  }

  /** Lists every configured tag in the tag table, so a tag never read shows as such. */
  declareTags(cfg: FieldgateConfig): void {
    for (const s of cfg.sources) {
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

  private createWatchdog(health: HealthConfig): Watchdog | undefined {
    if (!health.enabled || !health.watchdog.enabled) return undefined;
    return new Watchdog({
      sources: () => this.#sources,
      timeoutMs: health.watchdog.heartbeatTimeout,
      log: this.log.child({ stage: 'watchdog' }),
      metrics: this.metrics,
      onRestart: (name, silentMs) => {
        const message = `${name}: no heartbeat for ${Math.round(silentMs / 1000)} s; restarted by the watchdog`;
        this.taps.event({ source: name, kind: 'watchdog-restart', severity: 'warning', message });
        this.events.emit({ kind: 'watchdog-restart', key: `watchdog:${name}`, severity: 'warning', message, data: { stage: name, silentMs } });
      },
    });
  }

  createHealth(cfg: FieldgateConfig): HealthStage {
    return new HealthStage({ config: cfg.health, view: this, gatewayId: this.ctx.gateway.id, log: this.log });
  }

  /** A source stage, not yet attached to the router. */
  createSource(s: SourceStageConfig): SourceStage {
    const driver = this.findDriver(s.type);
    if (!driver) throw new FgError('FG_E_DRIVER_UNKNOWN', `source ${s.id}: no driver for type "${s.type}"`);
    return new SourceStage(s, driver, this.ctx);
  }

  /** Every stage in start order (health first: a port in use is refused before any device is touched). */
  stages(): Stage[] {
    const broker = this.broker ? [this.broker] : [];
    const all: Stage[] = [...this.#simulators, ...broker, this.outbox, ...this.#sinks, ...this.#models, this.router, ...this.#sources];
    return this.#health ? [this.#health, ...all] : all;
  }

  /** The running stage of a section with this id, if any. */
  findStage(section: StageSection, id: string): Stage | undefined {
    const name = `${SECTION_LABEL[section]}.${id}`;
    return this.list(section).find((s) => s.name === name);
  }

  /** Creates, starts and attaches the stage for a new config entry (running pipeline). Throws when it
   * cannot start; then nothing of it is left running and `config` does not list it. */
  async addStage<K extends StageSection>(section: K, cfg: StageEntryOf<K>): Promise<void> {
    this.assertRunning();
    await this.launch(section, cfg);
    this.#config = withEntry(this.#config, section, cfg);
    this.sinksChanged(section);
    this.log.info({ stage: `${SECTION_LABEL[section]}.${cfg.id}` }, 'stage added');
  }

  /** Detaches, stops (within its deadline) and forgets the stage of this id; `config` no longer lists it. */
  async removeStage(section: StageSection, id: string, deadlineMs: number): Promise<void> {
    this.assertRunning();
    const stage = this.findStage(section, id);
    if (stage) await this.retire(section, stage, deadlineMs);
    this.#config = withoutEntry(this.#config, section, id);
    this.sinksChanged(section);
    this.log.info({ stage: `${SECTION_LABEL[section]}.${id}` }, 'stage removed');
  }

  /** The router's wait bound follows the sinks that now run (a reload may change a shedAt). */
  private sinksChanged(section: StageSection): void {
    if (section === 'sinks') this.router.shedAt = routerShedAt(this.#config.sinks);
  }

  /**
   * Replaces the stage of `prev.id` by one built from `next`. When the new one fails to start, a
   * stage built from `prev` is started again ('restored'); when that fails too, none runs ('lost').
   * `config` lists whichever runs. Every outcome is logged with the stage's name.
   */
  async replaceStage<K extends StageSection>(section: K, prev: StageEntryOf<K>, next: StageEntryOf<K>, deadlineMs: number): Promise<ReplaceOutcome> {
    try {
      return await this.replaceEntry(section, prev, next, deadlineMs);
    } finally {
      this.sinksChanged(section);
    }
  }

  private async replaceEntry<K extends StageSection>(section: K, prev: StageEntryOf<K>, next: StageEntryOf<K>, deadlineMs: number): Promise<ReplaceOutcome> {
    this.assertRunning();
    const name = `${SECTION_LABEL[section]}.${next.id}`;
    const old = this.findStage(section, prev.id);
    if (old) await this.retire(section, old, deadlineMs);
    try {
      await this.launch(section, next);
      this.#config = withEntry(this.#config, section, next);
      this.log.info({ stage: name }, 'stage restarted with its new configuration');
      return { outcome: 'replaced' };
    } catch (error) {
      this.log.error(
        { stage: name, code: 'FG_E_RELOAD', cause: errorCode(error), reason: errorMessage(error) },
        'the new stage failed to start; starting the previous one again with its previous configuration',
      );
      try {
        await this.launch(section, prev);
        this.#config = withEntry(this.#config, section, prev);
        this.log.warn({ stage: name }, 'stage restored: it runs its previous configuration');
        return { outcome: 'restored', error };
      } catch (restoreError) {
        this.#config = withoutEntry(this.#config, section, prev.id);
        this.log.error(
          { stage: name, code: 'FG_E_RELOAD', cause: errorCode(restoreError), reason: errorMessage(restoreError) },
          'the previous stage failed to start again too: the stage is not running',
        );
        return { outcome: 'lost', error, restoreError };
      }
    }
  }

  /**
   * Replaces the health stage by one built from `next.health` (or none when disabled). When the
   * new one fails to start (a port in use), one with the previous settings is started again.
   */
  async replaceHealth(next: FieldgateConfig, deadlineMs: number): Promise<ReplaceOutcome> {
    this.assertRunning();
    const before = this.#config.health;
    const outcome = await this.swapHealth(next, deadlineMs);
    // the watchdog follows the health settings that now apply (a changed one starts afresh)
    const now = this.#config.health;
    if (now.enabled !== before.enabled || !isDeepStrictEqual(now.watchdog, before.watchdog)) {
      this.#watchdog?.stop();
      this.#watchdog = this.createWatchdog(now);
      this.#watchdog?.start();
    }
    return outcome;
  }

  private async swapHealth(next: FieldgateConfig, deadlineMs: number): Promise<ReplaceOutcome> {
    const prev = this.#config;
    const old = this.#health;
    if (old) await this.stopTracked(old, deadlineMs);
    this.#health = undefined;
    const startHealth = async (cfg: FieldgateConfig): Promise<void> => {
      const fresh = this.createHealth(cfg);
      await fresh.start();
      this.started.push(fresh);
      fresh.activate();
      this.#health = fresh;
    };
    if (!next.health.enabled) {
      this.#config = { ...this.#config, health: next.health };
      return { outcome: 'replaced' };
    }
    try {
      await startHealth({ ...this.#config, health: next.health });
      this.#config = { ...this.#config, health: next.health };
      return { outcome: 'replaced' };
    } catch (e) {
      const error = explainStartError('health', e);
      this.log.error({ stage: 'health', code: errorCode(error), reason: errorMessage(error) }, 'the new health stage failed to start; the previous health settings stay');
      if (!old) return { outcome: 'restored', error };
      try {
        await startHealth(prev);
        return { outcome: 'restored', error };
      } catch (restoreError) {
        this.#config = { ...this.#config, health: { ...prev.health, enabled: false } };
        return { outcome: 'lost', error, restoreError };
      }
    }
  }

  /** New alarm rules, applied in place. */
  setAlarms(rules: FieldgateConfig['alarms']): void {
    this.alarms.setRules(rules);
    this.#config = { ...this.#config, alarms: rules };
  }

  /** Outbox limits and policies apply in place; its path and synchronous mode wait for a restart. */
  reconfigureOutbox(next: FieldgateConfig['outbox']): ReturnType<OutboxStage['reconfigure']> {
    const box = this.outbox.reconfigure(next);
    this.#config = { ...this.#config, outbox: box.config };
    return box;
  }

  /** The log level applied (the caller set it on the logger); the format is made once at start. */
  noteLogLevel(level: FieldgateConfig['log']['level']): void {
    this.#config = { ...this.#config, log: { ...this.#config.log, level } };
  }

  private list(section: StageSection): readonly Stage[] {
    switch (section) {
      case 'simulators': return this.#simulators;
      case 'sinks': return this.#sinks;
      case 'models': return this.#models;
      case 'sources': return this.#sources;
    }
  }

  private assertRunning(): void {
    if (this.state !== 'running') throw new FgError('FG_E_RELOAD', `the pipeline is ${this.state}: its stages cannot be changed`);
  }

  /** Builds and starts a stage and attaches it where it belongs; on failure nothing of it stays. */
  private async launch<K extends StageSection>(section: K, cfg: StageEntryOf<K>): Promise<void> {
    const name = `${SECTION_LABEL[section]}.${cfg.id}`;
    const kit = this.sections[section];
    const stage = kit.build(cfg);
    try {
      await stage.start();
    } catch (e) {
      // release what it may hold half-started (a socket, a metrics registration)
      await stopWithin(stage, 1_000, this.log).catch(() => undefined);
      if (stage instanceof SourceStage) stage.dispose();
      throw explainStartError(name, e);
    }
    this.started.push(stage);
    kit.attach(stage);
  }

  /**
   * Per section: how a stage is built from its entry and attached once started. Indexed by a
   * section, entry type and stage type stay paired (no casts between them).
   */
  private readonly sections: { [S in StageSection]: { build(cfg: StageEntryOf<S>): SectionStage[S]; attach(stage: SectionStage[S]): void } } = {
    simulators: {
      build: (cfg) => this.createSimulator(cfg),
      attach: (stage) => { this.#simulators = [...this.#simulators, stage]; },
    },
    sinks: {
      build: (cfg) => createSink(cfg, this.outbox, this.ctx),
      attach: (stage) => { this.#sinks = [...this.#sinks, stage]; },
    },
    models: {
      build: (cfg) => createModelStage(cfg, this.writer, this.ctx),
      attach: (stage) => {
        this.#models = [...this.#models, stage];
        this.router.setModels(this.#models);
      },
    },
    sources: {
      build: (cfg) => this.createSource(cfg),
      attach: (stage) => {
        this.router.addInput(stage.channel);
        this.#sources = [...this.#sources, stage];
      },
    },
  };

  /** Detaches a stage, stops it within its deadline and forgets it. */
  private async retire(section: StageSection, stage: Stage, deadlineMs: number): Promise<void> {
    if (section === 'models') {
      // the router stops offering to it first, so nothing arrives while it drains
      this.#models = this.#models.filter((m) => m !== stage);
      this.router.setModels(this.#models);
    }
    await this.stopTracked(stage, deadlineMs);
    if (stage instanceof SourceStage) {
      // what it queued still reaches the outbox: the router drains the closed channel, then forgets it
      stage.channel.close();
      await drained(stage, deadlineMs);
      this.router.removeInput(stage.channel);
      stage.dispose();
      this.#sources = this.#sources.filter((s) => s !== stage);
    }
    if (section === 'sinks') this.#sinks = this.#sinks.filter((s) => s !== stage);
    if (section === 'simulators') this.#simulators = this.#simulators.filter((s) => s !== stage);
  }

  /** Stops one stage within its deadline and forgets it as started. */
  private async stopTracked(stage: Stage, deadlineMs: number): Promise<void> {
    const i = this.started.indexOf(stage);
    if (i >= 0) this.started.splice(i, 1);
    await stopWithin(stage, deadlineMs, this.log);
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
    this.#health?.activate();
    this.#watchdog?.start();
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
    this.#health?.draining();
    this.#watchdog?.stop();
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
    const order: (readonly Stage[])[] = [
      this.#sources, [this.router], this.#models, this.#sinks, this.broker ? [this.broker] : [], [this.outbox], this.#simulators,
      this.#health ? [this.#health] : [],
    ];
    for (const group of order) {
      await Promise.all(
        group.filter((s) => started.has(s)).map((s) => stopWithin(s, left(), this.log)),
      );
    }
    // sources that never started still hold an open channel
    for (const s of this.#sources) s.channel.close();
    this.started.length = 0;
  }
}

export type ReplaceOutcome =
  | { outcome: 'replaced' }
  /** the new stage failed to start; the previous one runs again with its previous config */
  | { outcome: 'restored'; error: unknown }
  /** neither the new nor the previous one started: none runs */
  | { outcome: 'lost'; error: unknown; restoreError: unknown };

/** How long past its own deadline a stage may take before it is abandoned. */
const STOP_GRACE_MS = 250;

/**
 * Stops a stage and waits at most its deadline (plus a little grace for the stage's own cleanup):
 * a stage that ignores its deadline is abandoned with a logged, coded error and does not hold the
 * caller. A stop that throws is logged too. Resolves with what happened.
 */
export async function stopWithin(stage: Stage, deadlineMs: number, log: Logger): Promise<'stopped' | 'failed' | 'abandoned'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'abandoned'>((resolve) => {
    timer = setTimeout(() => resolve('abandoned'), deadlineMs + STOP_GRACE_MS);
  });
  const stopping = (async () => {
    await stage.stop(deadlineMs);
    return 'stopped' as const;
  })().catch((err: unknown) => {
    log.error({ stage: stage.name, code: errorCode(err), err }, 'stage failed to stop cleanly');
    return 'failed' as const;
  });
  const how = await Promise.race([stopping, late]);
  clearTimeout(timer);
  if (how === 'abandoned') {
    log.error(
      { stage: stage.name, code: 'FG_E_STOP_DEADLINE', deadlineMs },
      `${stage.name} did not stop within its ${deadlineMs} ms deadline: abandoned (what it still holds is released when the process exits)`,
    );
  }
  return how;
}

/** Waits until the router has taken everything queued in a stopped source's channel. */
async function drained(src: SourceStage, deadlineMs: number): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (src.channel.depth > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}

/** The config with this section's entry of `entry.id` replaced (or appended). */
function withEntry(cfg: FieldgateConfig, section: StageSection, entry: StageEntry): FieldgateConfig {
  const list: readonly StageEntry[] = cfg[section];
  const i = list.findIndex((e) => e.id === entry.id);
  const next = i >= 0 ? list.map((e, j) => (j === i ? entry : e)) : [...list, entry];
  return { ...cfg, [section]: next };
}

/** The config without this section's entry of `id`. */
function withoutEntry(cfg: FieldgateConfig, section: StageSection, id: string): FieldgateConfig {
  const list: readonly StageEntry[] = cfg[section];
  return { ...cfg, [section]: list.filter((e) => e.id !== id) };
}

/** The tag store's tiers, within `history.maxBytes` for the tags configured at start (logged when widened). */
function historyOptions(cfg: FieldgateConfig, log: Logger) {
  const h = cfg.health.history;
  if (!h.enabled) return undefined;
  const asked = {
    fine: { resolution: h.liveResolution, span: h.liveSpan },
    coarse: { resolution: h.resolution, span: h.span },
    maxTags: h.maxTags,
  };
  const tags = cfg.sources.reduce((n, s) => n + (s.enabled === false ? 0 : declaredTags(s).length), 0);
  const fit = fitHistory(asked, Math.min(tags, h.maxTags), h.maxBytes);
  if (fit.widened) {
    const mb = (b: number): string => `${(b / 1e6).toFixed(1)} MB`;
    log.info(
      { tags, resolution: fit.widened.to, maxBytes: h.maxBytes },
      `tag history: ${tags} configured tags at ${fit.widened.from / 1_000} s buckets would take ${mb(fit.widened.wanted)}, over health.history.maxBytes (${mb(h.maxBytes)}): ` +
        `the ${h.span / 60_000}-minute trend uses ${fit.widened.to / 1_000} s buckets (${mb(fit.widened.now)}); the live ${h.liveSpan / 1_000} s stay at ${h.liveResolution / 1_000} s`,
    );
  }
  return fit.options;
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

/** The overload rule's bound on the wait before the outbox: the smallest positive shedAt of the enabled sinks (0: off). */
function routerShedAt(sinks: readonly { enabled: boolean; shedAt: number }[]): number {
  let m = 0;
  for (const s of sinks) if (s.enabled && s.shedAt > 0 && (m === 0 || s.shedAt < m)) m = s.shedAt;
  return m;
}
