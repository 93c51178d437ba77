import { Worker, type WorkerOptions } from 'node:worker_threads';

const ENTRY = new URL('./ts-worker-entry.mjs', import.meta.url);

/**
 * The URL of a worker module beside `base` (pass `import.meta.url`), named without extension:
 * `.ts` when the caller runs from source (tests, tsx), `.js` when it runs compiled from dist/.
 * tsc rewrites import specifiers, never URL strings, so workers are located through this.
 */
export function workerModule(name: string, base: string): URL {
  return new URL(`${name}${base.endsWith('.ts') ? '.ts' : '.js'}`, base);
}

/**
 * Starts a worker thread on `module`. Compiled JavaScript runs as is; a TypeScript module (a run
 * from source) starts through ts-worker-entry.mjs, which registers tsx in the worker first.
 */
export function startTsWorker(module: URL, opts: Omit<WorkerOptions, 'execArgv' | 'argv' | 'eval'> = {}): Worker {
  if (!module.pathname.endsWith('.ts')) return new Worker(module, { ...opts, execArgv: [] });
  return new Worker(ENTRY, { ...opts, execArgv: [], argv: [module.href] });
}
