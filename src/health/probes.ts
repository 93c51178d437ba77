import { Gauge } from 'prom-client';
import { errorMessage } from '../core/errors.ts';
import type { Metrics } from '../core/metrics.ts';
import type { HealthState, ProbeResult } from '../core/probe.ts';
import type { Stage, StageKind } from '../core/contracts.ts';

/** The last known health of one stage. */
export interface StageHealth {
  name: string;
  kind: StageKind;
  state: HealthState;
  reason?: string;
  /** ms since epoch when the state last changed */
  since: number;
  details?: Record<string, unknown>;
  /** ms since epoch of the last probe */
  probedAt: number;
  /** the current probe interval (adaptive) */
  intervalMs: number;
}

export interface ProbeSchedulerOptions {
  /** the current stage list (changes on reload) */
  stages: () => readonly Stage[];
  /** interval while a stage is down, degraded, or just changed; also the tick of the scheduler */
  unhealthyMs: number;
  /** the longest interval, reached by doubling while a stage stays up */
  stableMs: number;
  metrics?: Metrics;
  /** called on every state change (not on the first probe of a stage that is up) */
  onChange?: (h: StageHealth, prev: HealthState | undefined) => void;
  now?: () => number;
}

const STATES: readonly HealthState[] = ['up', 'degraded', 'down'];

/**
 * Runs every stage's probe() on adaptive intervals with one timer for all stages: a stage that
 * is unhealthy or just changed is probed every `unhealthyMs`; one that stays up is probed at
 * doubling intervals up to `stableMs`. State changes set the `fieldgate_stage_health` state set
 * (only on change, so a scrape costs nothing extra) and are reported through `onChange`.
 */
export class ProbeScheduler {
  private readonly entries = new Map<string, StageHealth & { stage: Stage; dueAt: number }>();
  private timer?: NodeJS.Timeout;
  private readonly now: () => number;
  private readonly gauge?: Gauge<'stage' | 'kind' | 'state'>;
  private probes = 0;

  constructor(private readonly opts: ProbeSchedulerOptions) {
    this.now = opts.now ?? Date.now;
    if (opts.metrics) {
      const name = 'fieldgate_stage_health';
      const existing = opts.metrics.registry.getSingleMetric(name) as Gauge<'stage' | 'kind' | 'state'> | undefined;
      this.gauge = existing ?? new Gauge({
        name, help: 'Health of a stage as a state set: 1 for its current state (up, degraded, down), 0 for the others',
        labelNames: ['stage', 'kind', 'state'], registers: [opts.metrics.registry],
      });
    }
  }

  /** probe() calls made so far (for the benchmark and tests) */
  get probeCount(): number {
    return this.probes;
  }

  start(): void {
    if (this.timer) return;
    this.tick();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The health of every stage, in stage order. Stages not yet probed are probed now. */
  snapshot(): StageHealth[] {
    this.sync();
    const out: StageHealth[] = [];
    for (const e of this.entries.values()) {
      if (e.probedAt === 0) this.probeOne(e, this.now());
      const { stage: _stage, dueAt: _due, ...h } = e;
      out.push(h);
    }
    return out;
  }

  get(name: string): StageHealth | undefined {
    return this.entries.get(name);
  }

  /** Probes one stage at once (a supervisor changed state) instead of waiting for its turn. */
  poke(name: string): void {
    const e = this.entries.get(name);
    if (e) this.probeOne(e, this.now());
  }

  /** Probes every stage now, at most once per `unhealthyMs` (the dashboard is watching). */
  refresh(): void {
    const now = this.now();
    this.sync();
    for (const e of this.entries.values()) if (now - e.probedAt >= this.opts.unhealthyMs) this.probeOne(e, now);
  }

  /** Probes the stages that are due; runs every `unhealthyMs`. */
  tick(): void {
    const now = this.now();
    this.sync();
    for (const e of this.entries.values()) if (e.dueAt <= now) this.probeOne(e, now);
    this.timer = setTimeout(() => this.tick(), this.opts.unhealthyMs);
    this.timer.unref();
  }

  /** Adds new stages and forgets removed ones (reload), clearing their gauge series. */
  private sync(): void {
    const stages = this.opts.stages();
    let same = stages.length === this.entries.size;
    if (same) for (const s of stages) if (this.entries.get(s.name)?.stage !== s) { same = false; break; }
    if (same) return;
    const seen = new Set<string>();
    for (const stage of stages) {
      seen.add(stage.name);
      const cur = this.entries.get(stage.name);
      if (cur?.stage === stage) continue;
      // a restarted stage (reload) keeps its history until its first probe says otherwise
      this.entries.set(stage.name, {
        stage, name: stage.name, kind: stage.kind, state: cur?.state ?? 'down', reason: cur ? cur.reason : 'not probed yet',
        since: cur?.since ?? this.now(), probedAt: 0, intervalMs: this.opts.unhealthyMs, dueAt: 0,
      });
    }
    for (const [name, e] of this.entries) {
      if (seen.has(name)) continue;
      this.entries.delete(name);
      for (const state of STATES) this.gauge?.remove({ stage: name, kind: e.kind, state });
    }
  }

  private probeOne(e: StageHealth & { stage: Stage; dueAt: number }, now: number): void {
    let r: ProbeResult;
    this.probes++;
    try {
      r = e.stage.probe();
    } catch (err) {
      r = { state: 'down', reason: `probe failed: ${errorMessage(err)}` };
    }
    const first = e.probedAt === 0;
    const prev = e.state;
    const changed = first || r.state !== prev || r.reason !== e.reason;
    e.reason = r.reason;
    e.details = r.details;
    e.probedAt = now;
    if (r.state !== prev) {
      e.state = r.state;
      e.since = now;
    }
    // adapt: unhealthy or changing -> short; stable and up -> doubling up to `stable`
    e.intervalMs = r.state !== 'up' || changed ? this.opts.unhealthyMs : Math.min(e.intervalMs * 2, this.opts.stableMs);
    e.dueAt = now + e.intervalMs;
    if (r.state !== prev || first) {
      if (this.gauge) for (const s of STATES) this.gauge.set({ stage: e.name, kind: e.kind, state: s }, s === r.state ? 1 : 0);
    }
    if (r.state !== prev && !(first && r.state === 'up')) {
      const { stage: _stage, dueAt: _due, ...h } = e;
      this.opts.onChange?.(h, first ? undefined : prev);
    } else if (first && r.state !== 'up') {
      const { stage: _stage, dueAt: _due, ...h } = e;
      this.opts.onChange?.(h, undefined);
    }
  }
}
