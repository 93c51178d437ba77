import { once } from 'node:events';
import { resolve } from 'node:path';
import { FgError, type ErrorCode } from '../core/errors.ts';
import { startTsWorker, workerModule } from '../core/ts-worker.ts';
import { registerSecret } from '../log.ts';
import { ConfigError, type ConfigErrorCode, type LoadedConfig } from './load.ts';
import type { LoadReply } from './load-worker.ts';

/**
 * loadConfigFile in a worker thread, for a reload: parsing and validating a large file takes
 * seconds of CPU, which on the main thread would stall polling, the outbox and the HTTP server.
 * The result (or the same ConfigError / FgError) is handed back; secrets are registered here.
 */
export async function loadConfigFileAsync(file: string): Promise<LoadedConfig> {
  const worker = startTsWorker(workerModule('./load-worker', import.meta.url), { workerData: { file: resolve(file) } });
  try {
    // once() rejects on the worker's 'error' event; an exit without a reply is an error too
    const exited = once(worker, 'exit').then(([code]) => { throw new Error(`the config loader thread exited (${String(code)}) without a result`); });
    exited.catch(() => {});
    const [reply] = (await Promise.race([once(worker, 'message'), exited])) as [LoadReply];
    if (reply.ok) {
      for (const s of reply.secrets) registerSecret(s);
      return reply.loaded;
    }
    if (reply.config) throw new ConfigError(reply.config.errors, reply.code as ConfigErrorCode, reply.config.total);
    if (reply.code === 'FG_E_UNEXPECTED') throw new Error(reply.message);
    throw new FgError(reply.code as ErrorCode, reply.message);
  } finally {
    await worker.terminate();
  }
}
