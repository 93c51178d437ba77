const EMPTY = -0x80000000;

/**
 * The buckets of `columns` series of one resolution and slot count, slot-major: bucket i of every
 * series side by side. The series of one poll (a source's tags, created together) share one, so a
 * poll's values land in a few adjacent cache lines; with an array pair per series each value was
 * two cache misses per tier (about 7% of the main thread at 50k tags/s).
 */
export class BucketStore {
  readonly vals: Float32Array;
  readonly ids: Int32Array;
  private used = 0;

  constructor(readonly slots: number, readonly columns: number) {
    this.vals = new Float32Array(slots * columns * 3);
    this.ids = new Int32Array(slots * columns).fill(EMPTY);
  }

  get full(): boolean {
    return this.used >= this.columns;
  }

  /** the next free column */
  take(): number {
    if (this.full) throw new RangeError('BucketStore: no free column');
    return this.used++;
  }
}

/**
 * A bounded, downsampled history of one numeric series: `slots` buckets of `resolutionMs` each,
 * keeping min, max and last of the values that fell in the bucket. Buckets are aligned to the
 * clock (bucket number = floor(t / resolution)) and overwritten in a ring, so memory is fixed
 * at creation: 16 bytes a bucket (three float32 and one int32), nothing allocated per value.
 * The buckets live in its own store, or in one column of a shared `BucketStore`.
 */
export class Downsampled {
  private readonly vals: Float32Array;
  /** bucket numbers relative to `base`, so they fit an int32 at any resolution */
  private readonly ids: Int32Array;
  private readonly base: number;
  /** bucket i is at ids[i * stride + col] and vals[(i * stride + col) * 3 ..] */
  private readonly stride: number;
  private readonly col: number;

  constructor(readonly resolutionMs: number, readonly slots: number, now = Date.now(), shared?: BucketStore) {
    if (shared !== undefined && shared.slots !== slots) throw new RangeError('Downsampled: the shared store has another slot count');
    const store = shared ?? new BucketStore(slots, 1);
    this.vals = store.vals;
    this.ids = store.ids;
    this.stride = store.columns;
    this.col = store.take();
    this.base = Math.floor(now / resolutionMs) - slots;
  }

  /** bytes held by this series */
  get bytes(): number {
    return this.slots * 16;
  }

  add(t: number, v: number): void {
    const id = Math.floor(t / this.resolutionMs) - this.base;
    if (id < 0) return;
    const i = (id % this.slots) * this.stride + this.col;
    const k = i * 3;
    const vals = this.vals;
    if (this.ids[i] !== id) {
      // a late value for a bucket already overwritten by a newer one is dropped
      if (this.ids[i]! > id) return;
      this.ids[i] = id;
      vals[k] = v;
      vals[k + 1] = v;
      vals[k + 2] = v;
      return;
    }
    if (v < vals[k]!) vals[k] = v;
    if (v > vals[k + 1]!) vals[k + 1] = v;
    vals[k + 2] = v;
  }

  /** Buckets that start at or after `since` and are not older than the window, oldest first. */
  read(since: number, now: number, into: HistoryPoints = emptyPoints()): HistoryPoints {
    const res = this.resolutionMs;
    const last = Math.floor(now / res) - this.base;
    const first = Math.max(0, last - this.slots + 1, Math.floor(since / res) - this.base);
    for (let id = first; id <= last; id++) {
      const i = (id % this.slots) * this.stride + this.col;
      if (this.ids[i] !== id) continue;
      const k = i * 3;
      into.t.push((id + this.base) * res);
      into.min.push(this.vals[k]!);
      into.max.push(this.vals[k + 1]!);
      into.last.push(this.vals[k + 2]!);
    }
    return into;
  }
}

/** Column-wise points (what uPlot draws): bucket start times in ms, min, max and last. */
export interface HistoryPoints {
  t: number[];
  min: number[];
  max: number[];
  last: number[];
}

export function emptyPoints(): HistoryPoints {
  return { t: [], min: [], max: [], last: [] };
}

export interface TierConfig {
  /** bucket width in ms */
  resolution: number;
  /** how far back the tier reaches, ms */
  span: number;
}

/**
 * A series in two tiers: a fine one for the live trend (default 1 s buckets over 2 minutes) and a
 * coarse one for the last hour (default 10 s buckets). A query reads the fine tier when `since`
 * falls inside it, else the coarse one.
 */
export class TieredSeries {
  readonly fine: Downsampled;
  readonly coarse: Downsampled;

  /** `stores`: shared bucket stores to take a column of (SeriesBlock), else the series has its own */
  constructor(fine: TierConfig, coarse: TierConfig, stores?: { fine: BucketStore; coarse: BucketStore }) {
    this.fine = new Downsampled(fine.resolution, slotsOf(fine), Date.now(), stores?.fine);
    this.coarse = new Downsampled(coarse.resolution, slotsOf(coarse), Date.now(), stores?.coarse);
  }

  add(t: number, v: number): void {
    this.fine.add(t, v);
    this.coarse.add(t, v);
  }

  get bytes(): number {
    return this.fine.bytes + this.coarse.bytes;
  }

  /**
   * Coarse buckets up to where the fine tier begins, then the fine ones: the last hour with the
   * last two minutes in detail. `resolutionMs` is the coarsest resolution in the answer.
   */
  read(since: number, now: number): HistoryPoints & { resolutionMs: number } {
    const fineRes = this.fine.resolutionMs;
    const fineStart = (Math.floor(now / fineRes) - this.fine.slots + 1) * fineRes;
    if (since >= fineStart) return { ...this.fine.read(since, now), resolutionMs: fineRes };
    // coarse buckets that end before the fine tier starts
    const out = this.coarse.read(since, fineStart - this.coarse.resolutionMs);
    const coarse = out.t.length;
    this.fine.read(fineStart, now, out);
    return { ...out, resolutionMs: coarse > 0 ? this.coarse.resolutionMs : fineRes };
  }
}

export function slotsOf(t: TierConfig): number {
  return Math.max(1, Math.ceil(t.span / t.resolution));
}

/** Room for `columns` tiered series side by side (see BucketStore): the series of one source's poll. */
export class SeriesBlock {
  private readonly fine: BucketStore;
  private readonly coarse: BucketStore;

  constructor(private readonly fineCfg: TierConfig, private readonly coarseCfg: TierConfig, columns: number) {
    this.fine = new BucketStore(slotsOf(fineCfg), columns);
    this.coarse = new BucketStore(slotsOf(coarseCfg), columns);
  }

  get full(): boolean {
    return this.fine.full;
  }

  take(): TieredSeries {
    return new TieredSeries(this.fineCfg, this.coarseCfg, { fine: this.fine, coarse: this.coarse });
  }
}
