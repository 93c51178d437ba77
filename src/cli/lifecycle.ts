import { type FSWatcher, renameSync, rmSync, watch, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { LoadedConfig } from '../config/load.ts';
import { pidFilePath } from '../core/config-paths.ts';
import { errorMessage } from '../core/errors.ts';
import { startStatusLine } from '../health/status-line.ts';
import type { Logger } from '../log.ts';
import type { DriverDefinition } from '../core/contracts.ts';
import { Pipeline } from '../pipeline/pipeline.ts';
import { whereToLook } from './where-to-look.ts';
import { RELOAD_RESULT_FILE, type ReloadRecord } from './reload-result.ts';
import { type ReloadResult, reloadFromFile } from '../pipeline/reload.ts';

export interface LifecycleOptions {
  configPath: string;
  /** drain deadline on SIGTERM/SIGINT */
  drainMs?: number;
  /**
   * show the one-line live status on stdout (the caller decided with wantStatusLine() and sent
   * the logs to stderr with statusLineLogDestination(), both in src/health/status-line.ts)
   */
  statusLine?: boolean;
  /** drivers other than drivers/index.ts (tests) */
  drivers?: readonly DriverDefinition[];
  /** how a reload reads the file (default loadConfigFile); tests with their own drivers pass theirs */
  load?: (file: string) => LoadedConfig | Promise<LoadedConfig>;
  /** called with the pipeline once it runs (tests) */
  onStarted?: (pipeline: Pipeline) => void;
}

/**
 * Runs a pipeline until SIGTERM or SIGINT, then drains it within a deadline and returns 0.
 * A second signal exits at once (130). SIGHUP reloads the configuration (see reload.ts).
 */
export async function runLifecycle(loaded: LoadedConfig, log: Logger, opts: LifecycleOptions): Promise<number> {
  const pipeline = new Pipeline({ config: loaded.config, baseDir: loaded.baseDir, log, drivers: opts.drivers });
  // Signals are ours from the first moment: a SIGTERM while stages start (systemd stopping a slow
  // start, a test that signals on the first log line) must drain, not kill the process half-started.
  let signalledEarly: NodeJS.Signals | undefined;
  const early = (sig: NodeJS.Signals): void => { signalledEarly ??= sig; };
  process.on('SIGINT', early);
  process.on('SIGTERM', early);
  try {
    await pipeline.start();
  } finally {
    process.off('SIGINT', early);
    process.off('SIGTERM', early);
  }
  const removePid = writePidFile(pipeline.ctx.gateway.dataDir);
  opts.onStarted?.(pipeline);
  const look = whereToLook(pipeline);
  // a person at a terminal gets a short plain list; a log collector gets one structured line
  if (process.stderr.isTTY) process.stderr.write(`\nfieldgate ${pipeline.ctx.gateway.id} is running\n${look.map((l) => `  ${l}`).join('\n')}\n\n`);
  else log.info({ whereToLook: look }, 'where to look');

  // reloads run one at a time; a signal during one queues exactly one more
  let reloading: Promise<ReloadResult | undefined> = Promise.resolve(undefined);
  let queued = false;
  const reload = (why: string): void => {
    if (queued) return;
    queued = true;
    reloading = reloading.then(async () => {
      queued = false;
      if (!pipeline.running) return undefined;
      log.info({ why, file: opts.configPath }, 'reloading the configuration');
      const startedAt = Date.now();
      let result: ReloadResult | undefined;
      try {
        result = await reloadFromFile(pipeline, opts.configPath, { load: opts.load, deadlineMs: opts.drainMs });
      } catch (err) {
        log.error({ code: 'FG_E_RELOAD', err }, 'reload failed');
        result = { ok: false, changes: [], errors: [`FG_E_RELOAD: ${errorMessage(err)}`] };
      }
      writeReloadResult(pipeline.ctx.gateway.dataDir, { pid: process.pid, why, startedAt, finishedAt: Date.now(), result }, log);
      return result;
    });
  };
  const onHup = (): void => reload('SIGHUP');
  process.on('SIGHUP', onHup);
  const watcher = loaded.config.health.watchConfig ? watchFile(opts.configPath, () => reload('file changed'), log) : undefined;
  const stopStatus = opts.statusLine && pipeline.health
    ? startStatusLine({ stream: process.stdout, status: () => pipeline.health!.status() })
    : undefined;

  let stopping: Promise<void> | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal: sig }, 'second signal: exiting at once');
      process.exit(130);
    }
    stopStatus?.();
    log.info({ signal: sig, drainMs: opts.drainMs ?? 10_000 }, 'stopping: draining the pipeline');
    // a reload in progress finishes first, so it cannot start stages into a stopping pipeline
    stopping = reloading.then(() => pipeline.stop(opts.drainMs ?? 10_000));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  if (signalledEarly) onSignal(signalledEarly);

  // The pipeline may hold no socket at all (no sources yet): keep the process alive until stopped.
  const keepAlive = setInterval(() => {}, 1 << 30);
  await new Promise<void>((resolve) => {
    if (stopping) {
      void stopping.then(resolve);
      return;
    }
    const check = (): void => {
      if (!stopping) return;
      process.off('SIGINT', check);
      process.off('SIGTERM', check);
      void stopping.then(resolve);
    };
    process.on('SIGINT', check);
    process.on('SIGTERM', check);
  });
  clearInterval(keepAlive);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.off('SIGHUP', onHup);
  watcher?.close();
  removePid();
  return 0;
}

/**
 * Watches the config file for changes. Editors often replace the file (write a new one, rename),
 * so the folder is watched and events are filtered by name; bursts are debounced.
 */
function watchFile(file: string, onChange: () => void, log: Logger): { close(): void } {
  let timer: NodeJS.Timeout | undefined;
  let w: FSWatcher | undefined;
  try {
    w = watch(dirname(file), { persistent: false }, (_event, name) => {
      if (name !== null && name !== basename(file)) return;
      clearTimeout(timer);
      timer = setTimeout(onChange, 300);
    });
    w.on('error', (err) => log.warn({ err, file }, 'config file watch failed; use SIGHUP or `fieldgate reload`'));
  } catch (err) {
    log.warn({ err, file }, 'cannot watch the config file; use SIGHUP or `fieldgate reload`');
  }
  return {
    close() {
      clearTimeout(timer);
      w?.close();
    },
  };
}

/** <dataDir>/fieldgate.reload.json: the last reload's result, for `fieldgate reload` to print. */
function writeReloadResult(dataDir: string, rec: ReloadRecord, log: Logger): void {
  const file = join(dataDir, RELOAD_RESULT_FILE);
  try {
    // write then rename: the reader never sees half a file
    writeFileSync(`${file}.tmp`, `${JSON.stringify(rec)}\n`);
    renameSync(`${file}.tmp`, file);
  } catch (err) {
    log.warn({ err, file }, 'cannot write the reload result for `fieldgate reload`');
  }
}

/** <dataDir>/fieldgate.pid, for `fieldgate reload -c FILE`; returns a function that removes it. */
export function writePidFile(dataDir: string): () => void {
  const file = pidFilePath(dataDir);
  writeFileSync(file, `${process.pid}\n`);
  return () => rmSync(file, { force: true });
}
