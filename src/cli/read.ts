import type { LoadedConfig } from '../config/load.ts';
import { Metrics } from '../core/metrics.ts';
import type { SampleBatch, SampleValue } from '../core/sample.ts';
import type { TagEntry } from '../health/tags.ts';
import { TagStore, declaredTags } from '../health/tags.ts';
import type { Logger } from '../log.ts';
import type { DriverDefinition, StageContext } from '../core/contracts.ts';
import { SourceStage } from '../pipeline/source-stage.ts';
import { UsageError } from './usage.ts';

export interface ReadOptions {
  source?: string;
  watch: boolean;
  /**
   * give up on tags not read within this long (default 30 s: a first OPC UA connection makes its
   * certificate, which takes seconds on a slow machine). A source whose connection failed ends
   * the wait for its tags at once.
   */
  timeoutMs?: number;
  drivers: readonly DriverDefinition[];
  log: Logger;
  out: NodeJS.WritableStream;
  /** --watch ends when this aborts (SIGINT/SIGTERM) */
  signal?: AbortSignal;
}

/**
 * `fieldgate read`: connects the configured sources only (no outbox, models or sinks), reads every
 * tag once (or keeps printing changes) and prints tag, value, quality, reason, timestamp.
 * Returns 0 when every tag read good, 1 otherwise: the first thing to run against a new device.
 */
export async function readTags(loaded: LoadedConfig, opts: ReadOptions): Promise<number> {
  const all = loaded.config.sources.filter((s) => s.enabled !== false);
  const chosen = opts.source ? all.filter((s) => s.id === opts.source) : all;
  if (opts.source && chosen.length === 0) throw new UsageError(`no source "${opts.source}" in the configuration (sources: ${all.map((s) => s.id).join(', ') || 'none'})`);
  if (chosen.length === 0) throw new UsageError('the configuration has no enabled sources');
  const ctx: StageContext = {
    gateway: { id: loaded.config.gateway.id, dataDir: resolveIn(loaded.baseDir, loaded.config.gateway.dataDir) },
    log: opts.log,
    metrics: new Metrics(),
    resolvePath: (p) => resolveIn(loaded.baseDir, p),
  };
  const store = new TagStore({ fine: { resolution: 1_000, span: 1_000 }, coarse: { resolution: 1_000, span: 1_000 }, maxTags: 1_000_000 });
  const stages: SourceStage[] = [];
  for (const cfg of chosen) {
    const driver = opts.drivers.find((d) => d.type === cfg.type);
    if (!driver) throw new UsageError(`source ${cfg.id}: no driver for type "${cfg.type}"`);
    store.declare(cfg.id, declaredTags(cfg));
    stages.push(new SourceStage(cfg, driver, ctx));
  }
  const ctl = new AbortController();
  const changes: TagEntry[] = [];
  const pumps = stages.map((st) => pump(st, ctl.signal, (b) => {
    if (!opts.watch) {
      store.record(b);
      return;
    }
    const before = b.samples.map((s) => store.get(s.source, s.tag)).map((e) => e && { v: e.value, q: e.quality });
    store.record(b);
    b.samples.forEach((s, i) => {
      const e = store.get(s.source, s.tag);
      const was = before[i];
      if (e && (!was || was.v !== e.value || was.q !== e.quality)) changes.push(e);
    });
  }));
  for (const st of stages) await st.start();
  try {
    const timeout = opts.timeoutMs ?? 30_000;
    const end = Date.now() + timeout;
    // done when every tag has a value, or every source still missing some has failed to connect at least once
    while (Date.now() < end && !opts.signal?.aborted) {
      const missing = stages.filter((st) => [...entriesOf(store, st.config.id)].some((e) => e.quality === 'none'));
      if (missing.length === 0) break;
      if (missing.every((st) => st.supervisor.status().lastError !== undefined)) break;
      await sleep(50);
    }
    const reasons = new Map(stages.map((st) => [st.config.id, notReadReason(st)]));
    opts.out.write(table([...store.entries()], reasons));
    if (opts.watch) {
      opts.out.write('\nwatching for changes (Ctrl-C to stop)\n');
      changes.length = 0;
      while (!opts.signal?.aborted) {
        await sleep(100, opts.signal);
        for (const e of changes.splice(0)) opts.out.write(`${line(e)}\n`);
      }
    }
    const bad = [...store.entries()].filter((e) => e.quality !== 'good');
    const n = store.size;
    opts.out.write(bad.length === 0
      ? `\nall ${n} tag${n === 1 ? '' : 's'} read good\n`
      : `\n${bad.length} of ${n} tag${n === 1 ? '' : 's'} not good: ${bad.slice(0, 5).map((e) => `${e.source}/${e.tag}`).join(', ')}${bad.length > 5 ? ', ...' : ''}\n`);
    return bad.length === 0 ? 0 : 1;
  } finally {
    ctl.abort();
    await Promise.all(stages.map((st) => st.stop(3_000)));
    await Promise.allSettled(pumps);
  }
}

async function pump(st: SourceStage, signal: AbortSignal, onBatch: (b: SampleBatch) => void): Promise<void> {
  while (!signal.aborted) {
    const b = await st.channel.recv(signal).catch(() => undefined);
    if (b === undefined) return;
    onBatch(b);
  }
}

function* entriesOf(store: TagStore, source: string): IterableIterator<TagEntry> {
  for (const e of store.entries()) if (e.source === source) yield e;
}

/** Why a source's tags have no value: its driver's error, or what its probe says. */
function notReadReason(st: SourceStage): string {
  const err = st.supervisor.status().lastError;
  if (err) return `not read: ${err.code}: ${err.message}`;
  const p = st.probe();
  return `not read${p.reason ? `: ${p.reason}` : ' in time'}`;
}

function table(entries: TagEntry[], reasons: Map<string, string>): string {
  const rows = entries.map((e) => [
    `${e.source}/${e.tag}`,
    e.quality === 'none' ? '-' : `${show(e.value)}${e.unit ? ` ${e.unit}` : ''}`,
    e.quality === 'none' ? 'none' : e.quality,
    e.quality === 'none' ? reasons.get(e.source) ?? 'not read' : e.reason ?? '',
    e.ts ? new Date(e.ts).toISOString() : '-',
  ]);
  const head = ['TAG', 'VALUE', 'QUALITY', 'REASON', 'TIMESTAMP'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  // the reason can be long: it goes last in the line so the other columns stay aligned
  const order = [0, 1, 2, 4, 3];
  const fmt = (r: string[]): string => order.map((i, k) => (k === order.length - 1 ? r[i]! : r[i]!.padEnd(w[i]!))).join('  ').trimEnd();
  return `${[fmt(head), ...rows.map(fmt)].join('\n')}\n`;
}

function line(e: TagEntry): string {
  return `${new Date(e.ts).toISOString()}  ${e.source}/${e.tag} = ${show(e.value)}${e.unit ? ` ${e.unit}` : ''}  ${e.quality}${e.reason ? ` (${e.reason})` : ''}`;
}

function show(v: SampleValue): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(7)));
  if (v === null || v === undefined) return 'null';
  return String(v);
}

function resolveIn(base: string, p: string): string {
  return p.startsWith('/') ? p : `${base}/${p}`;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
