import type { LoadedConfig } from '../config/load.ts';
import type { Logger } from '../log.ts';
import { Pipeline } from '../pipeline/pipeline.ts';
import { writePidFile } from './commands.ts';

export interface LifecycleOptions {
  configPath: string;
  simulateOnly?: boolean;
  /** drain deadline on SIGTERM/SIGINT */
  drainMs?: number;
}

/**
 * Runs a pipeline until SIGTERM or SIGINT, then drains it within a deadline and returns 0.
 * A second signal exits at once (130). SIGHUP reloads the configuration (see reload.ts).
 */
export async function runLifecycle(loaded: LoadedConfig, log: Logger, opts: LifecycleOptions): Promise<number> {
  const pipeline = new Pipeline({ config: loaded.config, baseDir: loaded.baseDir, log });
  await pipeline.start();
  const removePid = opts.simulateOnly ? () => {} : writePidFile(pipeline.ctx.gateway.dataDir);

  let stopping: Promise<void> | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal: sig }, 'second signal: exiting at once');
      process.exit(130);
    }
    log.info({ signal: sig, drainMs: opts.drainMs ?? 10_000 }, 'stopping: draining the pipeline');
    stopping = pipeline.stop(opts.drainMs ?? 10_000);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  // The pipeline may hold no socket at all (no sources yet): keep the process alive until stopped.
  const keepAlive = setInterval(() => {}, 1 << 30);
  await new Promise<void>((resolve) => {
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
  removePid();
  return 0;
}
