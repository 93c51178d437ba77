/** Messages between the outbox (main thread) and its reader thread (reader-worker.ts). */

/** The rows with records after `afterSeq` (a batch row may begin before it), committed up to `upTo`. */
export const READ_SQL = 'SELECT seq, kind, source, tag, ts, vtype, quality, value, reason, extra, n FROM records WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?';

export interface ReaderInit {
  path: string;
}

export type ToReader = { t: 'read'; id: number; after: number; upTo: number; limit: number } | { t: 'close' };

export type FromReader =
  | { t: 'ready' }
  | { t: 'fatal'; error: string }
  | { t: 'rows'; id: number; rows?: unknown[][]; error?: string };
