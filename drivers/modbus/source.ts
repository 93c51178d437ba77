/**
 * A running Modbus source: one connection (ModbusLink), one circuit breaker per device, one
 * poll loop per poll group. Each poll reads the group's plan, decodes, filters by deadband and
 * offers one SampleBatch to the source channel without waiting: a poll that overruns its
 * interval, or finds the channel full, is counted as an overrun and skipped, never queued.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Backoff, sleep } from '../../src/core/backoff.ts';
import { CircuitBreaker } from '../../src/core/breaker.ts';
import { errorCode, errorMessage, isFgError } from '../../src/core/errors.ts';
import type { ProbeResult } from '../../src/core/probe.ts';
import type { Quality, Sample, SampleValue } from '../../src/core/sample.ts';
import type { Source, SourceContext } from '../../src/pipeline/contracts.ts';
import type { ModbusSourceConfig } from './config.ts';
import { DISCONNECTED, ModbusLink, ReadError } from './link.ts';
import { describePlan, planSource, splitRead, type DevicePlan, type PlannedTag, type PollGroup, type Read } from './plan.ts';

/** The reads of one poll still outstanding, and where their samples go. */
interface PollRun {
  /** sized for every tag of the group up front (no regrowth while it fills); `n` are filled */
  out: Sample[];
  n: number;
  pending: number;
  finish: () => void;
}

interface TagState {
  value: SampleValue;
  quality: Quality;
  reason?: string;
  sentAt: number;
}

/** Exceptions that say the unit id behind a gateway is unreachable count against its breaker. */
const DEAD_DEVICE_EXCEPTIONS = new Set([10, 11]);
const LATENCY_RING = 1024;

export interface ModbusSourceStats {
  polls: number;
  overruns: number;
  requests: number;
  splits: number;
  /** recent poll durations (ms), newest last */
  latencies: number[];
}

export class ModbusSource implements Source {
  readonly groups: PollGroup[];
  private readonly link: ModbusLink;
  private readonly breakers: CircuitBreaker[];
  private readonly states = new Map<PlannedTag, TagState>();
  private polls = 0;
  private overruns = 0;
  private splits = 0;
  private readonly latency = new Float64Array(LATENCY_RING);
  private latencyN = 0;
  private stopping = false;

  constructor(
    private readonly cfg: ModbusSourceConfig,
    private readonly ctx: SourceContext,
  ) {
    this.groups = planSource(cfg);
    this.link = new ModbusLink(cfg);
    this.breakers = cfg.devices.map(
      (d, i) =>
        new CircuitBreaker({
          name: `${cfg.id}/${d.name ?? `unit ${d.unit}`}#${i}`,
          failureRate: d.breaker.failureRate,
          minCalls: d.breaker.minCalls,
          windowMs: d.breaker.window,
          cooldownMs: d.breaker.cooldown,
          halfOpenProbes: 1,
        }),
    );
    this.breakers.forEach((b, i) =>
      b.on('state', (to, from) => {
        const d = cfg.devices[i]!;
        const level = to === 'open' ? 'warn' : 'info';
        this.ctx.log[level]({ device: d.name ?? d.unit, from, to, reason: b.lastFailure }, `modbus device breaker ${to}`);
      }),
    );
  }

  async run(signal: AbortSignal): Promise<void> {
    this.stopping = false;
    this.ctx.log.info({ connection: this.link.describe, plan: describePlan(this.groups) }, 'modbus source planned');
    let firstAttempt!: () => void;
    const attempted = new Promise<void>((r) => (firstAttempt = r));
    try {
      await Promise.all([
        this.connectionLoop(signal, firstAttempt),
        ...this.groups.map(async (g) => {
          await attempted;
          await this.groupLoop(g, signal);
        }),
      ]);
    } finally {
      this.stopping = true;
      await this.link.close();
    }
  }

  probe(): ProbeResult {
    const details = {
      connection: this.link.describe,
      connected: this.link.connected,
      requests: this.link.requests,
      polls: this.polls,
      overruns: this.overruns,
      splits: this.splits,
      plan: describePlan(this.groups),
      breakers: Object.fromEntries(this.breakers.map((b, i) => [this.cfg.devices[i]!.name ?? `unit ${this.cfg.devices[i]!.unit}`, b.state])),
      ...this.percentiles(),
    };
    if (!this.link.connected) {
      return { state: 'down', reason: `not connected to ${this.link.describe}${this.link.lastError ? `: ${this.link.lastError}` : ''}`, details };
    }
    const open = this.breakers.map((b, i) => ({ b, i })).filter(({ b }) => b.state !== 'closed');
    if (open.length > 0) {
      const names = open.map(({ b, i }) => `${this.cfg.devices[i]!.name ?? `unit ${this.cfg.devices[i]!.unit}`} (${b.lastFailure ?? 'failing'})`);
      return { state: 'degraded', reason: `device breaker open: ${names.join(', ')}`, details };
    }
    return { state: 'up', details };
  }

  stats(): ModbusSourceStats {
    const n = Math.min(this.latencyN, LATENCY_RING);
    const latencies: number[] = [];
    for (let i = this.latencyN - n; i < this.latencyN; i++) latencies.push(this.latency[i % LATENCY_RING]!);
    return { polls: this.polls, overruns: this.overruns, requests: this.link.requests, splits: this.splits, latencies };
  }

  // ---- connection ------------------------------------------------------------------------

  private async connectionLoop(signal: AbortSignal, firstAttempt: () => void): Promise<void> {
    const backoff = new Backoff({ initialMs: this.cfg.reconnect.initial, maxMs: this.cfg.reconnect.max });
    let failures = 0;
    while (!signal.aborted) {
      try {
        await this.link.connect(signal);
        firstAttempt();
        backoff.reset();
        if (failures > 0) this.ctx.log.info({ after: failures }, 'modbus connection restored');
        failures = 0;
        const why = await new Promise<string>((resolve) => {
          const onAbort = () => resolve('stopping');
          signal.addEventListener('abort', onAbort, { once: true });
          this.link.onCloseOnce((w) => {
            signal.removeEventListener('abort', onAbort);
            resolve(w);
          });
        });
        if (signal.aborted) return;
        this.ctx.stageMetrics.error('FG_E_MODBUS_DISCONNECTED');
        this.ctx.log.warn({ reason: why }, 'modbus connection lost; reconnecting');
      } catch (e) {
        firstAttempt();
        if (signal.aborted) return;
        failures++;
        this.ctx.stageMetrics.error(errorCode(e));
        // the first failure and then every 10th, so a device that is away for hours does not flood the log
        if (failures === 1 || failures % 10 === 0) {
          this.ctx.log.warn({ code: isFgError(e) ? e.code : undefined, failures, err: errorMessage(e) }, 'modbus connect failed');
        }
      }
      await sleep(backoff.next(), signal).catch(() => {});
    }
  }

  // ---- polling ---------------------------------------------------------------------------

  private async groupLoop(g: PollGroup, signal: AbortSignal): Promise<void> {
    const out = this.ctx.out;
    let next = performance.now();
    while (!signal.aborted && !out.closed) {
      const req0 = this.link.requests;
      if (out.whenFull === 'block' && out.depth >= out.capacity) this.overrun(1);
      else await this.poll(g);
      this.ctx.heartbeat();
      if (g.interval === 0) {
        // back to back: a poll that waited for the network already let the loop turn; one that
        // sent nothing (disconnected, breakers open, channel full) must yield or it would spin
        if (this.link.requests === req0) await yieldToLoop();
        continue;
      }
      next += g.interval;
      const now = performance.now();
      if (now >= next) {
        // the poll took longer than its interval: the ticks it covered are skipped, not queued
        const missed = Math.floor((now - next) / g.interval) + 1;
        this.overrun(missed);
        next += missed * g.interval;
      }
      await sleep(next - now, signal).catch(() => {});
    }
  }

  /** One poll of a group: every device's reads, one batch. */
  async poll(g: PollGroup): Promise<void> {
    const t0 = performance.now();
    const samples = new Array<Sample>(g.tagCount);
    const run: PollRun = { out: samples, n: 0, pending: 1, finish: noop };
    // callbacks, not a promise per read: the poll waits once, for its last read
    await new Promise<void>((finish) => {
      run.finish = finish;
      for (const d of g.devices) for (const r of d.reads.slice()) this.startRead(d, r, run, 0);
      this.readDone(run);
    });
    samples.length = run.n; // a deadband may have held some back
    this.polls++;
    this.latency[this.latencyN++ % LATENCY_RING] = performance.now() - t0;
    if (samples.length === 0) return;
    this.ctx.stageMetrics.received(samples.length);
    const out = this.ctx.out;
    if (out.closed || this.stopping) return;
    if (out.trySend({ source: this.cfg.id, samples, receivedAt: Date.now() })) this.ctx.stageMetrics.sent(samples.length);
    else {
      this.overrun(1);
      this.ctx.stageMetrics.dropped(samples.length, 'overrun');
    }
  }

  /** skipped polls: in the status and in /metrics (fieldgate_source_overruns_total) */
  private overrun(n: number): void {
    this.overruns += n;
    this.ctx.stageMetrics.overrun(n);
  }

  private readDone(run: PollRun): void {
    if (--run.pending === 0) run.finish();
  }

  /** Issues one read of the plan (attempt > 0: a retry after a timeout). */
  private startRead(d: DevicePlan, read: Read, run: PollRun, attempt: number): void {
    run.pending++;
    if (!this.link.connected) {
      this.markBad(read, DISCONNECTED, run);
      this.readDone(run);
      return;
    }
    if (attempt === 0 && !this.breakers[d.index]!.allow()) {
      this.markBad(read, BREAKER_OPEN, run);
      this.readDone(run);
      return;
    }
    this.link.submit(d.unit, read.area, read.start, read.count, d.timeout, (err, buf) => {
      try {
        if (err) this.onReadError(d, read, run, attempt, err);
        else this.decode(d, read, buf!, run);
      } catch (e) {
        // a bug here must not hang the poll or vanish inside modbus-serial's handler
        this.ctx.stageMetrics.error(errorCode(e));
        this.ctx.log.error({ err: errorMessage(e), device: d.name }, 'modbus read handling failed');
      } finally {
        this.readDone(run);
      }
    });
  }

  private onReadError(d: DevicePlan, read: Read, run: PollRun, attempt: number, err: ReadError): void {
    const breaker = this.breakers[d.index]!;
    if (err === DISCONNECTED) {
      // not the device's fault; only a half-open probe must report back
      if (breaker.state === 'half-open') breaker.failure('disconnected');
      this.markBad(read, err, run);
      return;
    }
    if (err.reason === 'timeout' && attempt < this.cfg.retries) {
      this.startRead(d, read, run, attempt + 1);
      return;
    }
    this.ctx.stageMetrics.error(err.code);
    if (err.exception !== undefined && !DEAD_DEVICE_EXCEPTIONS.has(err.exception)) {
      breaker.success(); // the device answered: it is alive
      const parts = err.exception === 2 ? splitRead(read) : undefined;
      if (parts) {
        // remember the split: later polls issue the pieces directly
        const i = d.reads.indexOf(read);
        if (i >= 0) d.reads.splice(i, 1, ...parts);
        this.splits++;
        this.ctx.log.debug({ device: d.name, area: read.area, start: read.start, count: read.count }, 'modbus read refused (illegal data address); split');
        for (const p of parts) this.startRead(d, p, run, 0);
        return;
      }
    } else breaker.failure(err.reason);
    this.markBad(read, err, run);
  }

  private decode(d: DevicePlan, read: Read, buf: Buffer, run: PollRun): void {
    this.breakers[d.index]!.success();
    const ts = Date.now();
    const source = this.cfg.id;
    const tags = read.tags;
    for (let i = 0; i < tags.length; i++) {
      const tag = tags[i]!;
      let v: SampleValue;
      try {
        v = tag.decode(buf, tag.address - read.start);
      } catch (e) {
        this.emit(tag, ts, null, 'bad', `decode error: ${errorMessage(e)}`, run);
        continue;
      }
      if (typeof v === 'number' && !Number.isFinite(v)) this.emit(tag, ts, null, 'bad', `decode error: ${v}`, run);
      else if (tag.deadband === undefined) run.out[run.n++] = new GoodSample(source, tag.name, ts, v); // the hot path
      else this.emit(tag, ts, v, 'good', undefined, run);
    }
  }

  private markBad(read: Read, err: ReadError, run: PollRun): void {
    const ts = Date.now();
    for (const tag of read.tags) this.emit(tag, ts, null, 'bad', err.reason, run);
  }

  /** Applies the tag's deadband / maxInterval and appends the sample when it is to be reported. */
  private emit(tag: PlannedTag, ts: number, value: SampleValue, quality: Quality, reason: string | undefined, run: PollRun): void {
    const db = tag.deadband;
    if (db) {
      const st = this.states.get(tag);
      if (st && st.quality === quality && st.reason === reason && (tag.maxInterval === undefined || ts - st.sentAt < tag.maxInterval)) {
        let same: boolean;
        if (typeof value === 'number' && typeof st.value === 'number') {
          const limit = db.relative ? Math.abs(st.value) * db.value : db.value;
          same = limit === 0 ? value === st.value : Math.abs(value - st.value) < limit;
          // a zero deadband means "on change"; a positive one reports changes of at least the limit
        } else same = value === st.value;
        if (same) return;
      }
      if (st) {
        st.value = value;
        st.quality = quality;
        st.reason = reason;
        st.sentAt = ts;
      } else this.states.set(tag, { value, quality, reason, sentAt: ts });
    }
    const s: Sample = { source: this.cfg.id, tag: tag.name, ts, value, quality };
    if (reason !== undefined) s.reason = reason;
    run.out[run.n++] = s;
  }

  private percentiles(): { pollP50Ms?: number; pollP99Ms?: number } {
    const l = this.stats().latencies.sort((a, b) => a - b);
    if (l.length === 0) return {};
    return { pollP50Ms: round(l[Math.floor(l.length * 0.5)]!), pollP99Ms: round(l[Math.min(l.length - 1, Math.floor(l.length * 0.99))]!) };
  }
}

const noop = (): void => {};

const BREAKER_OPEN = new ReadError('breaker open', 'FG_E_BREAKER_OPEN');

/**
 * Builds a good sample, a plain object like any other (its prototype is Object.prototype), but
 * by `new` rather than an object literal: V8 may pretenure a literal's allocation site once many
 * of its objects outlive a young-generation GC (samples wait for the rest of their poll), and
 * then every sample is born in the old generation; GC then cost more than decoding.
 */
const GoodSample = function (this: Sample, source: string, tag: string, ts: number, value: SampleValue) {
  this.source = source;
  this.tag = tag;
  this.ts = ts;
  this.value = value;
  this.quality = 'good';
} as unknown as new (source: string, tag: string, ts: number, value: SampleValue) => Sample;
GoodSample.prototype = Object.prototype;

function round(v: number): number {
  return Math.round(v * 100) / 100;
}
