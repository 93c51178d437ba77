/** Exponential backoff with full jitter (AWS architecture blog's "full jitter"). */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor?: number;
  /** random source in [0, 1), injectable for tests */
  random?: () => number;
}

export class Backoff {
  private attempt = 0;
  constructor(private readonly opts: BackoffOptions) {}

  /** The ceiling for the current attempt, without jitter. */
  ceiling(): number {
    const f = this.opts.factor ?? 2;
    return Math.min(this.opts.maxMs, this.opts.initialMs * f ** this.attempt);
  }

  /** The next delay: uniform in [0, ceiling]; each call raises the ceiling. */
  next(): number {
    const c = this.ceiling();
    this.attempt++;
    return Math.round((this.opts.random ?? Math.random)() * c);
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}

/** Sleeps for `ms`, rejecting with the signal's reason on abort; leaves no timer behind. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
