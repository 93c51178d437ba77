import { ConfigError, type LoadedConfig } from '../config/load.ts';
import { loadConfigFileAsync } from '../config/load-async.ts';
import type { FieldgateConfig } from '../config/schema.ts';
import { errorCode, errorMessage } from '../core/errors.ts';
import { logLevelValue, setLogLevel } from '../log.ts';
import type { Pipeline } from './pipeline.ts';
import { planReload, SECTION_LABEL } from './reload-plan.ts';

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
 * Moves a running pipeline to `next`, restarting only what changed: `planReload` computes the
 * difference (pure), then each change is applied by the pipeline's own operations. A stage whose
 * new configuration fails to start is started again with its previous one, so what ran before
 * keeps running and `pipeline.config` describes what runs. The outbox is never restarted: its
 * limits and policies and the log level apply in place; the gateway section, the broker, the
 * outbox's path and synchronous mode and the log format wait for the next restart.
 */
export async function applyConfig(pipeline: Pipeline, next: FieldgateConfig, opts: ReloadOptions = {}): Promise<ReloadResult> {
  const deadlineMs = opts.deadlineMs ?? 10_000;
  const log = pipeline.log;
  if (!pipeline.running) {
    return { ok: false, changes: [], errors: ['the pipeline is not running'] };
  }
  const prev = pipeline.config;
  const plan = planReload(prev, next);
  const changes: string[] = [];
  const errors: string[] = [];

  if (plan.gateway) changes.push('gateway settings changed: they take effect at the next restart');
  if (plan.broker) changes.push('broker settings changed: they take effect at the next restart');

  const box = pipeline.reconfigureOutbox(next.outbox);
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
  const newLevel = plan.logLevel?.to;
  const louder = newLevel !== undefined && logLevelValue(log, newLevel) < logLevelValue(log, prev.log.level);
  if (newLevel !== undefined) {
    if (louder) setLogLevel(log, newLevel);
    pipeline.noteLogLevel(newLevel);
    changes.push(`log level ${prev.log.level} -> ${newLevel} applied`);
  }
  if (plan.logFormat) changes.push(`log format ${plan.logFormat.from} -> ${plan.logFormat.to}: takes effect at the next restart`);

  for (const change of plan.stages) {
    const label = SECTION_LABEL[change.section];
    const name = `${label}.${change.id}`;
    try {
      if (change.action === 'remove') {
        await pipeline.removeStage(change.section, change.id, deadlineMs);
        changes.push(`${label} ${change.id} removed`);
      } else if (change.action === 'add') {
        await pipeline.addStage(change.section, change.next);
        changes.push(`${label} ${change.id} added`);
      } else {
        const running = pipeline.findStage(change.section, change.id) !== undefined;
        if (running) pipeline.health?.plannedRestart(name, 'reload: configuration changed');
        const r = await pipeline.replaceStage(change.section, change.prev, change.next, deadlineMs);
        if (running && r.outcome !== 'lost') pipeline.health?.plannedStarted(name);
        if (r.outcome === 'replaced') {
          changes.push(`${label} ${change.id} restarted (configuration changed)`);
        } else if (r.outcome === 'restored') {
          changes.push(`${label} ${change.id} rolled back: it runs its previous configuration`);
          errors.push(`${label} ${change.id}: the new configuration failed to start (${errorCode(r.error)}: ${errorMessage(r.error)}); the previous one was started again`);
        } else {
          errors.push(`${label} ${change.id}: the new configuration failed to start (${errorCode(r.error)}: ${errorMessage(r.error)}) and the previous one failed to start again (${errorMessage(r.restoreError)}): it is not running`);
        }
      }
    } catch (e) {
      // an added stage that cannot start is not added: the config does not list it
      log.error({ stage: name, code: 'FG_E_RELOAD', cause: errorCode(e), reason: errorMessage(e) }, `${label} ${change.id} could not be ${change.action === 'add' ? 'added' : 'removed'}`);
      errors.push(`${label} ${change.id}: ${change.action === 'add' ? 'not added' : 'not removed'}: ${errorCode(e)}: ${errorMessage(e)}`);
    }
  }

  if (plan.health) {
    const r = await pipeline.replaceHealth(next, deadlineMs);
    if (r.outcome === 'replaced') {
      changes.push(next.health.enabled ? `health restarted (${pipeline.health?.url ?? 'no server'})` : 'health disabled');
    } else {
      errors.push(`health: ${errorMessage(r.error)}; the previous health settings stay`);
      if (r.outcome === 'lost') errors.push(`health: the previous settings failed to start again too (${errorMessage(r.restoreError)}): health is not running`);
    }
  }
  pipeline.health?.topologyChanged();
  // the tag table forgets removed sources and lists new tags; restarted ones keep their history
  const kept = new Set(pipeline.config.sources.filter((c) => c.enabled !== false).map((c) => c.id));
  for (const c of prev.sources) if (!kept.has(c.id)) pipeline.taps.tags.drop(c.id);
  pipeline.declareTags(pipeline.config);
  if (plan.alarms) {
    pipeline.setAlarms(next.alarms);
    changes.push(`alarms: ${next.alarms.length} rule${next.alarms.length === 1 ? '' : 's'} applied`);
  }

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
    else if (/ (restarted|added|removed|rolled back)\b/.test(c) && !/^outbox/.test(c)) out.restarted.push(c);
    else out.applied.push(c);
  }
  return out;
}

function show(v: FieldgateConfig['outbox'][keyof FieldgateConfig['outbox']]): string {
  return v === undefined ? '(unset)' : String(v);
}
