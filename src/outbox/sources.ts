/**
 * Which source every seq belongs to, so that whatever moves over a range of seqs (a sink's
 * confirmation, a skip for lag, the outbox's own drops) can be split by source exactly.
 *
 * Kept as runs of consecutive seqs of one source (a batch row is one run, or part of one when the
 * next row has the same source), in typed arrays: 10 bytes a run, from the slowest cursor (or the
 * file's first row) to the newest record. Source names get small ids; past MAX_SOURCES distinct
 * names (sources are configured ids: this never happens in a sane config) the rest count as
 * `other`, so the metrics' label cardinality stays bounded.
 */

/** records whose source is gone: deleted before this start while a cursor still stood below them */
export const UNKNOWN_SOURCE = 'unknown';
/** the label for every source name past MAX_SOURCES */
export const OTHER_SOURCE = 'other';
export const MAX_SOURCES = 1_000;

export class SourceRuns {
  private readonly names: string[] = [];
  private readonly ids = new Map<string, number>();
  /** run i covers (ends[i-1], ends[i]] (run head-1's end is `base`) */
  private ends = new Float64Array(1024);
  private srcs = new Uint16Array(1024);
  private head = 0;
  private len = 0;
  private base: number;

  constructor(base: number) {
    this.base = base;
  }

  /** The id of a source name (ids are dense from 0; `names[id]` gives it back). */
  id(source: string): number {
    let id = this.ids.get(source);
    if (id !== undefined) return id;
    if (this.names.length >= MAX_SOURCES) return this.id(OTHER_SOURCE);
    id = this.names.length;
    this.names.push(source);
    this.ids.set(source, id);
    return id;
  }

  name(id: number): string {
    return this.names[id] ?? UNKNOWN_SOURCE;
  }

  /** the last seq covered */
  get end(): number {
    return this.len > this.head ? this.ends[this.len - 1]! : this.base;
  }

  /** every distinct source seen so far (for the metrics' series) */
  get sourceCount(): number {
    return this.names.length;
  }

  /** The seqs (end, last] are `source`'s. A gap before `last - n` would be a bug upstream: it is filled as unknown. */
  append(last: number, n: number, source: number): void {
    const from = last - n;
    if (from > this.end) this.push(from, this.id(UNKNOWN_SOURCE));
    if (last <= this.end) return;
    if (this.len > this.head && this.srcs[this.len - 1] === source) this.ends[this.len - 1] = last;
    else this.push(last, source);
  }

  private push(end: number, source: number): void {
    if (this.len === this.ends.length) {
      if (this.head > 0) {
        // room at the front: move down instead of growing
        this.ends.copyWithin(0, this.head, this.len);
        this.srcs.copyWithin(0, this.head, this.len);
        this.len -= this.head;
        this.head = 0;
      }
      if (this.len * 4 > this.ends.length * 3) {
        const ends = new Float64Array(this.ends.length * 2);
        const srcs = new Uint16Array(this.srcs.length * 2);
        ends.set(this.ends.subarray(0, this.len));
        srcs.set(this.srcs.subarray(0, this.len));
        this.ends = ends;
        this.srcs = srcs;
      }
    }
    this.ends[this.len] = end;
    this.srcs[this.len++] = source;
  }

  /** Calls `each(sourceId, count)` for the seqs (from, to], run by run, in order. */
  split(from: number, to: number, each: (source: number, n: number) => void): void {
    if (to <= from) return;
    let i = this.firstEndAbove(from);
    let at = Math.max(from, i > this.head ? this.ends[i - 1]! : this.base);
    if (from < this.base) {
      // below what is kept: cannot happen while runs are pruned below the slowest cursor only
      each(this.id(UNKNOWN_SOURCE), Math.min(to, this.base) - from);
      at = this.base;
    }
    for (; i < this.len && at < to; i++) {
      const upTo = Math.min(this.ends[i]!, to);
      if (upTo > at) each(this.srcs[i]!, upTo - at);
      at = upTo;
    }
  }

  /** Counts by source name of the seqs (from, to]. */
  count(from: number, to: number, into: Map<string, number> = new Map()): Map<string, number> {
    this.split(from, to, (s, n) => into.set(this.name(s), (into.get(this.name(s)) ?? 0) + n));
    return into;
  }

  /** Forgets the seqs at or below `seq` (nothing will ask about them again). */
  pruneThrough(seq: number): void {
    while (this.head < this.len && this.ends[this.head]! <= seq) this.base = this.ends[this.head++]!;
    if (this.head === this.len) {
      this.head = 0;
      this.len = 0;
    }
  }

  /** runs held (for tests and the README's memory figure) */
  get size(): number {
    return this.len - this.head;
  }

  /** the first run whose end is above `seq` (binary search) */
  private firstEndAbove(seq: number): number {
    let lo = this.head;
    let hi = this.len;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ends[mid]! > seq) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
