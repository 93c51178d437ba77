import { readFileSync } from 'node:fs';
import { ConfigError, loadConfigFile, type LoadedConfig } from '../config/load.ts';
import { configPathResolver, pidFilePath, resolveConfigPath } from '../core/config-paths.ts';
import { createLogger, type Logger } from '../log.ts';
import { UsageError } from './usage.ts';

// Heavy modules (drivers, onnxruntime, the pipeline) are imported by the commands that need
// them, so `--version`, `--help` and `schema` answer at once.

export interface CommandContext {
  config?: string;
  source?: string;
  node?: string;
  pid?: string;
  once?: boolean;
  watch?: boolean;
  timeout?: string;
  debug: boolean;
  args: string[];
}

export type Command = (ctx: CommandContext) => Promise<number>;

function needConfig(ctx: CommandContext): LoadedConfig {
  if (!ctx.config) throw new UsageError('missing -c FILE (the configuration file)');
  return loadConfigFile(ctx.config);
}

function loggerFor(loaded: LoadedConfig): Logger {
  return createLogger({ level: loaded.config.log.level, format: loaded.config.log.format });
}

export const commands: Record<string, Command> = {
  async run(ctx) {
    const loaded = needConfig(ctx);
    const { runLifecycle } = await import('./lifecycle.ts');
    const { statusLineLogDestination } = await import('../health/status-line.ts');
    // on a TTY the live status line takes stdout and the logs go to stderr
    const destination = statusLineLogDestination(loaded.config.health);
    const log = createLogger({
      level: loaded.config.log.level,
      format: loaded.config.log.format,
      destination,
      tty: destination ? process.stderr.isTTY === true : undefined,
    });
    return runLifecycle(loaded, log, { configPath: ctx.config!, statusLine: destination !== undefined });
  },

  async validate(ctx) {
    const loaded = needConfig(ctx);
    const resolvePath = configPathResolver(loaded.baseDir);
    const problems: string[] = [];
    const { validateModel } = await import('../inference/index.ts');
    for (const m of loaded.config.models) {
      for (const p of await validateModel(m, resolvePath)) problems.push(`models[${loaded.config.models.indexOf(m)}] (${m.id}): ${p}`);
    }
    if (problems.length > 0) {
      process.stderr.write(`FG_E_MODEL_MISMATCH: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${problems.join('\n')}\n`);
      return 1;
    }
    const c = loaded.config;
    process.stdout.write(
      `${ctx.config}: ok (${c.sources.length} source${c.sources.length === 1 ? '' : 's'}, ${c.models.length} model${c.models.length === 1 ? '' : 's'}, ${c.sinks.length} sink${c.sinks.length === 1 ? '' : 's'})\n`,
    );
    return 0;
  },

  async schema() {
    const { renderJsonSchema } = await import('../config/docs.ts');
    process.stdout.write(renderJsonSchema());
    return 0;
  },

  async simulate(ctx) {
    const loaded = needConfig(ctx);
    if (loaded.config.simulators.length === 0) throw new UsageError(`${ctx.config} has no simulators: section`);
    // only the simulators: no outbox, no data directory, nothing else of the pipeline
    const { findDriver } = await import('../../drivers/index.ts');
    const { Metrics } = await import('../core/metrics.ts');
    const log = loggerFor(loaded);
    const stageCtx = {
      gateway: { id: loaded.config.gateway.id, dataDir: resolveConfigPath(loaded.baseDir, loaded.config.gateway.dataDir) },
      log,
      metrics: new Metrics(),
      resolvePath: configPathResolver(loaded.baseDir),
    };
    const handles = [];
    // listen before the first "listening" line: a signal sent as soon as it appears must stop us cleanly
    let onSignal = (): void => {};
    const signalled = new Promise<void>((resolve) => { onSignal = resolve; });
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      for (const sim of loaded.config.simulators) {
        const h = await findDriver(sim.type)!.simulator!.start(sim, stageCtx);
        log.info({ simulator: sim.id, address: h.address }, 'simulator listening');
        handles.push(h);
      }
      await signalled;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      for (const h of handles.reverse()) await h.stop();
    }
    return 0;
  },

  async browse(ctx) {
    const loaded = needConfig(ctx);
    if (!ctx.source) throw new UsageError('browse needs --source ID (an OPC UA source of the config)');
    const src = loaded.config.sources.find((s) => s.id === ctx.source);
    if (!src) throw new UsageError(`no source "${ctx.source}" in ${ctx.config}`);
    const { findDriver } = await import('../../drivers/index.ts');
    const { Pipeline } = await import('../pipeline/pipeline.ts');
    const { Metrics } = await import('../core/metrics.ts');
    const driver = findDriver(src.type);
    if (!driver?.browse) throw new UsageError(`source "${ctx.source}" is of type ${src.type}, which cannot be browsed`);
    const log = createLogger({ level: 'warn', format: loaded.config.log.format });
    const p = new Pipeline({ config: { ...loaded.config, sources: [], models: [], sinks: [], simulators: [] }, baseDir: loaded.baseDir, log, metrics: new Metrics() });
    const out = await driver.browse(src, { node: ctx.node, ctx: p.ctx, signal: AbortSignal.timeout(30_000) });
    process.stdout.write(out.endsWith('\n') ? out : `${out}\n`);
    return 0;
  },

  async read(ctx) {
    const loaded = needConfig(ctx);
    if (ctx.once && ctx.watch) throw new UsageError('read takes --once or --watch, not both');
    const { readTags } = await import('./read.ts');
    const { parseDuration } = await import('../core/units.ts');
    const timeoutMs = ctx.timeout === undefined ? undefined : parseDuration(ctx.timeout);
    if (timeoutMs === undefined && ctx.timeout !== undefined) throw new UsageError(`--timeout: expected a duration such as 10s or 500ms, got "${ctx.timeout}"`);
    const { drivers } = await import('../../drivers/index.ts');
    // the table goes to stdout; driver logs (warnings and worse) to stderr
    const { pino } = await import('pino');
    const log = createLogger({ level: 'warn', format: loaded.config.log.format, destination: pino.destination({ fd: 2, sync: true }), tty: process.stderr.isTTY === true });
    const ctl = new AbortController();
    const stop = (): void => ctl.abort();
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    try {
      return await readTags(loaded, { source: ctx.source, watch: ctx.watch === true, timeoutMs, drivers, log, out: process.stdout, signal: ctl.signal });
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  },

  async model(ctx) {
    const [sub, file, ...more] = ctx.args;
    const { MODEL_USAGE, modelFit, modelEvaluate } = await import('./model.ts');
    if (sub === 'fit') return modelFit(ctx.args.slice(1));
    if (sub === 'evaluate') return modelEvaluate(ctx.args.slice(1));
    if (sub !== 'inspect' || !file || more.length > 0) throw new UsageError(MODEL_USAGE);
    const { inspectModel } = await import('../inference/index.ts');
    process.stdout.write(`${await inspectModel(file)}\n`);
    return 0;
  },

  async reload(ctx) {
    let pid = ctx.pid ? Number(ctx.pid) : undefined;
    let dataDir: string | undefined;
    if (ctx.config) {
      let loaded: LoadedConfig;
      try {
        loaded = needConfig(ctx);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        // the running process would refuse it the same way: say so here, change nothing
        process.stdout.write(`reload refused: the new configuration is invalid; nothing was sent, the running configuration stays\n${e.message.split('\n').map((l) => `  ${l}`).join('\n')}\n`);
        return 1;
      }
      dataDir = resolveConfigPath(loaded.baseDir, loaded.config.gateway.dataDir);
    }
    if (pid === undefined) {
      if (!dataDir) throw new UsageError('missing -c FILE (the configuration file) or --pid PID');
      const file = pidFilePath(dataDir);
      try {
        pid = Number(readFileSync(file, 'utf8').trim());
      } catch {
        throw new UsageError(`no running fieldgate found (${file} is missing); pass --pid PID`);
      }
    }
    if (!Number.isInteger(pid) || pid! <= 0) throw new UsageError(`--pid must be a process id, got ${ctx.pid}`);
    const sentAt = Date.now();
    try {
      process.kill(pid!, 'SIGHUP');
    } catch (e) {
      throw new UsageError(`cannot signal process ${pid}: ${(e as NodeJS.ErrnoException).code}`);
    }
    if (!dataDir) {
      process.stdout.write(`sent SIGHUP to ${pid}; pass -c FILE to wait for the result and print it (without it, the result is in its log)\n`);
      return 0;
    }
    const { waitForReload, printReload } = await import('./reload-result.ts');
    const rec = await waitForReload(dataDir, pid!, sentAt, 60_000);
    if (!rec) {
      process.stderr.write(`sent SIGHUP to ${pid}, but no reload result came within 60 s; see its log\n`);
      return 1;
    }
    process.stdout.write(printReload(rec));
    return rec.result.ok ? 0 : 1;
  },
};
