import type { ProbeResult } from '../core/probe.ts';
import type { Supervisor, StageState } from '../core/supervisor.ts';
import type { Logger } from '../log.ts';
import type { Stage } from '../core/contracts.ts';
import type { HealthConfig } from './config.ts';
import { LoopMonitor } from './loop-monitor.ts';
import { ProbeScheduler, type StageHealth } from './probes.ts';
import { RateTracker } from './rates.ts';
import { HealthServer } from './server.ts';
import { healthApi } from './api.ts';
import { type StatusDocument, buildStatus, liveness, readiness } from './status.ts';
import type { HealthView } from './view.ts';

/** how long after start a stage may be down without an event (sources connect in the background) */
const START_GRACE_MS = 5_000;

export interface HealthStageOptions {
  config: HealthConfig;
  view: HealthView;
  gatewayId: string;
  log: Logger;
}

/**
 * The health side of the pipeline as one stage (kind 'health'): the probe scheduler, the
 * event-loop monitor and the HTTP server. It observes (probes, the pipeline's taps and watchdog
 * count) and never sits between two stages. It starts before every other stage
 * (a port in use is refused before any device is touched) and stops after them, so /readyz
 * says 503 while the pipeline drains.
 */
export class HealthStage implements Stage {
  readonly name = 'health';
  readonly kind = 'health' as const;
  readonly probes: ProbeScheduler;
  readonly loop: LoopMonitor;
  readonly rates: RateTracker;
  private server?: HealthServer;
  private readonly log: Logger;
  private startedAt = Date.now();
  private readonly listeners = new Map<Supervisor, (s: StageState) => void>();
  private running = false;
  private phase: 'starting' | 'running' | 'stopping' = 'starting';
  /** stages first seen unhealthy during the start grace: reported only if they stay so */
  private readonly pendingFirst = new Map<string, StageHealth>();
  private graceTimer?: NodeJS.Timeout;
  /** stages a reload is restarting on purpose: name -> when it began and until when it may take */
  private readonly planned = new Map<string, { at: number; until: number; why: string; startedAt?: number }>();
  private plannedTimer?: NodeJS.Timeout;
  private seriesTimer?: NodeJS.Timeout;

  constructor(private readonly opts: HealthStageOptions) {
    const { config, view } = opts;
    this.log = opts.log.child({ stage: 'health' });
    this.probes = new ProbeScheduler({
      stages: () => view.stages(),
      unhealthyMs: config.probes.unhealthy,
      stableMs: Math.max(config.probes.stable, config.probes.unhealthy),
      metrics: view.metrics,
      onChange: (h, prev) => this.onChange(h, prev),
    });
    this.loop = new LoopMonitor({ thresholdMs: config.eventLoopBlocked });
    this.rates = new RateTracker(view.metrics);
  }

  get config(): HealthConfig {
    return this.opts.config;
  }

  /** http://host:port once started */
  get url(): string | undefined {
    return this.server?.url;
  }

  get port(): number | undefined {
    return this.server?.address?.port;
  }

  async start(): Promise<void> {
    const { config, view } = this.opts;
    this.startedAt = Date.now();
    const server = new HealthServer({
      host: config.host, port: config.port, token: config.token, log: this.log, stage: this.name,
      routes: {
        healthz: () => {
          const v = liveness(view, this.loop);
          return { ok: v.ok, body: { status: v.ok ? 'ok' : 'wedged', reasons: v.reasons } };
        },
        readyz: () => {
          const v = this.phase === 'running'
            ? readiness(view, this.probes, config.readiness)
            : { ok: false, reasons: [`the pipeline is ${this.phase}`] };
          return { ok: v.ok, body: { status: v.ok ? 'ready' : 'not ready', reasons: v.reasons } };
        },
        metrics: async () => ({ contentType: view.metrics.registry.contentType, body: await view.metrics.registry.metrics() }),
        status: () => this.status(),
        api: (req) => healthApi(view, req),
      },
    });
    await server.start();
    this.server = server;
    this.loop.start();
    this.phase = 'starting';
    void this.rates.prime();
    this.log.info({ url: server.url, dashboard: `${server.url}/`, auth: config.token ? 'bearer token' : 'none' }, 'health server listening');
  }

  /**
   * Called by the pipeline once every stage has started: probes begin (before,
   * every stage would be reported down while it is still starting).
   */
  activate(): void {
    if (!this.server || this.running) return;
    this.phase = 'running';
    this.running = true;
    // sources connect in the background after start(): give them a moment before crying wolf
    // (set before the first probe round, which runs at once)
    this.graceTimer = setTimeout(() => this.endGrace(), START_GRACE_MS);
    this.graceTimer.unref();
    this.probes.start();
    this.topologyChanged();
    if (this.opts.view.taps.series) {
      this.sampleSeries();
      this.seriesTimer = setInterval(() => this.sampleSeries(), 1_000);
      this.seriesTimer.unref();
    }
  }

  /** Gateway figures charted over time (server side, so a page opened late has the last hour). */
  private sampleSeries(): void {
    const outbox = this.opts.view.stages().find((s) => s.kind === 'outbox');
    if (!outbox) return;
    try {
      const b = outbox.probe().details?.backlog;
      if (typeof b === 'number') this.opts.view.taps.series?.put('gateway', 'outbox.backlog', Date.now(), b);
    } catch {
      // the outbox reports its own failures through its probe
    }
  }

  /**
   * A reload is about to restart `name` on purpose: while it is down within `maxMs` it is shown as
   * restarting (not as a failure) and no event is raised; once up again a "back up" event and log
   * line follow. Past `maxMs` a stage still down is reported as usual.
   */
  plannedRestart(name: string, why: string, maxMs = 60_000): void {
    const now = Date.now();
    this.planned.set(name, { at: now, until: now + maxMs, why });
    this.log.info({ target: name, why }, 'planned restart');
    if (!this.plannedTimer) {
      this.plannedTimer = setInterval(() => this.checkPlanned(), 200);
      this.plannedTimer.unref();
    }
  }

  /** The reload started the stage again: from now on "up" means back up. */
  plannedStarted(name: string): void {
    const p = this.planned.get(name);
    if (p) p.startedAt = Date.now();
  }

  private checkPlanned(): void {
    const now = Date.now();
    for (const [name, p] of this.planned) {
      if (p.startedAt === undefined) {
        if (now > p.until) this.planned.delete(name);
        continue;
      }
      this.probes.poke(name);
      const h = this.probes.get(name);
      if (h?.state === 'up' && h.probedAt >= p.startedAt) this.backUp(name, p);
      else if (now > p.until) {
        this.planned.delete(name);
        if (h) this.report(h, 'up');
      }
    }
    if (this.planned.size === 0) {
      clearInterval(this.plannedTimer);
      this.plannedTimer = undefined;
    }
  }

  private backUp(name: string, p: { at: number; why: string }): void {
    this.planned.delete(name);
    const s = ((Date.now() - p.at) / 1000).toFixed(1);
    const message = `${name} is back up after a planned restart (${p.why}) in ${s} s`;
    this.opts.view.taps.event({ source: name, kind: 'back-up', severity: 'info', message, data: { state: 'up', planned: true } });
    // upstream too: a consumer that saw the reload event learns when the stage is serving again
    this.opts.view.events?.emit({ kind: 'stage-up', key: `stage:${name}`, severity: 'info', message, data: { stage: name, state: 'up', planned: true } });
    this.log.info({ target: name, why: p.why, seconds: Number(s) }, 'stage back up after a planned restart');
  }

  private endGrace(): void {
    this.graceTimer = undefined;
    for (const name of this.pendingFirst.keys()) {
      const now = this.probes.get(name);
      if (now && now.state !== 'up') this.report({ ...now, details: undefined }, undefined);
    }
    this.pendingFirst.clear();
  }

  /** Called by the pipeline when it starts draining: /readyz answers 503 from now on. */
  draining(): void {
    this.phase = 'stopping';
  }

  async stop(): Promise<void> {
    clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    clearInterval(this.plannedTimer);
    this.plannedTimer = undefined;
    this.planned.clear();
    clearInterval(this.seriesTimer);
    this.seriesTimer = undefined;
    this.pendingFirst.clear();
    this.running = false;
    this.phase = 'stopping';
    this.probes.stop();
    this.loop.stop();
    for (const [sup, fn] of this.listeners) sup.off('state', fn);
    this.listeners.clear();
    await this.server?.stop();
    this.server = undefined;
  }

  probe(): ProbeResult {
    if (!this.server) return { state: 'down', reason: 'health server not running' };
    const details: Record<string, unknown> = { url: this.server.url, watchdogRestarts: this.opts.view.watchdog?.restarts() ?? 0, eventLoopLagMs: Math.round(this.loop.lagMs) };
    const blocked = this.loop.blocked();
    if (blocked) return { state: 'degraded', reason: blocked, details };
    return { state: 'up', details };
  }

  /** The /api/status document (also the status line's source). */
  async status(): Promise<StatusDocument> {
    const rates = await this.rates.sample();
    const doc = buildStatus({
      gatewayId: this.opts.gatewayId, startedAt: this.startedAt, view: this.opts.view, probes: this.probes,
      loop: this.loop, rates, cfg: this.opts.config,
    });
    if (this.phase !== 'running') doc.ready = { ok: false, reasons: [`the pipeline is ${this.phase}`] };
    // a stage a reload restarts on purpose is shown as restarting, not as a failure
    for (const st of doc.stages) {
      const p = this.planned.get(st.name);
      if (p && st.state !== 'up') {
        st.planned = true;
        st.reason = `planned restart (${p.why})`;
      }
    }
    const counted = doc.stages.filter((x) => !x.planned);
    doc.totals.state = counted.some((x) => x.state === 'down') ? 'down' : counted.some((x) => x.state === 'degraded') ? 'degraded' : 'up';
    doc.alarms = this.opts.view.alarms?.active() ?? [];
    return doc;
  }

  /**
   * Follows the sources' supervisors so a crash or restart is probed at once rather than at the
   * next adaptive interval. The pipeline calls this after a reload changed the sources.
   */
  topologyChanged(): void {
    if (!this.running) return;
    const current = new Set<Supervisor>();
    for (const s of this.opts.view.sources) {
      current.add(s.supervisor);
      if (this.listeners.has(s.supervisor)) continue;
      const name = s.name;
      const fn = (): void => {
        // after the state is set: probe on the next turn so the stage's own fields are updated too
        setImmediate(() => { if (this.running) this.probes.poke(name); });
      };
      s.supervisor.on('state', fn);
      this.listeners.set(s.supervisor, fn);
    }
    for (const [sup, fn] of this.listeners) {
      if (current.has(sup)) continue;
      sup.off('state', fn);
      this.listeners.delete(sup);
    }
  }

  private onChange(h: StageHealth, prev: string | undefined): void {
    // while the pipeline drains, stages going down is the plan, not news
    if (this.phase === 'stopping') return;
    const p = this.planned.get(h.name);
    if (p) {
      if (h.state === 'up' && p.startedAt !== undefined && h.probedAt >= p.startedAt) this.backUp(h.name, p);
      return;
    }
    if (this.graceTimer) {
      if (prev === undefined && h.state !== 'up') {
        this.pendingFirst.set(h.name, h);
        return;
      }
      if (this.pendingFirst.has(h.name)) {
        // it was starting, not failing: nothing to report unless it is still unhealthy
        if (h.state === 'up') {
          this.pendingFirst.delete(h.name);
          return;
        }
        this.pendingFirst.set(h.name, h);
        return;
      }
    }
    this.report(h, prev);
  }

  private report(h: StageHealth, prev: string | undefined): void {
    const severity = h.state === 'down' ? 'critical' : h.state === 'degraded' ? 'warning' : 'info';
    const message = `${h.name} is ${h.state}${h.reason ? `: ${h.reason}` : ''}`;
    this.opts.view.taps.event({ source: h.name, kind: 'health', severity, message, data: { state: h.state, previous: prev ?? 'none' } });
    // upstream too, through the outbox: one key per stage, so a flapping stage's latest state always arrives
    const data: Record<string, string> = { stage: h.name, state: h.state, previous: prev ?? 'none' };
    if (h.reason) data.reason = h.reason;
    this.opts.view.events?.emit({ kind: `stage-${h.state}`, key: `stage:${h.name}`, severity, message, data });
    // `target`, not `stage`: this logger's own stage field is 'health'
    const fields = { target: h.name, state: h.state, previous: prev, reason: h.reason };
    if (h.state === 'up') this.log.info(fields, 'stage is up again');
    else this.log.warn(fields, `stage is ${h.state}`);
  }
}
