import { EventEmitter } from 'node:events';
import type { Logger } from '../log.ts';
import { Backoff, sleep } from './backoff.ts';
import { type Clock, systemClock } from './clock.ts';
import { errorCode, errorMessage } from './errors.ts';

export type StageState = 'idle' | 'running' | 'backoff' | 'failed' | 'stopped';

/** A stage: an async function that runs until its signal aborts (or it throws). */
export type StageFn = (signal: AbortSignal) => Promise<void>;

export interface SupervisorOptions {
  name: string;
  run: StageFn;
  log: Logger;
  /** first restart delay ceiling (full jitter below it) */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** give up after this many restarts within `windowMs` */
  maxRestarts?: number;
  windowMs?: number;
  /** a run that lasted this long resets the backoff */
  stableAfterMs?: number;
  clock?: Clock;
  random?: () => number;
  /** called on every caught error, for metrics */
  onError?: (code: string, err: unknown) => void;
}

export interface SupervisorStatus {
  name: string;
  state: StageState;
  since: number;
  restarts: number;
  lastError?: { code: string; message: string; at: number };
}

interface Events {
  state: [StageState, StageState];
}

/**
 * Runs a stage and keeps it running: a throw or rejection is logged with the stage name,
 * counted, and the stage restarts after exponential backoff with full jitter. More than
 * `maxRestarts` restarts within `windowMs` mark it failed for good. `restart()` aborts the
 * current run and starts a new one (the watchdog uses it).
 */
export class Supervisor extends EventEmitter<Events> {
  readonly name: string;
  private readonly opts: Required<Omit<SupervisorOptions, 'onError' | 'random' | 'clock'>> &
    Pick<SupervisorOptions, 'onError' | 'random'>;
  private readonly clock: Clock;
  private _state: StageState = 'idle';
  private since: number;
  private restartTimes: number[] = [];
  private restartsTotal = 0;
  private lastError?: SupervisorStatus['lastError'];
  private stopCtl?: AbortController;
  private runCtl?: AbortController;
  private loop?: Promise<void>;

  constructor(opts: SupervisorOptions) {
    super();
    this.name = opts.name;
    this.clock = opts.clock ?? systemClock;
    this.since = this.clock.now();
    this.opts = {
      initialBackoffMs: 200,
      maxBackoffMs: 30_000,
      maxRestarts: 10,
      windowMs: 60_000,
      stableAfterMs: 60_000,
      ...opts,
    };
  }

  get state(): StageState {
    return this._state;
  }

  status(): SupervisorStatus {
    return { name: this.name, state: this._state, since: this.since, restarts: this.restartsTotal, lastError: this.lastError };
  }

  /** Starts the loop; resolves at once. `done()` resolves when it ends for good. */
  start(): void {
    if (this.loop) return;
    this.stopCtl = new AbortController();
    this.loop = this.runLoop(this.stopCtl.signal);
  }

  /** Resolves when the stage has stopped or failed for good. */
  done(): Promise<void> {
    return this.loop ?? Promise.resolve();
  }

  /** Aborts the current run and waits for it to end (bounded by `deadlineMs`). */
  async stop(deadlineMs = 5_000): Promise<void> {
    if (!this.loop) return;
    this.stopCtl?.abort(new DOMException('stage stopping', 'AbortError'));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.opts.log.warn({ stage: this.name, deadlineMs }, 'stage did not stop within its deadline');
        resolve();
      }, deadlineMs);
    });
    await Promise.race([this.loop, deadline]);
    clearTimeout(timer);
  }

  /** Aborts the current run so the loop starts a fresh one (counted as a restart). */
  restart(reason: string): void {
    if (this._state !== 'running') return;
    this.opts.log.warn({ stage: this.name, reason }, 'restarting stage');
    this.runCtl?.abort(new DOMException(reason, 'AbortError'));
  }

  private setState(s: StageState): void {
    const prev = this._state;
    if (prev === s) return;
    this._state = s;
    this.since = this.clock.now();
    this.emit('state', s, prev);
  }

  private async runLoop(stop: AbortSignal): Promise<void> {
    const backoff = new Backoff({
      initialMs: this.opts.initialBackoffMs,
      maxMs: this.opts.maxBackoffMs,
      random: this.opts.random,
    });
    const log = this.opts.log;
    while (!stop.aborted) {
      this.runCtl = new AbortController();
      const signal = AbortSignal.any([stop, this.runCtl.signal]);
      const startedAt = this.clock.now();
      this.setState('running');
      let failed = false;
      try {
        await this.opts.run(signal);
        if (stop.aborted) break;
        if (!this.runCtl.signal.aborted) {
          // returned by itself: done, not crashed
          this.setState('stopped');
          return;
        }
        // aborted by restart(): fall through to the restart accounting
      } catch (err) {
        if (stop.aborted) break;
        failed = !this.runCtl.signal.aborted;
        const code = errorCode(err);
        this.lastError = { code, message: errorMessage(err), at: this.clock.now() };
        this.opts.onError?.(code, err);
        if (failed) log.error({ stage: this.name, code: 'FG_E_STAGE_CRASHED', cause: code, err }, 'stage crashed; restarting with backoff');
      }
      if (this.clock.now() - startedAt >= this.opts.stableAfterMs) backoff.reset();
      const now = this.clock.now();
      this.restartTimes = this.restartTimes.filter((t) => now - t < this.opts.windowMs);
      this.restartTimes.push(now);
      this.restartsTotal++;
      if (this.restartTimes.length > this.opts.maxRestarts) {
        this.setState('failed');
        log.error(
          { stage: this.name, code: 'FG_E_STAGE_FAILED', restarts: this.restartTimes.length, windowMs: this.opts.windowMs },
          'stage restarted too often; giving up',
        );
        this.opts.onError?.('FG_E_STAGE_FAILED', this.lastError);
        return;
      }
      this.setState('backoff');
      try {
        await sleep(failed ? backoff.next() : 0, stop);
      } catch {
        break;
      }
    }
    this.setState('stopped');
  }
}
