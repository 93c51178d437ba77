/**
 * Notices a blocked event loop: a timer that should fire every `tickMs` measures how late it
 * fired. A delay past the threshold is remembered for `memoryMs`, so /healthz can still say so
 * once the loop is free again (while it is blocked, nothing can answer at all).
 */
export class LoopMonitor {
  private timer?: NodeJS.Timeout;
  private expected = 0;
  /** the longest recent delay and when it ended */
  private worstMs = 0;
  private worstAt = 0;
  private lastMs = 0;

  constructor(private readonly opts: { thresholdMs: number; tickMs?: number; memoryMs?: number }) {}

  private get tickMs(): number {
    return this.opts.tickMs ?? 500;
  }

  start(): void {
    if (this.timer) return;
    this.expected = performance.now() + this.tickMs;
    this.timer = setInterval(() => {
      const now = performance.now();
      this.lastMs = Math.max(0, now - this.expected);
      this.expected = now + this.tickMs;
      if (this.lastMs >= this.worstMs || Date.now() - this.worstAt > this.memory) {
        this.worstMs = this.lastMs;
        this.worstAt = Date.now();
      }
    }, this.tickMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private get memory(): number {
    return this.opts.memoryMs ?? Math.max(10_000, this.opts.thresholdMs * 2);
  }

  /** the delay of the last tick, in ms */
  get lagMs(): number {
    return this.lastMs;
  }

  /** Why the loop counts as wedged, or undefined. */
  blocked(): string | undefined {
    if (this.worstMs >= this.opts.thresholdMs && Date.now() - this.worstAt <= this.memory) {
      return `event loop blocked for ${Math.round(this.worstMs)} ms (threshold ${this.opts.thresholdMs} ms) ${Math.round((Date.now() - this.worstAt) / 1000)} s ago`;
    }
    return undefined;
  }
}
