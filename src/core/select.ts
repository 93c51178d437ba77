import type { Channel } from './channel.ts';

export interface Selected<T> {
  /** index of the channel in the list given to select */
  index: number;
  value: T;
}

/**
 * Waits for the first value from any of the channels, taking them in turn from `start` so
 * that no channel starves another. Resolves undefined once every channel is closed and drained.
 * Rejects with the signal's reason on abort.
 */
export async function select<T extends {} | null>(
  channels: readonly Channel<T>[],
  signal?: AbortSignal,
  start = 0,
): Promise<Selected<T> | undefined> {
  const n = channels.length;
  for (;;) {
    signal?.throwIfAborted();
    let open = 0;
    for (let k = 0; k < n; k++) {
      const index = (start + k) % n;
      const ch = channels[index]!;
      const value = ch.tryRecv();
      if (value !== undefined) return { index, value };
      if (!ch.closed) open++;
    }
    if (open === 0) return undefined;
    await anyReadable(channels.filter((c) => !c.closed), signal);
  }
}

/**
 * Resolves when any of the channels has a value or closes, or when `extra` registers a wake-up
 * (used by the router when its input list changes). One registration per channel, all cancelled
 * once it settles, so idle channels accumulate nothing.
 */
export function anyReadable<T extends {} | null>(
  channels: readonly Channel<T>[],
  signal?: AbortSignal,
  extra?: (wake: () => void) => void,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const cancels: (() => void)[] = [];
    let settled = false;
    const finish = (err?: unknown): void => {
      if (settled) return;
      settled = true;
      for (const c of cancels) c();
      signal?.removeEventListener('abort', onAbort);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onAbort = (): void => finish(signal!.reason);
    if (signal?.aborted) return finish(signal.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const wake = (): void => finish();
    for (const c of channels) {
      if (settled) break;
      cancels.push(c.onReadable(wake));
    }
    if (!settled) extra?.(wake);
  });
}

/**
 * Fan-in: forwards every value from `inputs` into `out` (respecting out's policy and
 * backpressure) until all inputs are closed and drained or the signal aborts. Round-robin,
 * draining up to `burst` values from one input before moving on. Returns how many were forwarded.
 */
export async function fanIn<T extends {} | null>(
  inputs: readonly Channel<T>[],
  out: Channel<T>,
  signal?: AbortSignal,
  burst = 64,
): Promise<number> {
  let forwarded = 0;
  let next = 0;
  for (;;) {
    const sel = await select(inputs, signal, next);
    if (!sel) return forwarded;
    next = (sel.index + 1) % inputs.length;
    await out.send(sel.value, signal);
    forwarded++;
    const ch = inputs[sel.index]!;
    for (let i = 1; i < burst; i++) {
      const v = ch.tryRecv();
      if (v === undefined) break;
      await out.send(v, signal);
      forwarded++;
    }
  }
}

/**
 * Waits, again and again, for any of a changing list of channels to become readable, keeping one
 * wake-up registered per channel across waits (a channel wakes a reader once, on its next value):
 * a wait registers again only with the channels that fired since the last one. `anyReadable`
 * registers with and cancels every channel per wait; for the router (100 inputs, a wait per routed
 * batch at 50k tags/s) that was 100 callbacks per batch, many copied into the old generation.
 */
export class ReadableWatch<T extends {} | null> {
  private readonly bells = new Map<Channel<T>, Bell>();
  private wake?: () => void;

  /**
   * Resolves once one of `channels` has a value or closes, or on `interrupt()`. Closed channels
   * are not watched (they would wake it at once): the caller counts them.
   */
  wait(channels: readonly Channel<T>[]): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = () => {
        this.wake = undefined;
        resolve();
      };
      for (const c of channels) if (!c.closed) this.arm(c);
    });
  }

  /** Ends the current wait, if any (the channel list changed, a stop). */
  interrupt(): void {
    this.wake?.();
  }

  /** Stops watching a channel (removed from the list). */
  forget(c: Channel<T>): void {
    this.bells.get(c)?.cancel?.();
    this.bells.delete(c);
  }

  /** Cancels every registration (the watcher is done). */
  clear(): void {
    for (const b of this.bells.values()) b.cancel?.();
    this.bells.clear();
  }

  private arm(c: Channel<T>): void {
    let b = this.bells.get(c);
    if (b === undefined) {
      const bell: Bell = {
        armed: false,
        ring: () => {
          bell.armed = false;
          bell.cancel = undefined;
          this.wake?.();
        },
      };
      this.bells.set(c, (b = bell));
    }
    if (b.armed) return;
    b.armed = true;
    // a channel with a value (or closed) rings at once, inside onReadable
    b.cancel = c.onReadable(b.ring);
  }
}

/** One channel's registration (see ReadableWatch). */
interface Bell {
  armed: boolean;
  ring: () => void;
  cancel?: () => void;
}
