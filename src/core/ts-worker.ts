import { Worker, type WorkerOptions } from 'node:worker_threads';

const ENTRY = new URL('./ts-worker-entry.mjs', import.meta.url);

/** Starts a worker thread that runs a TypeScript module (through ts-worker-entry.mjs). */
export function startTsWorker(module: URL, opts: Omit<WorkerOptions, 'execArgv' | 'argv' | 'eval'> = {}): Worker {
  return new Worker(ENTRY, { ...opts, execArgv: [], argv: [module.href] });
}
