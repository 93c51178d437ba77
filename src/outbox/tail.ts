import type { OutboxRecord } from './records.ts';

/**
 * The newest committed records, in memory, in seq order with no gaps. A sink that keeps up reads
 * from here instead of SELECTing and decoding rows it was handed a moment ago (that read was
 * about a third of the main thread's time end to end); one that fell behind reads from the file.
 * Bounded: records every cursor confirmed, deleted rows, and the oldest past `capacity` go.
 */
export class Tail {
  private recs: OutboxRecord[] = [];
  /** seq of recs[0]; with no records, the seq the next append starts at */
  private first: number;

  constructor(private readonly capacity: number, nextSeq: number) {
    this.first = nextSeq;
  }

  /** Committed records with seq `first`, `first + 1`, ... */
  append(first: number, recs: OutboxRecord[]): void {
    if (first !== this.first + this.recs.length) {
      this.recs = [];
      this.first = first;
    }
    for (const r of recs) this.recs.push(r);
    if (this.recs.length > this.capacity) this.dropFront(this.recs.length - this.capacity);
  }

  /** the seq after the newest record held */
  get end(): number {
    return this.first + this.recs.length;
  }

  /** Forgets records with seq <= `seq` (every sink read them, or they were deleted). */
  trimThrough(seq: number): void {
    if (seq < this.first) return;
    if (seq >= this.end) {
      this.recs = [];
      this.first = seq + 1;
    } else this.dropFront(seq - this.first + 1);
  }

  /** Up to `limit` records after `afterSeq`, or undefined when the tail does not reach back that far. */
  read(afterSeq: number, limit: number): OutboxRecord[] | undefined {
    const i = afterSeq + 1 - this.first;
    if (i < 0) return undefined;
    return this.recs.slice(i, i + limit);
  }

  private dropFront(n: number): void {
    if (n <= 0) return;
    this.recs.splice(0, n);
    this.first += n;
  }
}
