import { createServer } from 'node:net';

/** Polls `fn` until it returns a truthy value (or fails after `ms`). */
export async function until<T>(what: string, fn: () => T | Promise<T>, ms = 10_000, every = 50): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  let last: T | undefined;
  while (Date.now() < end) {
    last = await fn();
    if (last) return last as NonNullable<T>;
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
}

/** A loopback TCP port that was free a moment ago (for configs that must name a port up front). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** After a settle time, the sockets and timers this process still holds (a stopped component must leave none). */
export async function socketsAndTimersLeft(settleMs = 300): Promise<string[]> {
  await new Promise((r) => setTimeout(r, settleMs));
  return process.getActiveResourcesInfo().filter((r) => /TCP|Timeout|Timer/.test(r));
}
