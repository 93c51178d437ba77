import { ColumnarBatch, type SampleBatch } from '../core/sample.ts';
import { type OutboxRecord, sampleRecord } from './records.ts';

/**
 * One write as the tail keeps it: a sample batch stays the batch (its records are made when a sink
 * reads them), predictions and events are kept as records (rare, small).
 */
export type TailWrite = { n: number; batch: SampleBatch; recs?: undefined } | { n: number; batch?: undefined; recs: OutboxRecord[] };

interface Segment {
  /** seq of the write's first record */
  first: number;
  w: TailWrite;
}

/**
 * The newest committed records, in memory, in seq order with no gaps. A sink that keeps up reads
 * from here instead of SELECTing and decoding rows it was handed a moment ago (that read was
 * about a third of the main thread's time end to end); one that fell behind reads from the file.
 * Bounded: records every cursor confirmed, deleted rows, and the oldest past `capacity` go.
 *
 * Kept per write, not per record: a poll waits here as its one batch, and the record objects (with
 * their id strings) are made by `read`, just before a sink encodes them. Objects that live from a
 * commit to a sink's read outlive the young generation's collections when it is small
 * (--max-semi-space-size=2) and were copied into the old generation per sample.
 */
export class Tail {
  private segs: Segment[] = [];
  /** index of the first live segment in `segs` (dropped ones are cut off in bulk) */
  private head = 0;
  /** seq of the first record held; with none, the seq the next append starts at */
  private first: number;
  /** records held */
  private count = 0;

  constructor(private readonly capacity: number, nextSeq: number) {
    this.first = nextSeq;
  }

  /** Committed writes whose records take the seqs `first`, `first + 1`, ... */
  append(first: number, writes: readonly TailWrite[]): void {
    if (first !== this.end) this.clear(first);
    let seq = first;
    for (const w of writes) {
      if (w.n === 0) continue;
      this.segs.push({ first: seq, w });
      seq += w.n;
      this.count += w.n;
    }
    if (this.count > this.capacity) this.trimThrough(this.end - this.capacity - 1);
  }

  /** the seq after the newest record held */
  get end(): number {
    return this.first + this.count;
  }

  /** Forgets records with seq <= `seq` (every sink read them, or they were deleted). */
  trimThrough(seq: number): void {
    if (seq < this.first) return;
    if (seq >= this.end - 1) {
      this.clear(Math.max(seq + 1, this.end));
      return;
    }
    const segs = this.segs;
    let h = this.head;
    while (segs[h]!.first + segs[h]!.w.n - 1 <= seq) h++;
    this.head = h;
    this.count -= seq + 1 - this.first;
    this.first = seq + 1;
    // cut the dropped segments off once they are half the array (amortised O(1) per write)
    if (h > 64 && h * 2 > segs.length) {
      this.segs = segs.slice(h);
      this.head = 0;
    }
  }

  /**
   * Up to `limit` records after `afterSeq` (ids `prefix + seq`), or undefined when the tail does
   * not reach back that far.
   */
  read(afterSeq: number, limit: number, prefix: string): OutboxRecord[] | undefined {
    if (afterSeq + 1 < this.first) return undefined;
    const out: OutboxRecord[] = [];
    const from = afterSeq + 1;
    if (from >= this.end || limit <= 0) return out;
    const segs = this.segs;
    // the segment holding `from`: sinks read near the front, so a short scan (binary search when long)
    let i = this.find(from);
    for (; i < segs.length && out.length < limit; i++) {
      const { first, w } = segs[i]!;
      const j0 = Math.max(0, from - first);
      const j1 = Math.min(w.n, j0 + limit - out.length);
      const b = w.batch;
      if (b instanceof ColumnarBatch) {
        // the sample objects are made here, just before a sink encodes them
        for (let j = j0; j < j1; j++) out.push(sampleRecord(b.sampleAt(j), first + j, prefix));
      } else if (b !== undefined) {
        const samples = b.samples;
        for (let j = j0; j < j1; j++) out.push(sampleRecord(samples[j]!, first + j, prefix));
      } else for (let j = j0; j < j1; j++) out.push(w.recs[j]!);
    }
    return out;
  }

  /** index of the segment that holds `seq` (which must be held) */
  private find(seq: number): number {
    const segs = this.segs;
    let lo = this.head;
    let hi = segs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (segs[mid]!.first <= seq) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private clear(nextSeq: number): void {
    this.segs = [];
    this.head = 0;
    this.count = 0;
    this.first = nextSeq;
  }
}
