/**
 * A running Modbus source: one connection (ModbusLink), one circuit breaker per device, one
 * poll loop per poll group. Each poll reads the group's plan, decodes, filters by deadband and
 * offers one SampleBatch to the source channel without waiting: a poll that overruns its
 * interval, or finds the channel full, is counted as an overrun and skipped, never queued.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Counter } from 'prom-client';
import { sleep } from '../../src/core/backoff.ts';
import { CircuitBreaker } from '../../src/core/breaker.ts';
import { errorCode, errorMessage, isFgError } from '../../src/core/errors.ts';
import type { Metrics } from '../../src/core/metrics.ts';
import type { ProbeResult } from '../../src/core/probe.ts';
import { ColumnarBatch, type Quality, type Sample, type SampleBatch, type SampleValue } from '../../src/core/sample.ts';
import type { Source, SourceContext } from '../../src/core/contracts.ts';
import type { ModbusSourceConfig } from './config.ts';
import { DISCONNECTED, ModbusLink, ReadError } from './link.ts';
import { ReconnectPolicy } from './reconnect.ts';
import { describePlan, planSource, splitRead, type DevicePlan, type PlannedTag, type PollGroup, type Read } from './plan.ts';

/**
 * The reads of one poll still outstanding, and where their samples go: position i is either a
 * good number in the columns (tags, ts, values, f32: the hot path) or a Sample object in `out`
 * (bad, deadbanded or not a number). All sized for every tag of the group up front; `n` are filled.
 */
interface PollRun {
  tags: string[];
  ts: Float64Array;
  values: Float64Array;
  f32: Uint8Array;
  /** made on the first sample that is not a good number */
  out?: (Sample | undefined)[];
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
  private readonly deviceErrors: Counter<'stage' | 'device' | 'code'>;
  private readonly throttle = new LogThrottle(LOG_EVERY_MS);

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
    this.deviceErrors = deviceErrorCounter(ctx.metrics);
    this.link.onProblem = (code, reason, unit) => {
      const d = this.cfg.devices.find((x) => x.unit === unit);
      const device = d ? (d.name ?? `unit ${d.unit}`) : `unit ${unit}`;
      this.countError(device, code, `${device}: ${reason}`);
    };
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

  /**
   * Connects, waits for the loss, reconnects (see reconnect.ts for when). Logs once per state
   * change, with counts: the first loss or failure, a change of its cause, and the recovery;
   * never once per attempt. A connection that keeps dropping before it is stable is logged at
   * its 1st, 2nd, 4th, 8th... drop.
   */
  private async connectionLoop(signal: AbortSignal, firstAttempt: () => void): Promise<void> {
    const rc = this.cfg.reconnect;
    const policy = new ReconnectPolicy({ initial: rc.initial, max: rc.max, stable: rc.stable });
    const log = this.ctx.log;
    let failures = 0;
    let lastCause: string | undefined;
    let downSince: number | undefined;
    let unstable = 0;
    let everConnected = false;
    while (!signal.aborted) {
      let delay: number;
      try {
        await this.link.connect(signal);
        const now = performance.now();
        firstAttempt();
        policy.connected(now);
        if (downSince !== undefined) {
          const fields = { connection: this.link.describe, failedAttempts: failures, downMs: Math.round(now - downSince) };
          if (unstable === 0) log.info(fields, 'modbus connection restored');
          else log.debug(fields, 'modbus connection restored');
        } else if (!everConnected) log.info({ connection: this.link.describe }, 'modbus connected');
        everConnected = true;
        failures = 0;
        lastCause = undefined;
        downSince = undefined;
        const why = await new Promise<string>((resolve) => {
          const onAbort = () => resolve('stopping');
          signal.addEventListener('abort', onAbort, { once: true });
          this.link.onCloseOnce((w) => {
            signal.removeEventListener('abort', onAbort);
            resolve(w);
          });
        });
        if (signal.aborted) return;
        const t = performance.now();
        const lost = policy.lost(t);
        delay = lost.delay;
        downSince = t;
        this.ctx.stageMetrics.error('FG_E_MODBUS_DISCONNECTED');
        if (lost.healthy) {
          unstable = 0;
          log.warn({ connection: this.link.describe, reason: why, upMs: Math.round(lost.upMs), retryInMs: delay }, 'modbus connection lost; reconnecting');
        } else {
          unstable++;
          const fields = { connection: this.link.describe, reason: why, upMs: Math.round(lost.upMs), drops: unstable, retryInMs: delay };
          if ((unstable & (unstable - 1)) === 0) log.warn(fields, 'modbus connection unstable: dropped before it was stable; backing off');
          else log.debug(fields, 'modbus connection unstable');
        }
      } catch (e) {
        firstAttempt();
        if (signal.aborted) return;
        const t = performance.now();
        downSince ??= t;
        failures++;
        delay = policy.failed(t);
        this.ctx.stageMetrics.error(errorCode(e));
        const cause = errorMessage(e);
        const fields = { code: isFgError(e) ? e.code : undefined, failures, err: cause, retryInMs: delay };
        // a new cause is a state change; the same cause again is not
        if (cause !== lastCause) log.warn(fields, 'modbus connect failed');
        else log.debug(fields, 'modbus connect failed');
        lastCause = cause;
      }
      await sleep(delay, signal).catch(() => {});
    }
  }

  // ---- polling ---------------------------------------------------------------------------

  private async groupLoop(g: PollGroup, signal: AbortSignal): Promise<void> {
    const out = this.ctx.out;
    // the overload rule: while a connected sink lags, some ticks are skipped (evenly spread)
    const admit = this.ctx.pollGate?.();
    let next = performance.now();
    while (!signal.aborted && !out.closed) {
      const req0 = this.link.requests;
      if (out.whenFull === 'block' && out.depth >= out.capacity) this.overrun(1, 'full');
      else if (admit && !admit()) this.overrun(1, 'shed');
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
        this.overrun(missed, 'late');
        next += missed * g.interval;
      }
      await sleep(next - now, signal).catch(() => {});
    }
  }

  /** One poll of a group: every device's reads, one batch. */
  async poll(g: PollGroup): Promise<void> {
    const t0 = performance.now();
    const size = g.tagCount;
    const run: PollRun = { tags: new Array<string>(size), ts: new Float64Array(size), values: new Float64Array(size), f32: new Uint8Array(size), n: 0, pending: 1, finish: noop };
    // callbacks, not a promise per read: the poll waits once, for its last read
    await new Promise<void>((finish) => {
      run.finish = finish;
      for (const d of g.devices) for (const r of d.reads.slice()) this.startRead(d, r, run, 0);
      this.readDone(run);
    });
    this.polls++;
    this.latency[this.latencyN++ % LATENCY_RING] = performance.now() - t0;
    const n = run.n; // a deadband may have held some back
    if (n === 0) return;
    this.ctx.stageMetrics.received(n);
    const out = this.ctx.out;
    if (out.closed || this.stopping) return;
    if (out.trySend(this.batchOf(run, Date.now()))) this.ctx.stageMetrics.sent(n);
    else {
      this.overrun(1, 'full');
      this.ctx.stageMetrics.dropped(n, 'overrun');
    }
  }

  /** A poll's batch: columnar when every sample is a good number (the common case), else Sample objects. */
  private batchOf(run: PollRun, receivedAt: number): SampleBatch {
    const n = run.n;
    const source = this.cfg.id;
    if (run.out === undefined) {
      run.tags.length = n;
      const cut = n < run.values.length;
      return new ColumnarBatch(source, run.tags, cut ? run.ts.subarray(0, n) : run.ts, cut ? run.values.subarray(0, n) : run.values, cut ? run.f32.subarray(0, n) : run.f32, receivedAt);
    }
    const samples = new Array<Sample>(n);
    for (let i = 0; i < n; i++) {
      samples[i] = run.out[i] ?? (run.f32[i] === 1
        ? new GoodFloat32Sample(source, run.tags[i]!, run.ts[i]!, run.values[i]!)
        : new GoodSample(source, run.tags[i]!, run.ts[i]!, run.values[i]!));
    }
    return { source, samples, receivedAt };
  }

  /** skipped polls: in the status and in /metrics (fieldgate_source_overruns_total{reason}) */
  private overrun(n: number, reason: 'late' | 'full' | 'shed'): void {
    this.overruns += n;
    this.ctx.stageMetrics.overrun(n, reason);
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
    this.countError(d.name, err.code, err.code === 'FG_E_MODBUS_FRAME' ? `${d.name}: ${err.reason}` : undefined);
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
    this.markBad(read, err, run, err.code === 'FG_E_MODBUS_FRAME' ? `${d.name}: ${err.reason}` : err.reason);
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
        const reason = `decode error: ${errorMessage(e)}`;
        this.countError(d.name, 'FG_E_MODBUS_DECODE', `${tag.name}: ${reason}`);
        this.emit(tag, ts, null, 'bad', reason, run);
        continue;
      }
      if (tag.nonFiniteBad && typeof v === 'number' && !Number.isFinite(v)) {
        this.countError(d.name, 'FG_E_MODBUS_NOT_FINITE', undefined);
        this.emit(tag, ts, null, 'bad', `not finite: ${v}`, run);
      } else if (tag.deadband === undefined) {
        // the hot path: a good number goes into the poll's columns; a float32 register's is flagged
        // so sinks print the float32's shortest text
        if (typeof v === 'number') {
          const i = run.n++;
          run.tags[i] = tag.name;
          run.ts[i] = ts;
          run.values[i] = v;
          run.f32[i] = tag.float32 ? 1 : 0;
        } else (run.out ??= new Array<Sample | undefined>(run.values.length))[run.n++] = new GoodSample(source, tag.name, ts, v);
      }
      else this.emit(tag, ts, v, 'good', undefined, run);
    }
  }

  private markBad(read: Read, err: ReadError, run: PollRun, reason = err.reason): void {
    const ts = Date.now();
    for (const tag of read.tags) this.emit(tag, ts, null, 'bad', reason, run);
  }

  /**
   * Counts an error of a device (fieldgate_errors_total and, by device,
   * fieldgate_modbus_device_errors_total); `logReason` also logs it, at most once per cause per
   * LOG_EVERY_MS with the number held back since.
   */
  private countError(device: string, code: string, logReason: string | undefined): void {
    this.ctx.stageMetrics.error(code);
    this.deviceErrors.labels(this.ctx.stageMetrics.stage, device, code).inc();
    if (logReason === undefined) return;
    const held = this.throttle.pass(`${device}\0${code}`);
    if (held >= 0) this.ctx.log.warn({ device, code, reason: logReason, ...(held > 0 ? { heldBack: held } : {}) }, 'modbus bad answer');
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
    if (tag.float32 && typeof value === 'number') s.float32 = true;
    (run.out ??= new Array<Sample | undefined>(run.values.length))[run.n++] = s;
  }

  private percentiles(): { pollP50Ms?: number; pollP99Ms?: number } {
    const l = this.stats().latencies.sort((a, b) => a - b);
    if (l.length === 0) return {};
    return { pollP50Ms: round(l[Math.floor(l.length * 0.5)]!), pollP99Ms: round(l[Math.min(l.length - 1, Math.floor(l.length * 0.99))]!) };
  }
}

const noop = (): void => {};

/** How often one cause (device and code) of bad answers may be logged. */
const LOG_EVERY_MS = 60_000;

/** Lets one log line per key through per interval; counts the ones held back. */
class LogThrottle {
  private readonly keys = new Map<string, { at: number; held: number }>();
  constructor(private readonly everyMs: number) {}

  /** -1: hold this one back; else log it, mentioning that many held back since the last. */
  pass(key: string): number {
    const now = performance.now();
    const k = this.keys.get(key);
    if (k === undefined) {
      this.keys.set(key, { at: now, held: 0 });
      return 0;
    }
    if (now - k.at < this.everyMs) {
      k.held++;
      return -1;
    }
    const held = k.held;
    k.at = now;
    k.held = 0;
    return held;
  }
}

/** One counter per metrics registry (a reload builds new sources against the same registry). */
function deviceErrorCounter(metrics: Metrics): Counter<'stage' | 'device' | 'code'> {
  const name = 'fieldgate_modbus_device_errors_total';
  const existing = metrics.registry.getSingleMetric(name) as Counter<'stage' | 'device' | 'code'> | undefined;
  return existing ?? new Counter({ name, help: 'Modbus errors by source stage, device and FG_E_ code', labelNames: ['stage', 'device', 'code'], registers: [metrics.registry] });
}

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

/** GoodSample of an unscaled float32 register: `float32` set in the constructor, so these share one shape too. */
const GoodFloat32Sample = function (this: Sample, source: string, tag: string, ts: number, value: SampleValue) {
  this.source = source;
  this.tag = tag;
  this.ts = ts;
  this.value = value;
  this.quality = 'good';
  this.float32 = true;
} as unknown as new (source: string, tag: string, ts: number, value: SampleValue) => Sample;
GoodFloat32Sample.prototype = Object.prototype;

function round(v: number): number {
  return Math.round(v * 100) / 100;
}
