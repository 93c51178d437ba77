import { isDeepStrictEqual } from 'node:util';
import type { ActiveAlarm, AlarmCondition, AlarmView } from '../core/contracts.ts';
import type { GatewayEvent, SampleValue } from '../core/sample.ts';
import { type TagEntry, type TagStore, numeric } from '../health/tags.ts';
import type { AlarmRule } from './config.ts';

export type { ActiveAlarm, AlarmCondition } from '../core/contracts.ts';

interface Instance {
  id: string;
  rule: AlarmRule;
  source: string;
  tag: string;
  condition: AlarmCondition;
  onDelay: number;
  offDelay: number;
  /** the condition holds right now (before delays) */
  cond: boolean;
  condSince: number;
  active: boolean;
  raisedAt: number;
  message: string;
  ack?: { at: number; by: string };
  entry: TagEntry;
}

/** how often delays and missing data are checked */
const TICK_MS = 250;

/**
 * Evaluates the `alarms:` rules on raw tags. Limits are checked on every sample of the tag (the
 * TagStore calls back; tags without rules cost nothing); delays, bad quality and missing data
 * are checked four times a second. Raised and cleared alarms go to `emit` as gateway events.
 */
export class AlarmEngine implements AlarmView {
  private instances: Instance[] = [];
  private timer?: NodeJS.Timeout;
  /** "no data for N" counts from here for a tag never read (the pipeline's start, not its construction) */
  private startedAt: number;

  constructor(
    private rules: readonly AlarmRule[],
    private readonly store: TagStore,
    private readonly emit: (events: GatewayEvent[]) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.startedAt = now();
    this.build(rules, []);
  }

  start(): void {
    if (this.timer) return;
    this.startedAt = this.now();
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const i of this.instances) i.entry.watcher = undefined;
  }

  /** A reload: alarms whose rule did not change keep their state; the others start clear. */
  setRules(rules: readonly AlarmRule[]): void {
    if (isDeepStrictEqual(rules, this.rules)) return;
    const old = this.instances;
    for (const i of old) i.entry.watcher = undefined;
    this.rules = rules;
    this.build(rules, old);
  }

  active(): ActiveAlarm[] {
    return this.instances.filter((i) => i.active).map((i) => ({
      id: i.id, source: i.source, tag: i.tag, condition: i.condition, severity: i.rule.severity, message: i.message,
      since: i.raisedAt, value: i.entry.value, quality: i.entry.quality, acknowledged: i.ack,
    }));
  }

  /** Marks an active alarm acknowledged (local to the gateway; nothing is written to a device). */
  acknowledge(id: string, by: string): boolean {
    const i = this.instances.find((x) => x.id === id && x.active);
    if (!i) return false;
    i.ack ??= { at: this.now(), by };
    return true;
  }

  get count(): number {
    return this.instances.length;
  }

  private build(rules: readonly AlarmRule[], previous: Instance[]): void {
    const list: Instance[] = [];
    for (const rule of rules) {
      const slash = rule.tag.indexOf('/');
      const source = rule.tag.slice(0, slash);
      const tag = rule.tag.slice(slash + 1);
      const entry = this.store.entry(source, tag);
      if (!entry) continue;
      const base = rule.id ?? rule.tag.replace(/\//g, '.');
      const add = (condition: AlarmCondition, onDelay: number, offDelay: number): void => {
        const id = `${base}:${condition}`;
        const prev = previous.find((p) => p.id === id && isDeepStrictEqual(p.rule, rule));
        list.push(prev ? { ...prev, entry } : {
          id, rule, source, tag, condition, onDelay, offDelay, cond: false, condSince: this.now(), active: false, raisedAt: 0, message: '', entry,
        });
      };
      if (rule.high !== undefined) add('high', rule.onDelay, rule.offDelay);
      if (rule.low !== undefined) add('low', rule.onDelay, rule.offDelay);
      if (rule.badQualityFor !== undefined) add('bad-quality', rule.badQualityFor, 0);
      if (rule.noDataFor !== undefined) add('no-data', 0, 0);
    }
    this.instances = list;
    const byEntry = new Map<TagEntry, Instance[]>();
    for (const i of list) {
      const l = byEntry.get(i.entry);
      if (l) l.push(i);
      else byEntry.set(i.entry, [i]);
    }
    for (const [entry, insts] of byEntry) entry.watcher = (e) => this.onSample(e, insts);
  }

  private onSample(e: TagEntry, insts: Instance[]): void {
    const now = this.now();
    const out: GatewayEvent[] = [];
    for (const i of insts) {
      const cond = this.condition(i, e, now);
      if (cond !== i.cond) {
        i.cond = cond;
        i.condSince = now;
      }
      this.step(i, now, out);
    }
    if (out.length) this.emit(out);
  }

  private tick(): void {
    const now = this.now();
    const out: GatewayEvent[] = [];
    for (const i of this.instances) {
      if (i.condition === 'no-data') {
        const cond = now - (i.entry.receivedAt || this.startedAt) > i.rule.noDataFor!;
        if (cond !== i.cond) {
          i.cond = cond;
          i.condSince = now;
        }
      }
      this.step(i, now, out);
    }
    if (out.length) this.emit(out);
  }

  /** Whether the condition holds for this sample; a limit keeps its state through bad samples. */
  private condition(i: Instance, e: TagEntry, now: number): boolean {
    const r = i.rule;
    switch (i.condition) {
      case 'bad-quality':
        return e.quality !== 'good';
      case 'no-data':
        return now - (e.receivedAt || this.startedAt) > r.noDataFor!;
      case 'high': {
        const v = e.quality === 'good' ? numeric(e.value) : undefined;
        if (v === undefined) return i.cond;
        return i.active ? v > r.high! - r.deadband : v > r.high!;
      }
      case 'low': {
        const v = e.quality === 'good' ? numeric(e.value) : undefined;
        if (v === undefined) return i.cond;
        return i.active ? v < r.low! + r.deadband : v < r.low!;
      }
    }
  }

  private step(i: Instance, now: number, out: GatewayEvent[]): void {
    if (i.cond && !i.active && now - i.condSince >= i.onDelay) {
      i.active = true;
      i.raisedAt = now;
      i.ack = undefined;
      i.message = i.rule.message ?? describe(i);
      out.push(this.event(i, now, 'raised'));
    } else if (!i.cond && i.active && now - i.condSince >= i.offDelay) {
      i.active = false;
      out.push(this.event(i, now, 'cleared'));
    }
  }

  private event(i: Instance, now: number, state: 'raised' | 'cleared'): GatewayEvent {
    const v = i.entry.value;
    const value = typeof v === 'bigint' ? v.toString() : v ?? 'none';
    const data: Record<string, string | number | boolean> = {
      alarm: i.id, tag: `${i.source}/${i.tag}`, condition: i.condition, state, value, quality: i.entry.quality,
    };
    const limit = i.condition === 'high' ? i.rule.high : i.condition === 'low' ? i.rule.low : undefined;
    if (limit !== undefined) data.limit = limit;
    return {
      source: `source.${i.source}`,
      kind: state === 'raised' ? 'alarm' : 'alarm-cleared',
      ts: now,
      severity: state === 'raised' ? i.rule.severity : 'info',
      message: state === 'raised' ? `alarm ${i.id}: ${i.message}` : `alarm ${i.id} cleared: ${i.source}/${i.tag} = ${show(v)}`,
      data,
    };
  }
}

function describe(i: Instance): string {
  const r = i.rule;
  const name = `${i.source}/${i.tag}`;
  const v = show(i.entry.value);
  switch (i.condition) {
    case 'high': return `${name} = ${v} above ${r.high}`;
    case 'low': return `${name} = ${v} below ${r.low}`;
    case 'bad-quality': return `${name} ${i.entry.quality} for ${Math.round(r.badQualityFor! / 1000)} s${i.entry.reason ? ` (${i.entry.reason})` : ''}`;
    case 'no-data': return `${name}: no data for ${Math.round(r.noDataFor! / 1000)} s`;
  }
}

function show(v: SampleValue): string {
  if (typeof v === 'number') return Number(v.toPrecision(6)).toString();
  return v === null ? 'none' : String(v);
}
