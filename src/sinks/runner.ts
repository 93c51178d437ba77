import { abortable } from '../core/abortable.ts';
import { Backoff, sleep } from '../core/backoff.ts';
import { FgError, errorCode, errorMessage } from '../core/errors.ts';
import type { StageMetrics } from '../core/metrics.ts';
import type { ProbeResult } from '../core/probe.ts';
import type { LagBound, Outbox, OutboxCursor, OutboxRecord } from '../outbox/index.ts';
import type { LoadReporter, SinkLoad, Stage, StageContext } from '../core/contracts.ts';

/** What a sink's upstream confirmed for one chunk of records. */
export type SendResult = { ok: true } | { ok: false; rejected: string };

/**
 * The protocol half of a sink. `send` resolves only on the upstream's confirmation (PUBACK, 2xx,
 * a completed file write) and throws when the chunk should be retried (connection lost, 5xx, timeout).
 */
export interface Transport {
  /** where records go, for log lines and the probe (no credentials) */
  readonly target: string;
  connect(signal: AbortSignal): Promise<void>;
  send(records: OutboxRecord[], signal: AbortSignal): Promise<SendResult>;
  /** drops the connection; the runner connects again after backoff */
  close(): Promise<void>;
  /** for session protocols: aborted when the connection drops, so an idle sink reconnects at once */
  lostSignal?(): AbortSignal | undefined;
}

export interface RunnerOptions {
  id: string;
  /** records read from the cursor per chunk (one HTTP request, one or more MQTT messages) */
  batchSize: number;
  /** chunks sent but not yet confirmed */
  maxInFlight: number;
  backoff: { initial: number; max: number };
  /** how far this sink may fall behind (sink config maxLag + whenBehind); the outbox applies it */
  lag?: LagBound;
  /** lag (ms) past which this sink, while connected and confirming, has the sources shed polls; 0 or unset: never */
  shedAt?: number;
}

interface InFlight {
  last: number;
  n: number;
  done: boolean;
  result?: SendResult;
  p: Promise<SendResult>;
}

/**
 * Reads a sink's cursor in order, sends chunks with a bounded window in flight, and moves the
 * cursor over a chunk only once it and every chunk before it are confirmed. On a failure the
 * unconfirmed chunks are sent again after backoff (same record ids: the upstream can dedupe).
 */
export class SinkRunner implements Stage, LoadReporter {
  readonly kind = 'sink' as const;
  readonly name: string;
  private readonly cursor: OutboxCursor;
  private readonly sm: StageMetrics;
  private readonly backoff: Backoff;
  private loop?: Promise<void>;
  private idle?: AbortController;
  private hard?: AbortController;
  private stopping = false;
  private connected = false;
  private lastError?: { code: string; message: string; at: number };
  private lastErrorLog = 0;
  private sent = 0;
  private deadLetter = 0;
  private inFlightCount = 0;
  /** set when a backlog starts draining after an outage, to report the drain rate */
  private drain?: { from: number; at: number; backlog: number };
  private lastDrainRate?: number;
  /** performance.now() of the last confirmation (or connection): a sink with work and none for long is stalled */
  private lastAckAt = 0;
  private unregister?: () => void;

  constructor(private readonly opts: RunnerOptions, private readonly transport: Transport, outbox: Outbox, private readonly ctx: StageContext) {
    this.name = `sink.${opts.id}`;
    this.cursor = outbox.cursor(opts.id, opts.lag);
    this.sm = ctx.metrics.stage(this.name);
    this.backoff = new Backoff({ initialMs: opts.backoff.initial, maxMs: opts.backoff.max });
  }

  async start(): Promise<void> {
    if (this.loop) return;
    this.stopping = false;
    this.idle = new AbortController();
    this.hard = new AbortController();
    this.loop = this.run();
    if (this.opts.shedAt) this.unregister = this.ctx.overload?.register(this);
  }

  /** Stops reading, waits for in-flight confirmations until the deadline, then closes. */
  async stop(deadlineMs: number): Promise<void> {
    if (!this.loop) return;
    this.stopping = true;
    this.unregister?.();
    this.unregister = undefined;
    this.idle?.abort(new DOMException('sink stopping', 'AbortError'));
    const t = setTimeout(() => this.hard?.abort(new DOMException('sink stop deadline', 'AbortError')), deadlineMs);
    try {
      await this.loop;
    } finally {
      clearTimeout(t);
      this.loop = undefined;
      await this.transport.close();
      this.connected = false;
    }
  }

  probe(): ProbeResult {
    const details = {
      target: this.transport.target, backlog: this.cursor.backlog(), lagMs: Math.round(this.cursor.lagMs()), acked: this.cursor.acked, sent: this.sent,
      deadLetter: this.deadLetter, inFlight: this.inFlightCount, lastDrainRate: this.lastDrainRate, lastError: this.lastError,
      // records this sink did not get, by reason (lag bound, the outbox's own drops)
      skipped: { ...this.cursor.dropped },
    };
    if (!this.loop) return { state: 'down', reason: 'sink not running', details };
    if (!this.connected) {
      const why = this.lastError ? `${this.lastError.code}: ${this.lastError.message}` : 'connecting';
      return { state: 'down', reason: `upstream ${this.transport.target} unreachable (${why}); backlog ${details.backlog} records`, details };
    }
    return { state: 'up', details };
  }

  /** For the overload rule: only while connected (a sink whose upstream is down never sheds). */
  overloadReport(): SinkLoad | undefined {
    if (!this.connected || !this.opts.shedAt) return undefined;
    return {
      sink: this.opts.id, shedAt: this.opts.shedAt, lagMs: this.cursor.lagMs(),
      acked: this.cursor.acked, backlog: this.cursor.backlog(), lastAckAt: this.lastAckAt,
    };
  }

  private async run(): Promise<void> {
    const idle = this.idle!.signal;
    const hard = this.hard!.signal;
    while (!this.stopping) {
      try {
        await this.transport.connect(hard);
        this.connected = true;
        this.lastAckAt = performance.now();
        this.lastError = undefined;
        const backlog = this.cursor.backlog();
        if (backlog > 0) this.drain = { from: this.sent, at: performance.now(), backlog };
        this.ctx.log.info({ sink: this.opts.id, target: this.transport.target, backlog }, 'sink connected');
      } catch (e) {
        if (this.stopping) break;
        this.failed(e, 'FG_E_SINK_CONNECT');
        await sleep(this.backoff.next(), idle).catch(() => undefined);
        continue;
      }
      try {
        await this.pump(idle, hard);
      } catch (e) {
        this.connected = false;
        await this.transport.close();
        if (this.stopping) break;
        this.failed(e, 'FG_E_SINK_PUBLISH');
        await sleep(this.backoff.next(), idle).catch(() => undefined);
      }
    }
  }

  /** Sends until stopped or until a send fails (then throws). */
  private async pump(idle: AbortSignal, hard: AbortSignal): Promise<void> {
    const window: InFlight[] = [];
    // nothing of ours is in flight: what this sink skips (lag bound, outbox drops) is counted now
    let readPos = this.cursor.rewind();
    try {
      for (;;) {
        while (!this.stopping && window.length < this.opts.maxInFlight) {
          const f = this.sendNext(readPos, hard);
          if (f === undefined) break;
          readPos = f.last;
          window.push(f);
          // reading and encoding a chunk is synchronous: yield between chunks so a full window
          // is filled over several loop turns, not in one long block
          await new Promise<void>((r) => setImmediate(r));
        }
        this.inFlightCount = window.length;
        if (window.length === 0) {
          if (this.stopping) return;
          // everything read is confirmed: move over (and count) what this sink skips meanwhile
          readPos = this.cursor.rewind();
          if (this.cursor.read(readPos, 1).length > 0) continue;
          this.drainDone();
          const waiting = this.cursor.waitFor(readPos, idle).catch(() => undefined);
          const lost = this.transport.lostSignal?.();
          await (lost ? abortable(waiting, lost) : waiting);
          continue;
        }
        await window[0]!.p;
        this.lastAckAt = performance.now();
        while (window.length > 0 && window[0]!.done) {
          const f = window.shift()!;
          if (f.result && !f.result.ok) {
            this.deadLetter += f.n;
            this.sm.dropped(f.n, 'rejected');
            this.sm.error('FG_E_SINK_REJECTED');
            this.ctx.log.error({ code: 'FG_E_SINK_REJECTED', sink: this.opts.id, records: f.n, lastSeq: f.last, why: f.result.rejected }, 'upstream rejected a batch; counted as dead-lettered');
          } else {
            this.sent += f.n;
            this.sm.sent(f.n);
          }
          // records of (acked, last] not in the chunk were skipped for this sink: counted by the cursor
          this.cursor.ack(f.last, f.n);
          this.backoff.reset();
        }
      }
    } finally {
      this.inFlightCount = 0;
      for (const f of window) f.p.catch(() => undefined);
      // unconfirmed chunks are given up (sent again after reconnecting, or skipped if the bound moved past them)
      this.cursor.rewind();
    }
  }

  /**
   * Reads and sends the next chunk (undefined: nothing to read). Outside the async pump so the
   * chunk's records are not kept in its suspended frame while the chunk is in flight.
   */
  private sendNext(readPos: number, hard: AbortSignal): InFlight | undefined {
    const recs = this.cursor.read(readPos, this.opts.batchSize);
    if (recs.length === 0) return undefined;
    const f: InFlight = { last: recs[recs.length - 1]!.seq, n: recs.length, done: false, p: this.transport.send(recs, hard) };
    f.p.then((r) => { f.done = true; f.result = r; }, () => undefined);
    return f;
  }

  private drainDone(): void {
    if (!this.drain) return;
    const secs = (performance.now() - this.drain.at) / 1000;
    const n = this.sent - this.drain.from;
    this.lastDrainRate = Math.round(n / Math.max(secs, 0.001));
    this.ctx.log.info({ sink: this.opts.id, records: n, seconds: Math.round(secs * 10) / 10, perSecond: this.lastDrainRate }, 'sink backlog drained');
    this.drain = undefined;
  }

  private failed(e: unknown, fallback: 'FG_E_SINK_CONNECT' | 'FG_E_SINK_PUBLISH'): void {
    const code = e instanceof FgError ? e.code : errorCode(e) === 'FG_E_UNEXPECTED' ? fallback : errorCode(e);
    this.lastError = { code, message: errorMessage(e), at: Date.now() };
    this.sm.error(code);
    // one line per ~10 s while the upstream stays down, not one per retry
    const now = Date.now();
    if (now - this.lastErrorLog > 10_000) {
      this.lastErrorLog = now;
      this.ctx.log.warn({ code, sink: this.opts.id, target: this.transport.target, err: errorMessage(e), backlog: this.cursor.backlog() }, 'sink upstream unavailable; retrying with backoff');
    }
  }
}
