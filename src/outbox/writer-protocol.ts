/** Messages between the outbox (main thread) and its writer thread (writer-worker.ts). */

export interface WriterInit {
  path: string;
  synchronous: 'normal' | 'full';
  maxBytes: number;
  whenFull: 'block' | 'drop-oldest';
  maxAge?: number;
  /** bytes kept free on the filesystem: below that, new rows wait (0: no check) */
  diskReserve: number;
}

/** The limits the writer thread applies; a reload may change them while it runs (`configure`). */
export type WriterLimits = Pick<WriterInit, 'maxBytes' | 'whenFull' | 'maxAge'>;

/** Values per row in `CommitRequest.rows`, in column order after seq. */
export const ROW_WIDTH = 10;

/**
 * One group commit. `rows` is flat (ROW_WIDTH values a row: kind, source, tag, ts, vtype, quality,
 * value, reason, extra, n): a flat array of primitives is the cheapest thing to post to a thread;
 * a batch row's values are an ArrayBuffer, transferred, not copied. A row holds n records: the
 * new rows' records get seq `first`, `first + 1`, ... and a row's key is its last record's seq
 * (the main thread assigns them: it is the only writer).
 */
export interface CommitRequest {
  t: 'commit';
  first: number;
  rows: (string | number | ArrayBuffer | null)[];
  /** records in `rows` (the sum of their n) */
  records: number;
  /** tag lists new rows refer to that may not be in the file yet: [id, JSON], inserted if absent */
  tagsets: [number, string][];
  /** cursor positions to persist in the same transaction */
  cursors: [string, number][];
  /** every sink confirmed up to here, durably (0 with no sinks: nothing is confirmed) */
  minAcked: number;
  /** persist `cursors`, delete confirmed rows, add a commit-time mark (at most once per housekeepingInterval) */
  housekeeping: boolean;
  /** run a PASSIVE WAL checkpoint after the commit */
  checkpoint: boolean;
}

/** New limits, applied from the next commit on (no reply: messages are handled in order). */
export type ConfigureRequest = { t: 'configure' } & WriterLimits;

export type ToWriter = CommitRequest | ConfigureRequest | { t: 'close' };

/** The log's shape after a commit (the writer thread is the only one that deletes). */
export interface LogState {
  lastSeq: number;
  firstSeq: number;
  rows: number;
  usedBytes: number;
}

/**
 * A commit failed for lack of space (SQLITE_FULL): the thread then ran a delete-only transaction
 * (cursor positions, rows every sink confirmed) and a checkpoint, so the pages freed are reused by
 * the next insert. `state` is the log after that (absent if it failed too).
 */
export interface DiskFullHeal {
  cursorsSaved: boolean;
  deleted: number;
  state?: LogState;
  error?: string;
}

export type FromWriter =
  | ({ t: 'ready' } & LogState)
  | ({ t: 'committed'; ok: true; ms: number; droppedFull: number; droppedExpired: number; moreConfirmed: boolean; warning?: string; checkpoint?: { ms: number; error?: string } } & LogState)
  | { t: 'committed'; ok: false; error: string; diskFull?: DiskFullHeal }
  | { t: 'closed'; error?: string }
  | { t: 'fatal'; error: string };
