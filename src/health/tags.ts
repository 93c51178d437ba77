import { ColumnarBatch, type Quality, type SampleBatch, type SampleValue } from '../core/sample.ts';
import { type HistoryPoints, SeriesBlock, type TierConfig, TieredSeries } from './history.ts';

/** A tag as the configuration declares it (before any value arrived). */
export interface DeclaredTag {
  tag: string;
  /** the Modbus device name, when the source has several */
  device?: string;
  unit?: string;
}

/** Everything known about one tag: its latest sample and its history. */
export interface TagEntry {
  readonly source: string;
  readonly tag: string;
  device?: string;
  unit?: string;
  value: SampleValue;
  quality: Quality | 'none';
  reason?: string;
  /** source timestamp of the latest sample; 0 = never read */
  ts: number;
  /** when the gateway received it */
  receivedAt: number;
  /** numeric values only; created on the first one */
  series?: TieredSeries;
  /** set by whoever watches this tag (the alarm engine): called after each sample */
  watcher?: (e: TagEntry) => void;
}

export interface TagRow {
  tag: string;
  device?: string;
  unit?: string;
  value: SampleValue;
  quality: Quality | 'none';
  reason?: string;
  ts: number | null;
  ageMs: number | null;
  spark?: number[];
}

export interface TagsDocument {
  time: number;
  total: number;
  shown: number;
  sources: { source: string; devices: { device: string | null; tags: TagRow[] }[] }[];
}

export interface TagStoreOptions {
  fine: TierConfig;
  coarse: TierConfig;
  /** most tags kept; past it new tags are counted, not kept (memory stays bounded) */
  maxTags: number;
}

/** most series in one block of histories: a block is allocated whole (about 7.7 KB per column with the defaults) */
const MAX_BLOCK = 64;

export const DEFAULT_TAG_STORE: TagStoreOptions = {
  fine: { resolution: 1_000, span: 120_000 },
  coarse: { resolution: 10_000, span: 3_600_000 },
  maxTags: 50_000,
};

/**
 * Every tag's latest value and a bounded history, fed once per batch where samples enter the
 * outbox (see taps.ts). Per sample: one map lookup, a few field writes and two bucket updates;
 * nothing allocated once a tag is known. Memory: about (fine slots + coarse slots) x 16 bytes
 * per numeric tag (7.7 KB with the defaults: 120 + 360 buckets) plus the entry (about 1 KB):
 * 87 MB for 10,000 tags measured by `npm run bench:dashboard`.
 */
export class TagStore {
  private readonly bySource = new Map<string, Map<string, TagEntry>>();
  /**
   * Per source, the tags of its last batch and their entries: a source's polls repeat their shape,
   * so a batch that matches it (compared by string, usually the same string objects) skips a map
   * lookup per sample.
   */
  private readonly shapes = new Map<string, { tags: string[]; entries: TagEntry[] }>();
  /** per source, the block its next histories take a column of (history.ts BucketStore: a poll's buckets side by side) */
  private readonly blocks = new Map<string, SeriesBlock>();
  private count = 0;
  /** samples of tags refused because maxTags was reached */
  refused = 0;

  constructor(readonly opts: TagStoreOptions = DEFAULT_TAG_STORE) {}

  get size(): number {
    return this.count;
  }

  /** Lists a source's configured tags so they show (as "no data") before the first value. */
  declare(source: string, tags: readonly DeclaredTag[]): void {
    for (const d of tags) {
      const e = this.entry(source, d.tag);
      if (!e) continue;
      if (d.device !== undefined) e.device = d.device;
      if (d.unit !== undefined) e.unit = d.unit;
    }
  }

  /** Forgets a source (removed by a reload). */
  drop(source: string): void {
    const m = this.bySource.get(source);
    if (!m) return;
    this.count -= m.size;
    this.bySource.delete(source);
    // a batch of another source may hold tags of this one: every shape is made again
    this.shapes.clear();
    this.blocks.delete(source);
  }

  record(batch: SampleBatch): void {
    let tags = this.bySource.get(batch.source);
    if (!tags) {
      tags = new Map();
      this.bySource.set(batch.source, tags);
    }
    const at = batch.receivedAt;
    // a columnar batch is read from its columns (every sample good, a number, of its source)
    const cb = batch instanceof ColumnarBatch ? batch : undefined;
    const samples = cb === undefined ? batch.samples : undefined;
    const n = cb !== undefined ? cb.length : samples!.length;
    let shape = this.shapes.get(batch.source);
    if (shape !== undefined && shape.tags.length === n) {
      for (let i = 0; i < n; i++) {
        if ((cb !== undefined ? cb.tags[i] : samples![i]!.tag) !== shape.tags[i]) {
          shape = undefined;
          break;
        }
      }
    } else shape = undefined;
    // a new shape is remembered once every tag of it has an entry (a full store refuses some)
    const next = shape === undefined ? { tags: new Array<string>(n), entries: new Array<TagEntry>(n) } : undefined;
    for (let i = 0; i < n; i++) {
      const s = samples?.[i];
      const tag = s !== undefined ? s.tag : cb!.tags[i]!;
      let e = shape !== undefined ? shape.entries[i]! : tags.get(tag);
      if (e === undefined) {
        e = this.entry(s !== undefined ? s.source : batch.source, tag);
        if (!e) {
          this.refused++;
          continue;
        }
      }
      if (next !== undefined) {
        next.tags[i] = tag;
        next.entries[i] = e;
      }
      if (s === undefined) {
        const v = cb!.values[i]!;
        const ts = cb!.ts[i]!;
        e.value = v;
        e.quality = 'good';
        e.reason = undefined;
        e.ts = ts;
        e.receivedAt = at;
        if (Number.isFinite(v)) (e.series ??= this.newSeries(batch.source, n)).add(ts, v);
      } else {
        e.value = s.value;
        e.quality = s.quality;
        e.reason = s.reason;
        e.ts = s.ts;
        e.receivedAt = at;
        if (s.quality !== 'bad') {
          const v = numeric(s.value);
          if (v !== undefined) (e.series ??= this.newSeries(batch.source, n)).add(s.ts, v);
        }
      }
      if (e.watcher) e.watcher(e);
    }
    if (next !== undefined && this.refusedNone(next.entries, n)) this.shapes.set(batch.source, next);
  }

  /**
   * A history for a tag of `source`: a column of the source's current block, sized for the batch
   * that asks (its other tags come next), at most MAX_BLOCK columns.
   */
  private newSeries(source: string, batchSize: number): TieredSeries {
    let b = this.blocks.get(source);
    if (b === undefined || b.full) {
      b = new SeriesBlock(this.opts.fine, this.opts.coarse, Math.max(1, Math.min(MAX_BLOCK, batchSize)));
      this.blocks.set(source, b);
    }
    return b.take();
  }

  /** whether every position of a new shape got its entry */
  private refusedNone(entries: TagEntry[], n: number): boolean {
    for (let i = 0; i < n; i++) if (entries[i] === undefined) return false;
    return true;
  }

  /** One value outside a batch (model outputs, gateway figures). */
  put(source: string, tag: string, ts: number, value: number): void {
    const e = this.entry(source, tag);
    if (!e) return;
    e.value = value;
    e.quality = 'good';
    e.ts = ts;
    e.receivedAt = Date.now();
    if (Number.isFinite(value)) (e.series ??= new TieredSeries(this.opts.fine, this.opts.coarse)).add(ts, value);
  }

  get(source: string, tag: string): TagEntry | undefined {
    return this.bySource.get(source)?.get(tag);
  }

  /** Finds or creates an entry (undefined when the store is full). */
  entry(source: string, tag: string): TagEntry | undefined {
    let tags = this.bySource.get(source);
    if (!tags) {
      tags = new Map();
      this.bySource.set(source, tags);
    }
    let e = tags.get(tag);
    if (e) return e;
    if (this.count >= this.opts.maxTags) return undefined;
    e = { source, tag, value: null, quality: 'none', ts: 0, receivedAt: 0 };
    tags.set(tag, e);
    this.count++;
    return e;
  }

  *entries(): IterableIterator<TagEntry> {
    for (const m of this.bySource.values()) yield* m.values();
  }

  /** bytes held by the histories (the entries themselves add roughly 200 bytes each) */
  historyBytes(): number {
    let n = 0;
    for (const e of this.entries()) n += e.series?.bytes ?? 0;
    return n;
  }

  /**
   * The /api/tags document: every tag grouped by source and device. `q` filters on
   * "source/tag" (case-insensitive substring), `limit` caps the rows, `spark` adds the last
   * `spark` seconds of the fine tier (one value a bucket) for sparklines.
   */
  list(opts: { q?: string; limit?: number; spark?: number; now?: number } = {}): TagsDocument {
    const now = opts.now ?? Date.now();
    const q = opts.q?.toLowerCase();
    const limit = opts.limit ?? Infinity;
    const out: TagsDocument = { time: now, total: this.count, shown: 0, sources: [] };
    for (const [source, tags] of this.bySource) {
      const devices = new Map<string | null, TagRow[]>();
      for (const e of tags.values()) {
        if (out.shown >= limit) break;
        if (q && !`${source}/${e.tag}`.toLowerCase().includes(q)) continue;
        const row: TagRow = {
          tag: e.tag, device: e.device, unit: e.unit, value: e.value, quality: e.quality, reason: e.reason,
          ts: e.ts || null, ageMs: e.receivedAt ? now - e.receivedAt : null,
        };
        if (opts.spark && e.series) row.spark = e.series.fine.read(now - opts.spark * 1000, now).last;
        const key = e.device ?? null;
        let list = devices.get(key);
        if (!list) devices.set(key, (list = []));
        list.push(row);
        out.shown++;
      }
      if (devices.size > 0) out.sources.push({ source, devices: [...devices].map(([device, rows]) => ({ device, tags: rows })) });
    }
    return out;
  }

  history(source: string, tag: string, since: number, now = Date.now()): (HistoryPoints & { resolutionMs: number }) | undefined {
    const e = this.get(source, tag);
    if (!e) return undefined;
    if (!e.series) return { t: [], min: [], max: [], last: [], resolutionMs: this.opts.coarse.resolution };
    return e.series.read(since, now);
  }
}

/** The number a value is charted as: booleans 0/1, bigints rounded, strings not at all. */
export function numeric(v: SampleValue): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'bigint') return Number(v);
  return undefined;
}

/**
 * The tags a source's configuration declares, without knowing the driver: a `devices` list whose
 * entries carry `tags` (Modbus: the sample tag is "<device>.<tag>" when the device has a name),
 * or a flat `tags` list (OPC UA).
 */
export function declaredTags(source: unknown): DeclaredTag[] {
  const s = source as { devices?: { name?: string; unit?: number; tags?: { name: string; engUnit?: string }[] }[]; tags?: ({ name: string; engUnit?: string } | string)[] };
  const out: DeclaredTag[] = [];
  if (Array.isArray(s.devices)) {
    for (const d of s.devices) {
      const device = d.name ?? (s.devices.length > 1 ? `unit ${d.unit ?? 1}` : undefined);
      for (const t of d.tags ?? []) out.push({ tag: d.name ? `${d.name}.${t.name}` : t.name, device, unit: t.engUnit });
    }
  } else if (Array.isArray(s.tags)) {
    for (const t of s.tags) out.push(typeof t === 'string' ? { tag: t } : { tag: t.name, unit: t.engUnit });
  }
  return out;
}
