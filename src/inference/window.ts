import type { Sample, SampleBatch } from '../core/sample.ts';
import { splitTagRef, type ModelInputConfig } from './config.ts';
import { SUMMARY_STATS, WindowSummary } from './summary.ts';

/**
 * A window ready for the model: `window` rows of `features` values, time-major, normalised; or, with
 * input.summary, the window's statistics (mean, shift, std dev of every feature); then the calendar and
 * baseline values, if configured.
 */
export interface Window {
  data: Float32Array;
  /** timestamp of the window's last row (source time) */
  ts: number;
  /** when the window was completed (performance.now()), for the deadline */
  assembledAt: number;
}

export interface AssemblerCounts {
  /** samples of wanted tags that were bad, non-numeric or non-finite */
  badSamples: number;
  /** bad samples replaced by the tag's last good value */
  imputed: number;
  /** windows not emitted because they contained a bad row */
  skippedWindows: number;
  /** driving samples not newer than the previous row */
  outOfOrder: number;
  windows: number;
}

type Scale = (x: number) => number;

/**
 * Window buffers returned after their batch ran, reused by the assembler: a wide window (288 rows x 3
 * tags is 3.5 KB) is otherwise one allocation per window, and the young-generation GC it feeds cost
 * more than the model run. Only full-size buffers are kept, at most `keep`.
 */
export class WindowBuffers {
  private readonly spare: Float32Array[] = [];
  constructor(readonly width: number, private readonly keep = 1024) {}

  take(): Float32Array {
    return this.spare.pop() ?? new Float32Array(this.width);
  }

  give(b: Float32Array): void {
    if (b.length === this.width && this.spare.length < this.keep) this.spare.push(b);
  }

  get size(): number {
    return this.spare.length;
  }
}

const HOUR_MS = 3_600_000;

/** Hour of day (0-23) and day of week (0 = Monday) of a timestamp, at a fixed offset from UTC. */
export function calendarOf(ts: number, utcOffsetMinutes: number): [number, number] {
  const hours = Math.floor((ts + utcOffsetMinutes * 60_000) / HOUR_MS);
  const hour = ((hours % 24) + 24) % 24;
  // 1970-01-01 was a Thursday (3 when Monday is 0)
  const weekday = ((Math.floor((hours - hour) / 24) + 3) % 7 + 7) % 7;
  return [hour, weekday];
}

function scaler(n: ModelInputConfig['features'][number]['normalise']): Scale | undefined {
  if (!n) return undefined; // models that normalise inside (model fit) get the value as is
  if ('mean' in n) return (x) => (x - n.mean) / n.std;
  const span = n.max - n.min;
  return (x) => (x - n.min) / span;
}

function numeric(s: Sample): number | undefined {
  if (s.quality === 'bad') return undefined;
  const v = s.value;
  const x = typeof v === 'number' ? v : typeof v === 'boolean' ? (v ? 1 : 0) : typeof v === 'bigint' ? Number(v) : NaN;
  return Number.isFinite(x) ? x : undefined;
}

/**
 * Sliding windows over the configured tags, aligned by timestamp.
 *
 * The first feature's tag drives the clock: each of its samples makes one row. Every other tag
 * contributes its latest value at or before that row's timestamp (sample-and-hold), so a slower
 * tag repeats its last value until it changes; a held value older than `maxHold` makes the row
 * bad. Within a batch, samples are taken in timestamp order, held tags before the driving tag at
 * equal timestamps. A bad sample (quality bad, non-numeric, NaN) either marks its row bad, and
 * every window holding that row is skipped (`onBad: skip`), or is replaced by the tag's last good
 * value (`onBad: impute`). Both are counted.
 */
export class WindowAssembler {
  readonly counts: AssemblerCounts = { badSamples: 0, imputed: 0, skippedWindows: 0, outOfOrder: 0, windows: 0 };
  private readonly cfg: ModelInputConfig;
  private readonly nf: number;
  /** source -> tag -> feature index (two lookups, no string built per sample) */
  private readonly index = new Map<string, Map<string, number>>();
  private readonly sources = new Set<string>();
  private readonly scale: (Scale | undefined)[];
  /** latest value per feature (normalised), NaN while bad or unknown */
  private readonly held: Float64Array;
  private readonly heldTs: Float64Array;
  private readonly lastGood: Float64Array;
  /** ring of rows, each written twice (slot h and h + window) so a window is one contiguous slice (raw windows) */
  private readonly rows: Float32Array;
  /** values per window (window x features) */
  private readonly size: number;
  /** input.summary: running statistics instead of the raw ring, and the row being added */
  private readonly summary?: WindowSummary;
  private readonly row: Float64Array;
  private readonly rowBad: Uint8Array;
  private head = 0; // next row slot
  private filled = 0;
  private badInRing = 0;
  /** rows since the last window; starts so the first full window is emitted */
  private sinceEmit: number;
  private lastRowTs = -Infinity;

  /**
   * baseline (input.baseline): an exponential moving average of every feature over the rows that have
   * left the window, kept as its partial sum and total weight so the model can start it at its own
   * centre: baseline = baseSum + (1 - baseWeight) * centre
   */
  private readonly baseSum: Float64Array;
  private baseWeight = 0;
  private readonly alpha: number;
  private readonly mine: Sample[] = [];
  private feat = new Uint32Array(256);
  /** reused window buffers (their owner gives them back once a window's batch has run) */
  readonly buffers: WindowBuffers;

  constructor(cfg: ModelInputConfig) {
    this.cfg = cfg;
    const values = cfg.summary ? SUMMARY_STATS * cfg.features.length : cfg.window * cfg.features.length;
    const width = values + (cfg.calendar ? 2 : 0) + (cfg.baseline ? cfg.features.length + 1 : 0);
    this.baseSum = new Float64Array(cfg.features.length);
    this.alpha = cfg.baseline ? 1 - 2 ** (-1 / cfg.baseline.halfLife) : 0;
    // keep up to 16 MB of spare windows: enough for a full pipeline of batches in flight
    this.buffers = new WindowBuffers(width, Math.max(64, Math.floor(16 * 2 ** 20 / (4 * width))));
    this.nf = cfg.features.length;
    cfg.features.forEach((f, i) => {
      const { source, tag } = splitTagRef(f.tag);
      let tags = this.index.get(source);
      if (!tags) this.index.set(source, (tags = new Map<string, number>()));
      tags.set(tag, i);
      this.sources.add(source);
    });
    this.scale = cfg.features.map((f) => scaler(f.normalise));
    this.held = new Float64Array(this.nf).fill(NaN);
    this.heldTs = new Float64Array(this.nf).fill(-Infinity);
    this.lastGood = new Float64Array(this.nf).fill(NaN);
    this.size = cfg.window * this.nf;
    if (cfg.summary) this.summary = new WindowSummary(cfg.window, this.nf, cfg.summary.recent);
    this.rows = new Float32Array(this.summary ? 0 : 2 * this.size);
    this.row = new Float64Array(this.nf);
    this.rowBad = new Uint8Array(cfg.window);
    this.sinceEmit = cfg.stride - 1;
  }

  wants(source: string): boolean {
    return this.sources.has(source);
  }

  /** Takes a batch; returns the windows it completed, oldest first. */
  push(batch: SampleBatch, now = performance.now()): Window[] {
    // the batch's samples of wanted tags and their feature index, in reused arrays (no object per sample)
    const mine = this.mine;
    let feat = this.feat;
    let m = 0;
    // a batch comes from one source as a rule: look its tags up once
    let source: string | undefined;
    let tags: Map<string, number> | undefined;
    let ordered = true;
    let prevTs = -Infinity;
    let prevF = 0;
    for (const s of batch.samples) {
      if (s.source !== source) {
        source = s.source;
        tags = this.index.get(source);
      }
      const f = tags?.get(s.tag);
      if (f === undefined) continue;
      // in order: time ascending, and at equal times held tags before the driving one
      if (s.ts < prevTs || (s.ts === prevTs && prevF === 0 && f !== 0)) ordered = false;
      prevTs = s.ts;
      prevF = f;
      if (m === feat.length) {
        const grown = new Uint32Array(feat.length * 2);
        grown.set(feat);
        this.feat = feat = grown;
      }
      mine[m] = s;
      feat[m++] = f;
    }
    if (m === 0) return [];
    if (!ordered) {
      // held tags first at equal timestamps, so a row sees values stamped with its own time
      const order = Array.from({ length: m }, (_, i) => ({ s: mine[i]!, f: feat[i]! }));
      order.sort((a, b) => a.s.ts - b.s.ts || (a.f === 0 ? 1 : 0) - (b.f === 0 ? 1 : 0));
      order.forEach((o, i) => { mine[i] = o.s; feat[i] = o.f; });
    }
    const out: Window[] = [];
    for (let i = 0; i < m; i++) {
      const s = mine[i]!;
      const f = feat[i]!;
      let x = numeric(s);
      if (x === undefined) {
        this.counts.badSamples++;
        if (this.cfg.onBad === 'impute' && !Number.isNaN(this.lastGood[f]!)) {
          this.counts.imputed++;
          x = this.lastGood[f]!;
        }
      } else {
        const sc = this.scale[f];
        if (sc !== undefined) x = sc(x);
        this.lastGood[f] = x;
      }
      if (f !== 0) {
        this.held[f] = x ?? NaN;
        this.heldTs[f] = s.ts;
        continue;
      }
      if (s.ts <= this.lastRowTs) {
        this.counts.outOfOrder++;
        continue;
      }
      this.lastRowTs = s.ts;
      this.addRow(x, s.ts);
      if (this.filled === this.cfg.window && ++this.sinceEmit >= this.cfg.stride) {
        this.sinceEmit = 0;
        if (this.badInRing > 0) this.counts.skippedWindows++;
        else out.push(this.emit(s.ts, now));
      }
    }
    if (mine.length > 4096) mine.length = 0; // a rare huge batch does not stay referenced
    return out;
  }

  private addRow(first: number | undefined, ts: number): void {
    const at = this.head * this.nf;
    const twin = at + this.size;
    const sum = this.summary;
    if (this.alpha > 0 && this.filled === this.cfg.window && !this.rowBad[this.head]) {
      const a = this.alpha;
      for (let f = 0; f < this.nf; f++) this.baseSum[f] = (1 - a) * this.baseSum[f]! + a * (sum ? sum.oldest(f) : this.rows[at + f]!);
      this.baseWeight = (1 - a) * this.baseWeight + a;
    }
    let bad = first === undefined;
    const row = this.row;
    row[0] = first ?? NaN;
    for (let f = 1; f < this.nf; f++) {
      const v = this.held[f]!;
      const stale = this.cfg.maxHold !== undefined && ts - this.heldTs[f]! > this.cfg.maxHold;
      if (Number.isNaN(v) || stale) bad = true;
      row[f] = v;
    }
    if (sum) sum.push(row);
    else for (let f = 0; f < this.nf; f++) this.rows[at + f] = this.rows[twin + f] = row[f]!;
    // (the row this one overwrites leaves the window: into the baseline, if it was good)
    if (this.filled === this.cfg.window && this.rowBad[this.head]) this.badInRing--;
    this.rowBad[this.head] = bad ? 1 : 0;
    if (bad) this.badInRing++;
    this.head = (this.head + 1) % this.cfg.window;
    if (this.filled < this.cfg.window) this.filled++;
  }

  private emit(ts: number, now: number): Window {
    // the ring is full: the oldest row sits at head, and its twin copy makes the window contiguous
    const data = this.buffers.take();
    let k: number;
    if (this.summary) {
      this.summary.write(data, 0);
      k = SUMMARY_STATS * this.nf;
    } else {
      const from = this.head * this.nf;
      data.set(this.rows.subarray(from, from + this.size), 0);
      k = this.size;
    }
    if (this.cfg.calendar) {
      const [hour, weekday] = calendarOf(ts, this.cfg.calendar.utcOffset);
      data[k++] = hour;
      data[k++] = weekday;
    }
    if (this.cfg.baseline) {
      for (let f = 0; f < this.nf; f++) data[k++] = this.baseSum[f]!;
      data[k] = this.baseWeight;
    }
    this.counts.windows++;
    return { data, ts, assembledAt: now };
  }
}
