import { isDeepStrictEqual } from 'node:util';
import { ConfigError, type LoadedConfig } from '../config/load.ts';
import { loadConfigFileAsync } from '../config/load-async.ts';
import type { FieldgateConfig } from '../config/schema.ts';
import { errorCode, errorMessage } from '../core/errors.ts';
import { createModelStage } from '../inference/index.ts';
import { logLevelValue, setLogLevel } from '../log.ts';
import { createSink } from '../sinks/index.ts';
import type { Stage } from './contracts.ts';
import type { Pipeline } from './pipeline.ts';
import type { SourceStage, SourceStageConfig } from './source-stage.ts';

export interface ReloadResult {
  ok: boolean;
  /** what changed, in words: "source.a restarted (config changed)", ... */
  changes: string[];
  /** why the new file was refused (located config errors), when ok is false */
  errors: string[];
  /** the changes sorted: stages restarted, added or removed */
  restarted?: string[];
  /** settings applied in place */
  applied?: string[];
  /** settings that wait for the next restart of the process */
  atRestart?: string[];
  /** true when the file was refused and nothing changed */
  refused?: boolean;
}

export interface ReloadOptions {
  /** how long a stopped stage may take to drain (default 10 s) */
  deadlineMs?: number;
  /**
   * reads and validates the file (default loadConfigFileAsync, in a worker thread so a large file
   * does not stall the running pipeline; tests with their own drivers pass a schema-aware one)
   */
  load?: (file: string) => LoadedConfig | Promise<LoadedConfig>;
}

interface WithId { id: string; enabled?: boolean }

/**
 * SIGHUP / `fieldgate reload` / file watch: validates the file first (a bad file changes nothing
 * and logs the located errors), then restarts only the stages whose configuration changed.
 */
export async function reloadFromFile(pipeline: Pipeline, file: string, opts: ReloadOptions = {}): Promise<ReloadResult> {
  const log = pipeline.log;
  let loaded: LoadedConfig;
  try {
    loaded = await (opts.load ?? loadConfigFileAsync)(file);
  } catch (e) {
    const errors = e instanceof ConfigError ? e.message.split('\n') : [`${errorCode(e)}: ${errorMessage(e)}`];
    const total = e instanceof ConfigError ? e.total : 1;
    log.error({ code: 'FG_E_RELOAD', file, cause: errorCode(e), errors }, 'reload refused: the new configuration is invalid; the previous one keeps running');
    const message = `reload refused: ${errors[0] ?? 'invalid configuration'}${total > 1 ? ` (+${total - 1} more)` : ''}`;
    pipeline.taps.event({ source: 'reload', kind: 'reload-refused', severity: 'warning', message });
    pipeline.events.emit({ kind: 'reload-refused', key: 'reload', severity: 'warning', message, data: { errors: total } });
    return { ok: false, refused: true, changes: [], errors };
  }
  return applyConfig(pipeline, loaded.config, opts);
}

/**
 * Moves a running pipeline to `next`, restarting only what changed. The outbox is never restarted:
 * its limits and policies and the log level apply in place; the gateway section, the outbox's path
 * and synchronous mode and the log format wait for the next restart (the summary line says which).
 */
export async function applyConfig(pipeline: Pipeline, next: FieldgateConfig, opts: ReloadOptions = {}): Promise<ReloadResult> {
  const deadlineMs = opts.deadlineMs ?? 10_000;
  const log = pipeline.log;
  if (!pipeline.running) {
    return { ok: false, changes: [], errors: ['the pipeline is not running'] };
  }
  const prev = pipeline.config;
  const changes: string[] = [];
  const errors: string[] = [];
  const planned = {
    begin: (name: string): void => pipeline.health?.plannedRestart(name, 'reload: configuration changed'),
    started: (name: string): void => pipeline.health?.plannedStarted(name),
  };

  // the gateway's identity and data directory are never changed under a running process
  const applied: FieldgateConfig = { ...next, gateway: prev.gateway, log: { ...next.log, format: prev.log.format } };
  if (!isDeepStrictEqual(prev.gateway, next.gateway)) changes.push('gateway settings changed: they take effect at the next restart');

  // the outbox is never restarted: limits and policies apply at once, path and synchronous at the next start
  const box = pipeline.outbox.reconfigure(next.outbox);
  applied.outbox = box.config;
  if (box.applied.length > 0) {
    changes.push(`outbox ${box.applied.map((k) => `${k} ${show(prev.outbox[k])} -> ${show(next.outbox[k])}`).join(', ')} applied (the outbox keeps running and keeps its contents)`);
  }
  if (box.atRestart.length > 0) {
    const list = box.atRestart.map((k) => `${k} ${show(prev.outbox[k])} -> ${show(next.outbox[k])}`).join(', ');
    changes.push(`outbox ${list}: ${box.atRestart.length === 1 ? 'takes' : 'take'} effect at the next restart (the outbox keeps its contents)`);
  }

  // the level reaches every stage's child logger at once (log.ts); the format is the output
  // stream's, made once at start. A quieter level applies after the summary line below, so the
  // line saying so is still written; a louder one applies now.
  const newLevel = prev.log.level !== next.log.level ? next.log.level : undefined;
  const louder = newLevel !== undefined && logLevelValue(log, newLevel) < logLevelValue(log, prev.log.level);
  if (newLevel !== undefined) {
    if (louder) setLogLevel(log, newLevel);
    changes.push(`log level ${prev.log.level} -> ${newLevel} applied`);
  }
  if (prev.log.format !== next.log.format) changes.push(`log format ${prev.log.format} -> ${next.log.format}: takes effect at the next restart`);

  // simulators first: the sources that connect to them come after
  await reconcile({
    label: 'simulator', prev: prev.simulators as WithId[], next: next.simulators as WithId[], changes, planned,
    find: (id) => pipeline.simulators.find((s) => s.name === `simulator.${id}`),
    stop: async (stage) => {
      await pipeline.stopStage(stage, deadlineMs);
      remove(pipeline.simulators, stage);
    },
    start: async (cfg) => {
      const stage = pipeline.createSimulator(cfg as { id: string; type: string });
      await pipeline.startStage(stage);
      pipeline.simulators.push(stage);
    },
  });

  await reconcile({
    label: 'sink', prev: prev.sinks, next: next.sinks, changes, planned,
    find: (id) => pipeline.sinks.find((s) => s.name === `sink.${id}`),
    stop: async (stage) => {
      await pipeline.stopStage(stage, deadlineMs);
      remove(pipeline.sinks, stage);
    },
    start: async (cfg) => {
      const stage = createSink(cfg as FieldgateConfig['sinks'][number], pipeline.outbox, pipeline.ctx);
      await pipeline.startStage(stage);
      pipeline.sinks.push(stage);
    },
  });

  await reconcile({
    label: 'model', prev: prev.models, next: next.models, changes, planned,
    find: (id) => pipeline.models.find((m) => m.name === `model.${id}`),
    stop: async (stage) => {
      // the router stops offering to it first, so nothing arrives while it drains
      pipeline.models = pipeline.models.filter((m) => m !== stage);
      pipeline.router.setModels(pipeline.models);
      await pipeline.stopStage(stage, deadlineMs);
    },
    start: async (cfg) => {
      const stage = createModelStage(cfg as FieldgateConfig['models'][number], pipeline.writer, pipeline.ctx);
      await pipeline.startStage(stage);
      pipeline.models = [...pipeline.models, stage];
      pipeline.router.setModels(pipeline.models);
    },
  });

  await reconcile({
    label: 'source', prev: prev.sources as WithId[], next: next.sources as WithId[], changes, planned,
    find: (id) => pipeline.sources.find((s) => s.config.id === id),
    stop: async (stage) => {
      const src = stage as SourceStage;
      await pipeline.stopStage(src, deadlineMs);
      // what it queued still reaches the outbox: the router drains the closed channel, then forgets it
      await drained(src, deadlineMs);
      pipeline.router.removeInput(src.channel);
      src.dispose();
      remove(pipeline.sources, src);
    },
    start: async (cfg) => {
      const stage = pipeline.createSource(cfg as SourceStageConfig);
      pipeline.sources.push(stage);
      await pipeline.startStage(stage);
    },
  });

  if (!isDeepStrictEqual(prev.health, next.health)) {
    const old = pipeline.health;
    if (old) await pipeline.stopStage(old, deadlineMs);
    pipeline.health = undefined;
    if (next.health.enabled) {
      const fresh = pipeline.createHealth(applied);
      try {
        await pipeline.startStage(fresh);
        fresh.activate();
        pipeline.health = fresh;
        changes.push(`health restarted (${fresh.url ?? 'no server'})`);
      } catch (e) {
        errors.push(`health: ${errorMessage(e)}; the previous health settings stay`);
        applied.health = prev.health;
        if (old) {
          const again = pipeline.createHealth(prev);
          await pipeline.startStage(again);
          again.activate();
          pipeline.health = again;
        }
      }
    } else {
      changes.push('health disabled');
    }
  }
  pipeline.health?.topologyChanged();
  // the tag table forgets removed sources and lists new tags; restarted ones keep their history
  const kept = new Set((next.sources as WithId[]).filter((c) => c.enabled !== false).map((c) => c.id));
  for (const c of prev.sources as WithId[]) if (!kept.has(c.id)) pipeline.taps.tags.drop(c.id);
  pipeline.declareTags(applied);
  if (!isDeepStrictEqual(prev.alarms, next.alarms)) {
    pipeline.alarms.setRules(next.alarms);
    changes.push(`alarms: ${next.alarms.length} rule${next.alarms.length === 1 ? '' : 's'} applied`);
  }

  pipeline.config = applied;
  const ok = errors.length === 0;
  const summary = changes.length ? changes.join('; ') : 'nothing changed';
  if (ok) log.info({ changes }, `configuration reloaded: ${summary}`);
  else log.error({ code: 'FG_E_RELOAD', changes, errors }, 'configuration partly reloaded');
  if (newLevel !== undefined && !louder) setLogLevel(log, newLevel);
  const message = `reload: ${summary}${ok ? '' : `; errors: ${errors.join('; ')}`}`;
  pipeline.taps.event({ source: 'reload', kind: ok ? 'reload' : 'reload-partial', severity: ok ? 'info' : 'warning', message });
  pipeline.events.emit({ kind: ok ? 'reload' : 'reload-partial', key: 'reload', severity: ok ? 'info' : 'warning', message, data: { changes: summary } });
  return { ok, changes, errors, ...sortChanges(changes) };
}

/** Sorts the change lines for `fieldgate reload`: what restarted, what applied, what waits. */
export function sortChanges(changes: readonly string[]): { restarted: string[]; applied: string[]; atRestart: string[] } {
  const out = { restarted: [] as string[], applied: [] as string[], atRestart: [] as string[] };
  for (const c of changes) {
    if (/next restart/.test(c)) out.atRestart.push(c);
    else if (/ (restarted|added|removed)\b/.test(c) && !/^outbox/.test(c)) out.restarted.push(c);
    else out.applied.push(c);
  }
  return out;
}

/** Stops what was removed or changed, then starts what was added or changed (by id, deep equality). */
async function reconcile(args: {
  label: string;
  prev: readonly WithId[];
  next: readonly WithId[];
  changes: string[];
  /** a stage about to be stopped and started again on purpose, and when it has started again */
  planned?: { begin(name: string): void; started(name: string): void };
  find: (id: string) => Stage | undefined;
  stop: (stage: Stage) => Promise<void>;
  start: (cfg: WithId) => Promise<void>;
}): Promise<void> {
  const enabled = (list: readonly WithId[]): Map<string, WithId> =>
    new Map(list.filter((c) => c.enabled !== false).map((c) => [c.id, c]));
  const before = enabled(args.prev);
  const after = enabled(args.next);
  const toStart: WithId[] = [];
  const restarting = new Map<string, string>();
  for (const [id, cfg] of before) {
    const now = after.get(id);
    if (now && isDeepStrictEqual(cfg, now)) continue;
    const stage = args.find(id);
    if (stage && now) {
      args.planned?.begin(stage.name);
      restarting.set(id, stage.name);
    }
    if (stage) await args.stop(stage);
    if (now) {
      toStart.push(now);
      args.changes.push(`${args.label} ${id} restarted (configuration changed)`);
    } else {
      args.changes.push(`${args.label} ${id} removed`);
    }
  }
  for (const [id, cfg] of after) {
    if (!before.has(id)) {
      toStart.push(cfg);
      args.changes.push(`${args.label} ${id} added`);
    }
  }
  for (const cfg of toStart) {
    await args.start(cfg);
    const name = restarting.get(cfg.id);
    if (name) args.planned?.started(name);
  }
}

/** Waits until the router has taken everything queued in a stopped source's channel. */
async function drained(src: SourceStage, deadlineMs: number): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (src.channel.depth > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}

function show(v: unknown): string {
  return v === undefined ? '(unset)' : String(v);
}

function remove<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}
