import { statSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import type { Statement } from 'better-sqlite3';
import { ROW_WIDTH, type CommitRequest, type DiskFullHeal, type FromWriter, type LogState, type ToWriter, type WriterInit, type WriterLimits } from './writer-protocol.ts';
import { type Db, openWriter } from './store.ts';
import { errorMessage } from '../core/errors.ts';

/**
 * The outbox's writer thread: owns the connection that inserts, persists cursors, deletes
 * confirmed rows, expires and drops. A commit of 1000 rows is 3-5 ms of SQLite work (more with
 * deletes), which on the main thread shared the event loop with the sinks and the broker; here it
 * runs beside it. Commits are serial: the main thread posts the next one when this one is answered.
 */

/** records removed per statement, so one statement never takes long */
const DELETE_CHUNK = 5_000;
/** records removed per housekeeping commit (more follow at once in the next commit: moreConfirmed) */
const DELETE_PER_COMMIT = 50_000;

const init = workerData as WriterInit;
const port = parentPort!;

function post(m: FromWriter): void {
  port.postMessage(m);
}

class Writer {
  lastSeq: number;
  firstSeq: number;
  rows: number;
  usedBytes = 0;
  private readonly pageSize: number;
  private droppedFull = 0;
  private droppedExpired = 0;
  private readonly st: {
    insert: Statement;
    setLastSeq: Statement;
    insertCommit: Statement;
    upsertCursor: Statement;
    deleteUpTo: Statement<[number]>;
    sumUpTo: Statement<[number], { k: number | null; top: number | null }>;
    firstRowEnd: Statement<[], number | null>;
    insertTagset: Statement<[number, string]>;
    deleteCommitsUpTo: Statement;
    expiredSeq: Statement<[number], number | null>;
    pageCount: Statement<[], number>;
    freelist: Statement<[], number>;
  };
  private readonly txn: (req: CommitRequest) => void;

  private readonly walPath: string;
  private readonly dir: string;
  /** free bytes on the filesystem at the last commit's check (undefined: not known) */
  private free?: number;
  /** the newest seq with a row in `commits` (marks are added by housekeeping commits only) */
  private lastMark: number;

  constructor(private readonly db: Db, private cfg: WriterInit) {
    this.walPath = `${cfg.path}-wal`;
    this.dir = dirname(cfg.path);
    // meta.lastSeq is written only when rows are deleted (not with every commit): the newest row,
    // or the newest commit mark, is the last seq whenever it is above it
    this.lastMark = Number(db.prepare('SELECT max(last_seq) FROM commits').pluck().get() ?? 0);
    this.lastSeq = Math.max(
      Number(db.prepare("SELECT value FROM meta WHERE key = 'lastSeq'").pluck().get() ?? 0),
      Number(db.prepare('SELECT max(seq) FROM records').pluck().get() ?? 0),
      this.lastMark,
    );
    this.rows = 0;
    this.firstSeq = 0;
    this.recount();
    this.pageSize = Number(db.pragma('page_size', { simple: true }));
    this.st = {
      insert: db.prepare('INSERT INTO records (seq, kind, source, tag, ts, vtype, quality, value, reason, extra, n) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      setLastSeq: db.prepare("UPDATE meta SET value = ? WHERE key = 'lastSeq'"),
      insertCommit: db.prepare('INSERT OR REPLACE INTO commits (last_seq, at) VALUES (?, ?)'),
      upsertCursor: db.prepare('INSERT INTO cursors (sink, seq) VALUES (?, ?) ON CONFLICT (sink) DO UPDATE SET seq = excluded.seq'),
      deleteUpTo: db.prepare<[number]>('DELETE FROM records WHERE seq <= ?'),
      sumUpTo: db.prepare<[number], { k: number | null; top: number | null }>('SELECT sum(n) AS k, max(seq) AS top FROM records WHERE seq <= ?'),
      firstRowEnd: db.prepare<[], number | null>('SELECT seq FROM records ORDER BY seq LIMIT 1').pluck(),
      insertTagset: db.prepare<[number, string]>('INSERT OR IGNORE INTO tagsets (id, tags) VALUES (?, ?)'),
      deleteCommitsUpTo: db.prepare('DELETE FROM commits WHERE last_seq <= ?'),
      expiredSeq: db.prepare<[number], number | null>('SELECT max(last_seq) FROM commits WHERE at < ?').pluck(),
      pageCount: db.prepare<[], number>('PRAGMA page_count').pluck(),
      freelist: db.prepare<[], number>('PRAGMA freelist_count').pluck(),
    };
    this.measure();
    const insert = this.st.insert;
    this.txn = db.transaction((req: CommitRequest) => {
      const r = req.rows;
      let seq = this.lastSeq;
      if (r.length > 0 && req.first !== seq + 1) throw new Error(`seq out of step: writer at ${seq}, commit starts at ${req.first}`);
      for (const [id, tags] of req.tagsets) this.st.insertTagset.run(id, tags);
      for (let i = 0; i < r.length; i += ROW_WIDTH) {
        const n = r[i + 9] as number;
        seq += n;
        // a batch's values came as a transferred ArrayBuffer: bound as a BLOB without a copy
        const v = r[i + 6];
        insert.run(seq, r[i], r[i + 1], r[i + 2], r[i + 3], r[i + 4], r[i + 5], v instanceof ArrayBuffer ? Buffer.from(v) : v, r[i + 7], r[i + 8], n);
      }
      if (seq !== this.lastSeq) {
        this.rows += seq - this.lastSeq;
        this.lastSeq = seq;
      }
      for (const [sink, at] of req.cursors) this.st.upsertCursor.run(sink, at);
      if (req.housekeeping) {
        // commit times once per housekeeping (maxAge and the age bounds work to that resolution)
        if (this.lastSeq > this.lastMark) {
          this.st.insertCommit.run(this.lastSeq, Date.now());
          this.lastMark = this.lastSeq;
        }
        this.deleteConfirmed(req.minAcked);
      }
      this.expire(req.minAcked);
    });
  }

  /** A reload changed the limits: the next commit expires, drops and measures against these. */
  configure(limits: WriterLimits): void {
    this.cfg = { ...this.cfg, maxBytes: limits.maxBytes, whenFull: limits.whenFull, maxAge: limits.maxAge };
  }

  commit(req: CommitRequest): FromWriter {
    const before = { lastSeq: this.lastSeq, firstSeq: this.firstSeq, rows: this.rows };
    this.droppedFull = 0;
    this.droppedExpired = 0;
    const t0 = performance.now();
    const short = req.rows.length > 0 ? this.shortOfSpace(req.records) : undefined;
    if (short) return { t: 'committed', ok: false, error: short, diskFull: this.heal(req) };
    try {
      this.txn(req);
    } catch (e) {
      // rolled back: so is our view of the log
      Object.assign(this, before);
      const error = errorMessage(e);
      if (isDiskFull(e)) return { t: 'committed', ok: false, error, diskFull: this.heal(req) };
      return { t: 'committed', ok: false, error };
    }
    let warning: string | undefined;
    // a big WAL is checkpointed at once: what a checkpoint must copy stays within the reserve
    const walFull = !req.checkpoint && this.walBytes() > this.walLimit();
    try {
      this.measure();
      this.dropOldest(req.minAcked);
    } catch (e) {
      // the rows are committed: a failed drop is tried again with the next commit
      warning = `drop-oldest failed: ${errorMessage(e)}`;
    }
    const ms = performance.now() - t0;
    return {
      t: 'committed', ok: true, ms, droppedFull: this.droppedFull, droppedExpired: this.droppedExpired,
      moreConfirmed: this.rowEnd() <= req.minAcked, warning, checkpoint: req.checkpoint || walFull ? this.checkpoint() : undefined, ...this.state(),
    };
  }

  /**
   * The disk is full: new rows cannot go in, but deleting what every sink confirmed needs almost no
   * new space (a few pages in the WAL, which a checkpoint gives back for reuse). Frees pages inside
   * the file for the next insert, so draining to a live upstream heals the outbox by itself.
   */
  private heal(req: CommitRequest): DiskFullHeal {
    let cursorsSaved = false;
    let deleted = 0;
    let error: string | undefined;
    try {
      // the WAL first: a checkpoint lets the next transaction reuse its space instead of growing it
      this.db.pragma('wal_checkpoint(PASSIVE)');
    } catch { /* retried below */ }
    try {
      this.db.transaction(() => {
        for (const [sink, at] of req.cursors) this.st.upsertCursor.run(sink, at);
      })();
      cursorsSaved = true;
      while (this.firstSeq <= req.minAcked) {
        const before = this.firstSeq;
        const n = this.db.transaction(() => this.deleteThrough(req.minAcked, DELETE_CHUNK))();
        deleted += n;
        if (this.firstSeq === before) break;
      }
      this.db.pragma('wal_checkpoint(PASSIVE)');
    } catch (e) {
      error = errorMessage(e);
      // a failed delete transaction rolled back: count the rows again
      this.recount();
    }
    let state: LogState | undefined;
    try {
      this.measure();
      state = this.state();
    } catch { /* nothing to report */ }
    return { cursorsSaved, deleted, state, error };
  }

  /**
   * Copies the WAL back into the file, between two commits on this thread: nothing writes
   * meanwhile, so it completes and the next commit starts the WAL over (the file stops growing).
   * SQLite's auto-checkpoint is off: it would run inside a commit.
   */
  private checkpoint(): { ms: number; error?: string } {
    const t0 = performance.now();
    try {
      this.db.pragma('wal_checkpoint(PASSIVE)');
      return { ms: performance.now() - t0 };
    } catch (e) {
      return { ms: performance.now() - t0, error: errorMessage(e) };
    }
  }

  /**
   * New rows would eat into the space kept free on the filesystem (diskReserve): they wait. Rows
   * that fit in the file's free pages (rows deleted since) need no new space and go in.
   */
  private shortOfSpace(rows: number): string | undefined {
    if (this.cfg.diskReserve <= 0) return undefined;
    let free: number;
    try {
      const st = statfsSync(this.dir);
      free = st.bavail * st.bsize;
    } catch {
      this.free = undefined;
      return undefined;
    }
    this.free = free;
    if (free >= this.cfg.diskReserve) return undefined;
    const perRow = this.rows > 0 ? this.usedBytes / this.rows : 200;
    const freePages = this.st.freelist.get()! * this.pageSize;
    if (freePages >= rows * perRow * 2 + 65_536) return undefined;
    return `database or disk is full: ${free} bytes free on the filesystem, below outbox.diskReserve (${this.cfg.diskReserve})`;
  }

  /**
   * How big the WAL may grow before a checkpoint is due early. The WAL and what a checkpoint adds
   * to the file both come out of the free space, so together they stay within half of what is free
   * above diskReserve: with room to spare that is 64 MB (checkpoints come every checkpointInterval,
   * and each copies a page once however often it changed: at 150k tags/s a WAL bound at half a
   * 16 MB reserve checkpointed every ~3 s and tripled the bytes written per tag); near the reserve it
   * shrinks to 256 KB.
   */
  private walLimit(): number {
    const MAX = 64 * 1024 * 1024;
    const MIN = 256 * 1024;
    if (this.cfg.diskReserve <= 0) return MAX;
    if (this.free === undefined) return Math.min(MAX, Math.max(MIN, this.cfg.diskReserve / 2));
    return Math.min(MAX, Math.max(MIN, (this.free - this.cfg.diskReserve) / 2));
  }

  private walBytes(): number {
    try {
      return statSync(this.walPath).size;
    } catch {
      return 0;
    }
  }

  state(): LogState {
    return { lastSeq: this.lastSeq, firstSeq: this.firstSeq, rows: this.rows, usedBytes: this.usedBytes };
  }

  /** Records held and the first one's seq, from the file (a row holds n records ending at its seq). */
  private recount(): void {
    const b = this.db.prepare<[], { k: number | null; lo: number | null }>('SELECT sum(n) AS k, (SELECT seq - n + 1 FROM records ORDER BY seq LIMIT 1) AS lo FROM records').get()!;
    this.rows = b.k ?? 0;
    this.firstSeq = b.lo ?? this.lastSeq + 1;
  }

  /** The last seq of the first row (Infinity with no rows): a row goes only as a whole. */
  private rowEnd(): number {
    return this.st.firstRowEnd.get() ?? Infinity;
  }

  /**
   * Deletes the rows whose records all lie in [firstSeq, upTo] (a row reaching past upTo stays
   * whole); returns how many records went. `oneChunk`: about DELETE_CHUNK records at most.
   */
  private deleteThrough(upTo: number, limit = Infinity): number {
    let n = 0;
    while (n < limit) {
      const end = this.rowEnd();
      if (end > upTo) break;
      const hi = Math.max(end, Math.min(upTo, this.firstSeq + DELETE_CHUNK - 1));
      const { k, top } = this.st.sumUpTo.get(hi)!;
      this.st.deleteUpTo.run(hi);
      n += k ?? 0;
      this.firstSeq = (top ?? hi) + 1;
    }
    if (this.rowEnd() === Infinity) this.firstSeq = this.lastSeq + 1;
    if (n > 0) {
      // the newest mark stays (it keeps lastSeq when every row is gone), and so does meta.lastSeq
      this.st.deleteCommitsUpTo.run(Math.min(this.firstSeq - 1, this.lastMark - 1));
      this.st.setLastSeq.run(this.lastSeq);
      this.rows -= n;
    }
    return n;
  }

  private deleteConfirmed(minAcked: number): void {
    // bounded per commit keeps commit times flat while a big backlog is confirmed
    if (minAcked >= this.firstSeq) this.deleteThrough(minAcked, DELETE_PER_COMMIT);
  }

  private expire(minAcked: number): void {
    if (this.cfg.maxAge === undefined) return;
    const bound = this.st.expiredSeq.get(Date.now() - this.cfg.maxAge);
    if (bound === null || bound === undefined || bound < this.firstSeq) return;
    const confirmed = Math.min(minAcked, bound);
    if (confirmed >= this.firstSeq) this.deleteThrough(confirmed);
    this.droppedExpired += this.deleteThrough(bound);
  }

  private measure(): void {
    this.usedBytes = (this.st.pageCount.get()! - this.st.freelist.get()!) * this.pageSize;
  }

  /** Over the bound under drop-oldest: delete the oldest (confirmed ones first, those are no drop). */
  private dropOldest(minAcked: number): void {
    const max = this.cfg.maxBytes;
    if (this.cfg.whenFull !== 'drop-oldest') return;
    for (let i = 0; i < 8 && this.usedBytes >= max && this.rows > 0; i++) {
      const perRow = Math.max(1, this.usedBytes / Math.max(1, this.rows));
      const n = Math.max(1, Math.ceil((this.usedBytes - max * 0.9) / perRow));
      // rows go whole: through the end of the row that holds the n-th record
      const upTo = Math.max(this.rowEnd(), Math.min(this.lastSeq, this.firstSeq + n - 1));
      if (upTo === Infinity) break;
      const confirmed = Math.min(minAcked, upTo);
      this.droppedFull += this.db.transaction(() => {
        if (confirmed >= this.firstSeq) this.deleteThrough(confirmed);
        return this.deleteThrough(upTo);
      })();
      this.measure();
    }
  }
}

/** SQLITE_FULL (and its extended codes), or the OS saying so (ENOSPC surfaces as an I/O error) */
function isDiskFull(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && (code.startsWith('SQLITE_FULL') || code === 'ENOSPC')) return true;
  return e instanceof Error && /database or disk is full|no space left/i.test(e.message);
}

let db: Db | undefined;
let writer: Writer | undefined;
try {
  db = openWriter(init.path, init.synchronous);
  writer = new Writer(db, init);
  post({ t: 'ready', ...writer.state() });
} catch (e) {
  db?.close();
  db = undefined;
  post({ t: 'fatal', error: errorMessage(e) });
}

port.on('message', (m: ToWriter) => {
  if (m.t === 'commit') {
    post(writer ? writer.commit(m) : { t: 'committed', ok: false, error: 'the outbox writer is not open' });
    return;
  }
  if (m.t === 'configure') {
    writer?.configure(m);
    return;
  }
  // close: a final TRUNCATE checkpoint leaves a small WAL behind; then the thread ends by itself
  let error: string | undefined;
  try {
    db?.pragma('wal_checkpoint(TRUNCATE)');
  } catch (e) {
    error = errorMessage(e);
  }
  try {
    db?.close();
  } catch { /* closing twice or a closed handle: nothing left to release */ }
  db = undefined;
  writer = undefined;
  post({ t: 'closed', error });
  port.close();
});
