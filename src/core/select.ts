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
    await anyReadable(channels, signal);
  }
}

/** Resolves when any open channel has a value or closes. */
async function anyReadable<T extends {} | null>(channels: readonly Channel<T>[], signal?: AbortSignal): Promise<void> {
  const ac = new AbortController();
  const sig = signal ? AbortSignal.any([signal, ac.signal]) : ac.signal;
  try {
    await Promise.race(
      channels.filter((c) => !c.closed || c.depth > 0).map((c) => c.readable(sig)),
    );
  } finally {
    // release the other waiters so nothing stays registered on idle channels
    ac.abort();
  }
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
