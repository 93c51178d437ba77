/**
 * Worker-thread side of loadConfigFileAsync: reads and validates one file off the main thread
 * and posts back the config, the substituted secret values (for the main thread's redaction)
 * or the error.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FgError, errorMessage } from '../core/errors.ts';
import { ConfigError, loadConfigFile } from './load.ts';

export type LoadReply =
  | { ok: true; loaded: ReturnType<typeof loadConfigFile>; secrets: string[] }
  | { ok: false; config?: { errors: ConfigError['errors']; total: number }; code: string; message: string };

const { file } = workerData as { file: string };
const secrets: string[] = [];
let reply: LoadReply;
try {
  reply = { ok: true, loaded: loadConfigFile(file, { onSecret: (v) => secrets.push(v) }), secrets };
} catch (e) {
  reply = {
    ok: false,
    code: e instanceof FgError ? e.code : 'FG_E_UNEXPECTED',
    message: errorMessage(e),
    config: e instanceof ConfigError ? { errors: e.errors, total: e.total } : undefined,
  };
}
parentPort!.postMessage(reply);
