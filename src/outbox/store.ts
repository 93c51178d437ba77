import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { errorMessage } from '../core/errors.ts';

export type Db = Database.Database;

/**
 * The outbox file layout. `records` is the log (seq is assigned by us, never reused: `meta.lastSeq`
 * survives deletes); `cursors` holds each sink's last confirmed seq; `commits` has one row per group
 * commit (last seq, time) so `maxAge` can find old rows without a timestamp per row.
 * A row holds `n` records with the seqs `seq - n + 1 .. seq` (a sample batch, records.ts
 * KIND_BATCH; predictions and events have n = 1); `tagsets` holds each batch shape's tag list once.
 * Files from before batch rows get the `n` column (every old row is one record).
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
  seq INTEGER PRIMARY KEY,
  kind INTEGER NOT NULL,
  source TEXT NOT NULL,
  tag TEXT NOT NULL,
  ts REAL NOT NULL,
  vtype INTEGER NOT NULL,
  quality INTEGER NOT NULL,
  value,
  reason TEXT,
  extra TEXT,
  n INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS tagsets (id INTEGER PRIMARY KEY, tags TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (sink TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS commits (last_seq INTEGER PRIMARY KEY, at INTEGER NOT NULL);
`;

/**
 * Pages of a new file: SQLite's smallest. Every commit rewrites a few pages whatever its size (the
 * log's last leaf, its interior pages, the file header, the freelist trunk) and deleting from the
 * log's start rebalances its first leaves: at 4 KB those were most of the bytes written per tag
 * (README "Disk bytes"). Measured at 50k tags/s (bench:outbox, paced): 4 KB 16.0, 1 KB 10.1,
 * 512 B 7.3 bytes written per tag with 50-tag rows; 8.1 / 6.2 / 5.6 with 500-tag rows (overflow
 * pages). A 50-tag batch row (~240 B) still fits two to a page.
 */
export const PAGE_SIZE = 512;

export interface OpenedStore {
  db: Db;
  epoch: string;
  /** set when the previous file failed its integrity check and was moved to this path */
  movedAside?: { path: string; reason: string };
}

/** Opens (or creates) the outbox file, checking it first; a corrupt file is renamed, never deleted. */
export function openStore(path: string, synchronous: 'normal' | 'full', now = Date.now()): OpenedStore {
  mkdirSync(dirname(path), { recursive: true });
  let movedAside: OpenedStore['movedAside'];
  let db: Db | undefined;
  try {
    db = openChecked(path, synchronous);
  } catch (e) {
    if (!isCorruption(e)) throw e;
    const aside = `${path}.corrupt-${new Date(now).toISOString().replace(/[:.]/g, '-')}`;
    for (const suffix of ['', '-wal', '-shm']) {
      if (existsSync(path + suffix)) renameSync(path + suffix, aside + suffix);
    }
    movedAside = { path: aside, reason: errorMessage(e) };
    db = openChecked(path, synchronous);
  }
  let epoch = db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'epoch'").get()?.value;
  if (epoch === undefined) {
    // a new file is a new epoch: record ids stay unique even though seq starts again at 1
    epoch = now.toString(36);
    db.prepare("INSERT INTO meta (key, value) VALUES ('epoch', ?), ('lastSeq', 0)").run(epoch);
  }
  return { db, epoch: String(epoch), movedAside };
}

function openChecked(path: string, synchronous: 'normal' | 'full'): Db {
  const db = new Database(path);
  try {
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new CorruptError(`quick_check: ${String(check)}`);
    // a new file only (an existing one keeps its page size; WAL mode cannot change it): before WAL
    // mode is set, which writes the header
    db.pragma(`page_size = ${PAGE_SIZE}`);
    db.pragma('journal_mode = WAL');
    configure(db, synchronous);
    db.exec(SCHEMA);
    const cols = db.prepare<[], { name: string }>('PRAGMA table_info(records)').all();
    if (!cols.some((c) => c.name === 'n')) db.exec('ALTER TABLE records ADD COLUMN n INTEGER NOT NULL DEFAULT 1');
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

/** Per-connection settings, for every connection that writes. */
function configure(db: Db, synchronous: 'normal' | 'full'): void {
  db.pragma(`synchronous = ${synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
  // checkpoints are ours (between commits on the writer thread, writer-worker.ts): no 10-30 ms auto-checkpoint inside a commit
  db.pragma('wal_autocheckpoint = 0');
  // after a checkpoint resets the WAL, truncate it back to this size (flash: keep the file small)
  db.pragma('journal_size_limit = 67108864');
  db.pragma('cache_size = -16000');
}

/** The writer thread's connection to a file `openStore` already checked and set up. */
export function openWriter(path: string, synchronous: 'normal' | 'full'): Db {
  const db = new Database(path);
  try {
    db.pragma('busy_timeout = 5000');
    configure(db, synchronous);
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

class CorruptError extends Error {}

/** Only a damaged file is moved aside; a permission or disk error is reported as it is. */
function isCorruption(e: unknown): boolean {
  if (e instanceof CorruptError) return true;
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB');
}
