import { isDeepStrictEqual } from 'node:util';
import type { FieldgateConfig } from '../config/schema.ts';

/** The config lists whose entries run as one stage each, in the order a reload applies them. */
export const STAGE_SECTIONS = ['simulators', 'sinks', 'models', 'sources'] as const;
export type StageSection = (typeof STAGE_SECTIONS)[number];

/** What a stage of a section is called in names and messages ("source.a", "source a restarted"). */
export const SECTION_LABEL: Record<StageSection, 'simulator' | 'sink' | 'model' | 'source'> = {
  simulators: 'simulator',
  sinks: 'sink',
  models: 'model',
  sources: 'source',
};

/** An entry of one stage section, as the schema produced it. */
export type StageEntryOf<K extends StageSection> = FieldgateConfig[K][number];
/** An entry of any stage section: the plan diffs them by id. */
export type StageEntry = StageEntryOf<StageSection>;

/** What the diff needs of an entry. */
export interface DiffEntry {
  id: string;
  enabled?: unknown;
}

export type StageChange<E extends DiffEntry = StageEntry> =
  | { section: StageSection; id: string; action: 'remove'; prev: E }
  | { section: StageSection; id: string; action: 'restart'; prev: E; next: E }
  | { section: StageSection; id: string; action: 'add'; next: E };

/** Setting changed from one value to another. */
export interface SettingChange<T> {
  from: T;
  to: T;
}

/** A reload as data: what differs between the running config and the new one. No I/O. */
export interface ReloadPlan {
  /**
   * stage changes in apply order: simulators, sinks, models, sources (a source's device comes
   * first); within a section removals, then restarts, then additions (a port freed by one can be
   * taken by the next)
   */
  stages: StageChange[];
  /** the health section differs: the health stage is replaced */
  health: boolean;
  /** the alarm rules differ: they are swapped in place */
  alarms: boolean;
  /** the gateway section differs: it waits for the next restart of the process */
  gateway: boolean;
  /** the embedded broker's settings differ: they wait for the next restart of the process */
  broker: boolean;
  logLevel?: SettingChange<FieldgateConfig['log']['level']>;
  /** the log format is the output stream's, made once at start: it waits for the next restart */
  logFormat?: SettingChange<string>;
}

/** The entries of a section that run (enabled is not false), by id, in list order. */
function running<E extends DiffEntry>(list: readonly E[]): Map<string, E> {
  return new Map(list.filter((c) => c.enabled !== false).map((c) => [c.id, c]));
}

/** Diffs one stage section: by id, deep equality of the entry; disabled entries do not run. */
export function planSection<E extends DiffEntry>(section: StageSection, prev: readonly E[], next: readonly E[]): StageChange<E>[] {
  const before = running(prev);
  const after = running(next);
  const removes: StageChange<E>[] = [];
  const restarts: StageChange<E>[] = [];
  const adds: StageChange<E>[] = [];
  for (const [id, p] of before) {
    const n = after.get(id);
    if (!n) removes.push({ section, id, action: 'remove', prev: p });
    else if (!isDeepStrictEqual(p, n)) restarts.push({ section, id, action: 'restart', prev: p, next: n });
  }
  for (const [id, n] of after) if (!before.has(id)) adds.push({ section, id, action: 'add', next: n });
  return [...removes, ...restarts, ...adds];
}

/** Diffs two whole configurations. Pure: the same two configs always give the same plan. */
export function planReload(prev: FieldgateConfig, next: FieldgateConfig): ReloadPlan {
  const stages = STAGE_SECTIONS.flatMap((s) =>
    planSection<StageEntry>(s, prev[s], next[s]));
  const plan: ReloadPlan = {
    stages,
    health: !isDeepStrictEqual(prev.health, next.health),
    alarms: !isDeepStrictEqual(prev.alarms, next.alarms),
    gateway: !isDeepStrictEqual(prev.gateway, next.gateway),
    broker: !isDeepStrictEqual(prev.broker, next.broker),
  };
  if (prev.log.level !== next.log.level) plan.logLevel = { from: prev.log.level, to: next.log.level };
  if (prev.log.format !== next.log.format) plan.logFormat = { from: prev.log.format, to: next.log.format };
  return plan;
}
