/**
 * How far one sink may fall behind (its `maxLag` and `whenBehind`), and the bookkeeping the outbox
 * needs to apply it: when records were committed (for the age bound) and why rows below the
 * log's start are gone (so a sink that skips them counts them under the right reason).
 */
export interface LagBound {
  records?: number;
  bytes?: number;
  age?: number;
  whenBehind: 'drop-oldest' | 'block';
}

/** Why a sink never got some records: `lag` is its own bound; the others are the outbox's. */
export type SkipReason = 'lag' | 'outbox-full' | 'outbox-expired';

/** a drop-oldest bound drops down to this share of itself, so it does not drop again every commit */
export const LAG_HYSTERESIS = 0.9;
/** a sink's byte bound never exceeds this share of outbox.maxBytes: one dead sink never fills the outbox for the others */
export const LAG_BYTES_SHARE = 0.8;

/**
 * Commit times, one mark a second (the last seq committed in that second and its time), so the age
 * bound finds "every record older than X" without a query. Pruned below the slowest cursor.
 */
export class CommitMarks {
  private seqs: number[] = [];
  private ats: number[] = [];
  /** time of the first commit each mark covers */
  private firsts: number[] = [];
  private head = 0;
  /** the last seq of the mark before seqs[0] (kept when old marks are cut off), for estimates */
  private before?: number;

  add(lastSeq: number, at: number): void {
    const n = this.seqs.length;
    // measured from the mark's FIRST commit: from its last, commits less than a second apart
    // (every 50 ms under load) extended one mark forever and every lag read as "since the start"
    if (n > this.head && at - this.firsts[n - 1]! < 1_000) {
      // same second: the mark moves on (its time is that of the newest commit it covers)
      this.seqs[n - 1] = lastSeq;
      this.ats[n - 1] = at;
      return;
    }
    this.seqs.push(lastSeq);
    this.ats.push(at);
    this.firsts.push(at);
  }

  /** When the record `seq` was committed, at the earliest (its mark's first commit), or undefined if no mark holds it. */
  committedAt(seq: number): number | undefined {
    let lo = this.head;
    let hi = this.seqs.length - 1;
    let found: number | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.seqs[mid]! >= seq) {
        found = this.firsts[mid];
        hi = mid - 1;
      } else lo = mid + 1;
    }
    return found;
  }

  /**
   * When the record `seq` was committed, interpolated inside its mark by seq (exact at the mark's
   * ends, close under steady ingestion; `committedAt` can be up to a second early), or undefined.
   */
  estimateCommittedAt(seq: number): number | undefined {
    let lo = this.head;
    let hi = this.seqs.length - 1;
    let i = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.seqs[mid]! >= seq) {
        i = mid;
        hi = mid - 1;
      } else lo = mid + 1;
    }
    if (i < 0) return undefined;
    // the mark before may be pruned already (the head moved past it): its seq is still there
    const from = i > 0 ? this.seqs[i - 1]! : this.before;
    const first = this.firsts[i]!;
    const last = this.ats[i]!;
    if (from === undefined || this.seqs[i]! <= from + 1) return first;
    return first + ((seq - from - 1) / (this.seqs[i]! - from - 1)) * (last - first);
  }

  /** The newest seq committed before `cutoff` (every record up to it is older), or 0. */
  seqBefore(cutoff: number): number {
    let lo = this.head;
    let hi = this.ats.length - 1;
    let found = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.ats[mid]! < cutoff) {
        found = this.seqs[mid]!;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** Forgets marks at or below `seq` (no cursor will ask about them again). */
  pruneThrough(seq: number): void {
    while (this.head < this.seqs.length - 1 && this.seqs[this.head]! <= seq) this.head++;
    if (this.head > 1024 && this.head * 2 > this.seqs.length) {
      this.before = this.seqs[this.head - 1];
      this.seqs = this.seqs.slice(this.head);
      this.ats = this.ats.slice(this.head);
      this.firsts = this.firsts.slice(this.head);
      this.head = 0;
    }
  }

  get size(): number {
    return this.seqs.length - this.head;
  }
}

/**
 * Ranges of seqs the outbox deleted before every sink confirmed them (drop-oldest on maxBytes,
 * maxAge), in order: range i covers (through[i-1], through[i]].
 */
export class GlobalDrops {
  private list: { through: number; reason: SkipReason }[] = [];

  add(through: number, reason: SkipReason): void {
    const last = this.list[this.list.length - 1];
    if (last && last.reason === reason) last.through = Math.max(last.through, through);
    else if (!last || through > last.through) this.list.push({ through, reason });
  }

  /** Splits the seqs (from, to] by the reason they were dropped for; seqs above every range count as `fallback`. */
  attribute(from: number, to: number, fallback: SkipReason): [SkipReason, number][] {
    const out: [SkipReason, number][] = [];
    let at = from;
    for (const r of this.list) {
      if (at >= to) break;
      if (r.through <= at) continue;
      const upTo = Math.min(r.through, to);
      out.push([r.reason, upTo - at]);
      at = upTo;
    }
    if (at < to) out.push([fallback, to - at]);
    return out;
  }

  pruneThrough(seq: number): void {
    while (this.list.length > 0 && this.list[0]!.through <= seq) this.list.shift();
  }
}
