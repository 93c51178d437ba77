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
 * The young generation of a worker thread unless its caller sets resourceLimits: 6 MB, what
 * `--max-semi-space-size=2` gives (V8's young generation is three semi-spaces). Our workers
 * (outbox writer and reader, models, config loads) allocate little on their heaps; without this
 * they would follow the main thread's semi-space flag, which is chosen for the data path's
 * throughput, and each could grow to 3 x that flag.
 */
export const WORKER_YOUNG_GENERATION_MB = 6;

/**
 * Starts a worker thread on `module`. Compiled JavaScript runs as is; a TypeScript module (a run
 * from source) starts through ts-worker-entry.mjs, which registers tsx in the worker first.
 */
export function startTsWorker(module: URL, opts: Omit<WorkerOptions, 'execArgv' | 'argv' | 'eval'> = {}): Worker {
  const resourceLimits = { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB, ...opts.resourceLimits };
  if (!module.pathname.endsWith('.ts')) return new Worker(module, { ...opts, resourceLimits, execArgv: [] });
  return new Worker(ENTRY, { ...opts, resourceLimits, execArgv: [], argv: [module.href] });
}
