/**
 * When to reconnect. Two regimes:
 *
 * - A connection that stayed up for `stable` ms was healthy. When it is lost, the device most
 *   likely restarted or a cable was replugged: retry within about a second (FAST_MS, jittered)
 *   and keep retrying that fast for FAST_WINDOW_MS, so a short outage costs seconds, not tens
 *   of seconds; the backoff starts over.
 * - Anything else is a failure and takes one step of exponential backoff (equal jitter: half the
 *   step fixed, half random, between `initial` and `max`): a refused connect, and a connection
 *   that dropped before it was stable (a device that accepts and hangs up at once, or a gateway
 *   that closes on garbage). Such a device is therefore reconnected at most once per step, and
 *   its backoff only starts over once a connection has stayed up for `stable` ms.
 */
export const FAST_MS = 1_000;
export const FAST_WINDOW_MS = 30_000;

export interface ReconnectOptions {
  initial: number;
  max: number;
  stable: number;
  /** random source in [0, 1), injectable for tests */
  random?: () => number;
}

export class ReconnectPolicy {
  private step = 0;
  private fastUntil = -Infinity;
  private connectedAt: number | undefined;

  constructor(private readonly opts: ReconnectOptions) {}

  /** A connect succeeded at `now` (ms). */
  connected(now: number): void {
    this.connectedAt = now;
  }

  /** The connection was lost: whether it had been healthy, and the wait before the next attempt. */
  lost(now: number): { healthy: boolean; upMs: number; delay: number } {
    const upMs = this.connectedAt === undefined ? 0 : now - this.connectedAt;
    this.connectedAt = undefined;
    if (upMs >= this.opts.stable) {
      this.step = 0;
      this.fastUntil = now + FAST_WINDOW_MS;
      return { healthy: true, upMs, delay: this.fast() };
    }
    this.fastUntil = -Infinity; // a connection that did not last ends the fast retries
    return { healthy: false, upMs, delay: this.next(now) };
  }

  /** A connect attempt failed: the wait before the next one. */
  failed(now: number): number {
    return this.next(now);
  }

  /** Backoff steps taken since the last healthy connection. */
  get steps(): number {
    return this.step;
  }

  /** The lower bound of the wait of backoff step `i` (for tests and docs). */
  floor(i: number): number {
    return this.ceiling(i) / 2;
  }

  private ceiling(i: number): number {
    return Math.min(this.opts.max, this.opts.initial * 2 ** i);
  }

  private next(now: number): number {
    if (now < this.fastUntil) return this.fast();
    const c = this.ceiling(this.step);
    this.step++;
    return Math.round(c / 2 + this.random() * (c / 2));
  }

  private fast(): number {
    const c = Math.min(FAST_MS, this.opts.max);
    return Math.round(c / 2 + this.random() * (c / 2));
  }

  private random(): number {
    return (this.opts.random ?? Math.random)();
  }
}
