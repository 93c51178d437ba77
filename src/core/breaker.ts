import { EventEmitter } from 'node:events';
import { type Clock, systemClock } from './clock.ts';
import { FgError, errorMessage } from './errors.ts';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  name: string;
  /** failure ratio (0..1) over the window that opens the breaker */
  failureRate: number;
  /** calls needed in the window before the rate counts */
  minCalls: number;
  /** length of the sliding window */
  windowMs: number;
  /** how long the breaker stays open before letting probes through */
  cooldownMs: number;
  /** calls allowed through while half-open; all must succeed to close */
  halfOpenProbes: number;
  clock?: Clock;
}

export const BREAKER_DEFAULTS = {
  failureRate: 0.5,
  minCalls: 5,
  windowMs: 30_000,
  cooldownMs: 10_000,
  halfOpenProbes: 1,
} as const;

const BUCKETS = 10;

/**
 * Closed -> open when the failure rate over a sliding window (of BUCKETS time buckets)
 * reaches `failureRate` with at least `minCalls` calls; open -> half-open after `cooldownMs`;
 * half-open lets `halfOpenProbes` calls through: all succeed -> closed, one fails -> open.
 * Emits 'state' (state, previous) on every transition.
 */
export class CircuitBreaker extends EventEmitter<{ state: [BreakerState, BreakerState] }> {
  readonly name: string;
  private readonly opts: Required<Omit<BreakerOptions, 'clock'>>;
  private readonly clock: Clock;
  private _state: BreakerState = 'closed';
  private openedAt = 0;
  private probesIssued = 0;
  private probesSucceeded = 0;
  private readonly okBuckets = new Array<number>(BUCKETS).fill(0);
  private readonly failBuckets = new Array<number>(BUCKETS).fill(0);
  private bucketEpoch = 0;
  private _opens = 0;
  private _lastFailure?: string;

  constructor(opts: Partial<BreakerOptions> & { name: string; clock?: Clock }) {
    super();
    this.name = opts.name;
    this.opts = { ...BREAKER_DEFAULTS, ...opts } as Required<Omit<BreakerOptions, 'clock'>>;
    this.clock = opts.clock ?? systemClock;
    this.bucketEpoch = this.epoch();
  }

  get state(): BreakerState {
    if (this._state === 'open' && this.clock.now() - this.openedAt >= this.opts.cooldownMs) {
      this.transition('half-open');
    }
    return this._state;
  }

  /** times the breaker has opened since creation */
  get opens(): number {
    return this._opens;
  }

  get lastFailure(): string | undefined {
    return this._lastFailure;
  }

  /** When an open breaker will let a probe through (ms since epoch), else undefined. */
  get retryAt(): number | undefined {
    return this._state === 'open' ? this.openedAt + this.opts.cooldownMs : undefined;
  }

  /** Whether a call may go ahead now. A true answer while half-open reserves a probe slot. */
  allow(): boolean {
    const s = this.state;
    if (s === 'closed') return true;
    if (s === 'open') return false;
    if (this.probesIssued < this.opts.halfOpenProbes) {
      this.probesIssued++;
      return true;
    }
    return false;
  }

  success(): void {
    if (this._state === 'half-open') {
      this.probesSucceeded++;
      if (this.probesSucceeded >= this.opts.halfOpenProbes) this.transition('closed');
      return;
    }
    this.rotate();
    this.okBuckets[this.bucketEpoch % BUCKETS]!++;
  }

  failure(reason?: string): void {
    this._lastFailure = reason;
    if (this._state === 'half-open') {
      this.transition('open');
      return;
    }
    if (this._state === 'open') return;
    this.rotate();
    this.failBuckets[this.bucketEpoch % BUCKETS]!++;
    let ok = 0;
    let fail = 0;
    for (let i = 0; i < BUCKETS; i++) {
      ok += this.okBuckets[i]!;
      fail += this.failBuckets[i]!;
    }
    const calls = ok + fail;
    if (calls >= this.opts.minCalls && fail / calls >= this.opts.failureRate) this.transition('open');
  }

  /** Runs fn through the breaker: refuses with FG_E_BREAKER_OPEN when not allowed. */
  async run<R>(fn: () => Promise<R>): Promise<R> {
    if (!this.allow()) {
      throw new FgError('FG_E_BREAKER_OPEN', `breaker ${this.name} is open`, { details: { retryAt: this.retryAt } });
    }
    try {
      const r = await fn();
      this.success();
      return r;
    } catch (e) {
      this.failure(errorMessage(e));
      throw e;
    }
  }

  private epoch(): number {
    return Math.floor(this.clock.now() / (this.opts.windowMs / BUCKETS));
  }

  /** Clears buckets that slid out of the window. */
  private rotate(): void {
    const e = this.epoch();
    const gap = Math.min(BUCKETS, e - this.bucketEpoch);
    for (let i = 1; i <= gap; i++) {
      const b = (this.bucketEpoch + i) % BUCKETS;
      this.okBuckets[b] = 0;
      this.failBuckets[b] = 0;
    }
    this.bucketEpoch = e;
  }

  private transition(to: BreakerState): void {
    const from = this._state;
    if (from === to) return;
    this._state = to;
    if (to === 'open') {
      this.openedAt = this.clock.now();
      this._opens++;
    }
    if (to === 'half-open') {
      this.probesIssued = 0;
      this.probesSucceeded = 0;
    }
    if (to === 'closed') {
      this.okBuckets.fill(0);
      this.failBuckets.fill(0);
    }
    this.emit('state', to, from);
  }
}
