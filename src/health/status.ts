import type { ActiveAlarm } from '../core/contracts.ts';
import type { GatewayEvent, Prediction } from '../core/sample.ts';
import type { HealthConfig } from './config.ts';
import type { LoopMonitor } from './loop-monitor.ts';
import type { ProbeScheduler, StageHealth } from './probes.ts';
import type { StageRates } from './rates.ts';
import type { HealthView } from './view.ts';

export interface Verdict {
  ok: boolean;
  reasons: string[];
}

/** Liveness: false only when restarting the process would help (wedged loop, a stage failed for good). */
export function liveness(view: HealthView, loop: LoopMonitor): Verdict {
  const reasons: string[] = [];
  const blocked = loop.blocked();
  if (blocked) reasons.push(blocked);
  for (const s of view.sources) {
    const st = s.supervisor.status();
    if (st.state === 'failed') reasons.push(`${s.name} failed for good after ${st.restarts} restarts: ${st.lastError?.message ?? 'unknown'}`);
  }
  return { ok: reasons.length === 0, reasons };
}

/**
 * Readiness: the required stages are up (degraded counts) and data flows end to end: the router
 * routed a batch and the outbox accepted one within `maxDataAge`.
 */
export function readiness(view: HealthView, probes: ProbeScheduler, cfg: HealthConfig['readiness'], now = Date.now()): Verdict {
  const reasons: string[] = [];
  const health = probes.snapshot();
  const byKind = (k: string): StageHealth[] => health.filter((h) => h.kind === k);
  for (const h of [...byKind('outbox'), ...byKind('router')]) {
    if (h.state === 'down') reasons.push(`${h.name} is down: ${h.reason ?? 'no reason given'}`);
  }
  const sources = byKind('source');
  const downSources = sources.filter((h) => h.state === 'down');
  if (cfg.sources === 'all') {
    for (const h of downSources) reasons.push(`${h.name} is down: ${h.reason ?? 'no reason given'}`);
  } else if (sources.length > 0 && downSources.length === sources.length) {
    reasons.push(`every source is down (${sources.map((h) => h.name).join(', ')})`);
  }
  if (view.sources.length > 0) {
    const routed = view.router.lastBatchTime;
    const accepted = view.taps.lastAcceptedAt;
    if (routed === 0) reasons.push('no batch has reached the router yet');
    else if (now - routed > cfg.maxDataAge) reasons.push(`no batch routed for ${Math.round((now - routed) / 1000)} s (limit ${cfg.maxDataAge / 1000} s)`);
    if (accepted === 0) reasons.push('the outbox has not accepted a batch yet');
    else if (now - accepted > cfg.maxDataAge) reasons.push(`the outbox accepted nothing for ${Math.round((now - accepted) / 1000)} s (limit ${cfg.maxDataAge / 1000} s)`);
  }
  return { ok: reasons.length === 0, reasons };
}

export interface StageStatus extends StageHealth {
  rates: StageRates;
  channel?: { depth: number; capacity: number; whenFull?: string; dropped?: number };
  breaker?: string;
  restarts?: number;
  heartbeatAgeMs?: number;
  /** a reload is restarting it on purpose */
  planned?: boolean;
  /** raised model thresholds (model stages), e.g. ["score > 1"] */
  raised?: string[];
}

export interface StatusDocument {
  gateway: { id: string; pid: number; uptimeS: number; startedAt: number };
  time: number;
  live: Verdict;
  ready: Verdict;
  totals: { samplesPerS: number; predictionsPerS: number; backlog?: number; oldestAgeMs?: number; state: 'up' | 'degraded' | 'down' };
  stages: StageStatus[];
  predictions: Prediction[];
  events: GatewayEvent[];
  loop: { lagMs: number };
  /** active alarms on raw tags */
  alarms: ActiveAlarm[];
}

const ZERO: StageRates = { in: 0, out: 0 };

/** The detail behind /api/status, the dashboard and the status line. */
export function buildStatus(args: {
  gatewayId: string; startedAt: number; view: HealthView; probes: ProbeScheduler; loop: LoopMonitor;
  rates: Map<string, StageRates>; cfg: HealthConfig;
}): StatusDocument {
  const { view, probes, rates } = args;
  const now = Date.now();
  probes.refresh();
  const sources = new Map(view.sources.map((s) => [s.name, s]));
  const stages: StageStatus[] = probes.snapshot().map((h) => {
    const st: StageStatus = { ...h, rates: rates.get(h.name) ?? ZERO };
    const src = sources.get(h.name);
    const d = h.details ?? {};
    if (src) {
      const cs = src.channel.stats();
      st.channel = { depth: cs.depth, capacity: cs.capacity, whenFull: cs.whenFull, dropped: cs.dropped.oldest + cs.dropped.newest + cs.dropped.conflated };
      st.restarts = src.supervisor.status().restarts;
      st.heartbeatAgeMs = now - src.lastHeartbeat;
    } else if (typeof d.queue === 'number' && typeof d.queueCapacity === 'number') {
      st.channel = { depth: d.queue, capacity: d.queueCapacity };
    } else if (isChannel(d.channel)) {
      st.channel = d.channel;
    }
    if (Array.isArray(d.raised) && d.raised.length > 0) st.raised = d.raised.map(String);
    const breaker = breakerOf(d);
    if (breaker) st.breaker = breaker;
    return st;
  });
  const outbox = stages.find((s) => s.kind === 'outbox');
  const od = outbox?.details ?? {};
  const backlog = num(od.backlog) ?? num(od.rows);
  const oldestAgeMs = num(od.oldestAgeMs);
  const predictionsPerS = stages.filter((s) => s.kind === 'model').reduce((a, s) => a + s.rates.out, 0);
  const worst = stages.some((s) => s.state === 'down') ? 'down' : stages.some((s) => s.state === 'degraded') ? 'degraded' : 'up';
  return {
    gateway: { id: args.gatewayId, pid: process.pid, uptimeS: Math.round((now - args.startedAt) / 1000), startedAt: args.startedAt },
    time: now,
    live: liveness(view, args.loop),
    ready: readiness(view, probes, args.cfg.readiness, now),
    totals: { samplesPerS: rates.get('router')?.in ?? 0, predictionsPerS, backlog, oldestAgeMs, state: worst },
    stages,
    predictions: view.taps.predictions.toArray(),
    events: view.taps.events.toArray(),
    loop: { lagMs: Math.round(args.loop.lagMs) },
    alarms: [],
  };
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function isChannel(v: unknown): v is { depth: number; capacity: number } {
  return typeof v === 'object' && v !== null && typeof (v as { depth?: unknown }).depth === 'number' && typeof (v as { capacity?: unknown }).capacity === 'number';
}

/** A stage reports its breaker as details.breaker (a state) or details.breakers ({name: state}). */
function breakerOf(d: Record<string, unknown>): string | undefined {
  if (typeof d.breaker === 'string') return d.breaker;
  if (typeof d.breaker === 'object' && d.breaker !== null && typeof (d.breaker as { state?: unknown }).state === 'string') {
    return (d.breaker as { state: string }).state;
  }
  if (typeof d.breakers === 'object' && d.breakers !== null) {
    const states = Object.values(d.breakers as Record<string, unknown>).map((b) =>
      typeof b === 'string' ? b : typeof b === 'object' && b !== null ? String((b as { state?: unknown }).state) : '');
    if (states.includes('open')) return 'open';
    if (states.includes('half-open')) return 'half-open';
    if (states.length > 0) return 'closed';
  }
  return undefined;
}
