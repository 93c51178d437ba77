import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Statement } from 'better-sqlite3';
import { FgError, errorMessage } from '../core/errors.ts';
import type { StageMetrics } from '../core/metrics.ts';
import type { ProbeResult } from '../core/probe.ts';
import type { GatewayEvent, Prediction, SampleBatch } from '../core/sample.ts';
import type { OutboxWriter, Stage, StageContext } from '../pipeline/contracts.ts';
import { Checkpointer } from './checkpointer.ts';
import type { OutboxConfig } from './config.ts';
import { gauge } from './gauges.ts';
import {
  KIND_EVENT, KIND_PREDICTION, KIND_SAMPLE, type OutboxRecord, type RecordTuple,
  decodeTuple, eventRecord, predictionRecord, qualityCode, sampleRecord, valueColumn, valueType,
} from './records.ts';
import { type Db, openStore } from './store.ts';
import { Tail } from './tail.ts';
import { type CommitReply, WriterThread } from './writer.ts';
import type { CommitRequest } from './writer-protocol.ts';

/** A sink's position in the log. Rows are deleted once every cursor has acknowledged them. */
export interface OutboxCursor {
  readonly sink: string;
  /** the last seq the upstream confirmed */
  readonly acked: number;
  /** committed records with seq > afterSeq, in order (at most `limit`) */
  read(afterSeq: number, limit: number): OutboxRecord[];
  /** the upstream confirmed every record up to and including `seq` (persisted with the next commit) */
  ack(seq: number): void;
  /** records committed after the acked position */
  backlog(): number;
  /** resolves once a record with seq > afterSeq is committed (or the outbox stops) */
  waitFor(afterSeq: number, signal: AbortSignal): Promise<void>;
}

export interface OutboxStats {
  file: string;
  /** size of the main database file (the WAL comes on top until checkpointed) */
  fileBytes: number;
  epoch: string;
  rows: number;
  firstSeq: number;
  lastSeq: number;
  commits: number;
  /** rows accepted (committed) since start */
  accepted: number;
  dropped: { full: number; expired: number };
  usedBytes: number;
  maxBytes: number;
  full: boolean;
  /** writes waiting because the outbox is full under `block` */
  blockedWrites: number;
  lastCommitMs: number;
  maxCommitMs: number;
  checkpoints: number;
  maxCheckpointMs: number;
  movedAside?: string;
}

/** The outbox as the pipeline and the sinks see it. */
export interface Outbox extends Stage, OutboxWriter {
  readonly kind: 'outbox';
  /** the cursor of one sink (created on first use, kept in the file) */
  cursor(sink: string): OutboxCursor;
  /** `<gateway>:<epoch>:` — a record's id is this prefix and its seq */
  readonly idPrefix: string;
  stats(): OutboxStats;
}

type Item =
  | { k: typeof KIND_SAMPLE; batch: SampleBatch }
  | { k: typeof KIND_PREDICTION; list: Prediction[] }
  | { k: typeof KIND_EVENT; list: GatewayEvent[] };

interface PendingWrite {
  item: Item;
  rows: number;
  resolve: () => void;
  reject: (e: unknown) => void;
}

interface Waiter {
  after: number;
  resolve: () => void;
}

/** rows removed per statement, so one delete never holds the loop for long */
const DELETE_CHUNK = 20_000;

class CursorImpl implements OutboxCursor {
  acked: number;
  persisted: number;
  constructor(readonly sink: string, private readonly box: OutboxImpl, start: number) {
    this.acked = start;
    this.persisted = start;
  }
  read(afterSeq: number, limit: number): OutboxRecord[] {
    return this.box.read(afterSeq, limit);
  }
  ack(seq: number): void {
    if (seq <= this.acked) return;
    this.acked = Math.min(seq, this.box.lastSeq);
    this.box.onAck();
  }
  backlog(): number {
    return this.box.countAfter(this.acked);
  }
  waitFor(afterSeq: number, signal: AbortSignal): Promise<void> {
    return this.box.waitFor(afterSeq, signal);
  }
}

export class OutboxImpl implements Outbox {
  readonly kind = 'outbox' as const;
  readonly name = 'outbox';
  private readonly file: string;
  private readonly sm: StageMetrics;
  private db?: Db;
  private epoch = '';
  idPrefix = '';
  private state: 'idle' | 'running' | 'stopping' | 'stopped' | 'failed' = 'idle';
  private failure?: string;
  private movedAside?: string;

  lastSeq = 0;
  private firstSeq = 1;
  private rows = 0;
  private commits = 0;
  private accepted = 0;
  private droppedFull = 0;
  private droppedExpired = 0;
  private droppedSinceLog = 0;
  private lastDropLog = 0;
  private usedBytes = 0;
  private pageSize = 4096;
  private full = false;
  private lastCommitMs = 0;
  private maxCommitMs = 0;

  private pending: PendingWrite[] = [];
  private pendingRows = 0;
  private blocked: PendingWrite[] = [];
  private timer?: NodeJS.Timeout;
  private immediate?: NodeJS.Immediate;
  private waiters = new Set<Waiter>();
  private readonly cursors = new Map<string, CursorImpl>();
  private checkpointer?: Checkpointer;
  private lastCheckpointAt = 0;
  private rowsSinceCheckpoint = 0;

  private st!: {
    insert: Statement;
    read: Statement<[number, number], RecordTuple>;
    setLastSeq: Statement;
    insertCommit: Statement;
    upsertCursor: Statement;
    deleteUpTo: Statement<[number, number]>;
    deleteCommitsUpTo: Statement;
    expiredSeq: Statement<[number], number | null>;
    pageCount: Statement<[], number>;
    freelist: Statement<[], number>;
  };
  private txn!: (items: PendingWrite[]) => number;
  private readonly gRows;
  private readonly gBytes;
  private readonly gBacklog;

  constructor(private readonly cfg: OutboxConfig, private readonly ctx: StageContext) {
    this.file = cfg.path ? ctx.resolvePath(cfg.path) : join(ctx.gateway.dataDir, 'outbox.db');
    this.sm = ctx.metrics.stage('outbox');
    const reg = ctx.metrics.registry;
    this.gRows = gauge(reg, 'fieldgate_outbox_rows', 'Records held in the outbox', []);
    this.gBytes = gauge(reg, 'fieldgate_outbox_used_bytes', 'Bytes of the outbox file in use (excluding free pages)', []);
    this.gBacklog = gauge(reg, 'fieldgate_sink_backlog', 'Records a sink has not had confirmed yet', ['sink']);
  }

  // ---- stage --------------------------------------------------------------------------------

  async start(): Promise<void> {
    if (this.state === 'running') return;
    let opened;
    try {
      opened = openStore(this.file, this.cfg.synchronous);
    } catch (e) {
      this.state = 'failed';
      this.failure = errorMessage(e);
      this.sm.error('FG_E_OUTBOX_WRITE');
      throw new FgError('FG_E_OUTBOX_WRITE', `cannot open the outbox ${this.file}: ${this.failure}`, { cause: e });
    }
    const { db, epoch, movedAside } = opened;
    if (movedAside) {
      this.movedAside = movedAside.path;
      this.sm.error('FG_E_OUTBOX_CORRUPT');
      this.ctx.log.error(
        { code: 'FG_E_OUTBOX_CORRUPT', file: this.file, movedTo: movedAside.path, reason: movedAside.reason },
        'the outbox file failed its integrity check; it was moved aside and a new one started',
      );
    }
    this.db = db;
    this.epoch = epoch;
    this.idPrefix = `${this.ctx.gateway.id}:${epoch}:`;
    this.prepare(db);
    this.lastSeq = Number(db.prepare("SELECT value FROM meta WHERE key = 'lastSeq'").pluck().get() ?? 0);
    const bounds = db.prepare<[], { lo: number | null; n: number }>('SELECT min(seq) AS lo, count(*) AS n FROM records').get()!;
    this.rows = bounds.n;
    this.firstSeq = bounds.lo ?? this.lastSeq + 1;
    this.pageSize = Number(db.pragma('page_size', { simple: true }));
    this.loadCursors(db);
    this.measure();
    this.checkpointer = new Checkpointer(this.file, (msg) => {
      this.sm.error('FG_E_OUTBOX_WRITE');
      this.ctx.log.warn({ code: 'FG_E_OUTBOX_WRITE', err: msg }, 'outbox checkpoint failed; retried later');
    });
    this.lastCheckpointAt = performance.now();
    this.state = 'running';
    this.ctx.log.info({ file: this.file, epoch, rows: this.rows, lastSeq: this.lastSeq, cursors: [...this.cursors.keys()] }, 'outbox open');
  }

  async stop(deadlineMs: number): Promise<void> {
    if (this.state !== 'running') return;
    this.state = 'stopping';
    const until = Date.now() + deadlineMs;
    for (const b of this.blocked.splice(0)) {
      b.reject(new FgError('FG_E_OUTBOX_FULL', 'the outbox stopped while full; the write was not accepted'));
    }
    this.clearTimers();
    this.commit();
    for (const w of this.waiters) w.resolve();
    this.waiters.clear();
    await this.checkpointer?.close(Math.max(100, until - Date.now()));
    this.checkpointer = undefined;
    try {
      this.db?.pragma('wal_checkpoint(TRUNCATE)');
    } catch (e) {
      this.ctx.log.warn({ err: errorMessage(e) }, 'final outbox checkpoint failed; the WAL is replayed at next start');
    }
    this.db?.close();
    this.db = undefined;
    this.state = 'stopped';
  }

  probe(): ProbeResult {
    const details = {
      rows: this.rows, usedBytes: this.usedBytes, maxBytes: this.cfg.maxBytes, lastSeq: this.lastSeq,
      droppedFull: this.droppedFull, droppedExpired: this.droppedExpired, blockedWrites: this.blocked.length,
      lastCommitMs: round(this.lastCommitMs), movedAside: this.movedAside,
    };
    if (this.state === 'failed') return { state: 'down', reason: `outbox cannot be opened: ${this.failure}`, details };
    if (this.state !== 'running') return { state: 'down', reason: `outbox is ${this.state}`, details };
    if (this.full) {
      const what = this.cfg.whenFull === 'block' ? 'writers wait until sinks catch up' : 'the oldest records are dropped';
      return { state: 'degraded', reason: `outbox full (${this.usedBytes} of ${this.cfg.maxBytes} bytes): ${what}`, details };
    }
    return { state: 'up', details };
  }

  // ---- writer -------------------------------------------------------------------------------

  writeSamples(batch: SampleBatch): Promise<void> {
    return this.enqueue({ k: KIND_SAMPLE, batch }, batch.samples.length);
  }

  writePredictions(predictions: Prediction[]): Promise<void> {
    return this.enqueue({ k: KIND_PREDICTION, list: predictions }, predictions.length);
  }

  writeEvents(events: GatewayEvent[]): Promise<void> {
    return this.enqueue({ k: KIND_EVENT, list: events }, events.length);
  }

  private enqueue(item: Item, rows: number): Promise<void> {
    if (this.state !== 'running') {
      return Promise.reject(new FgError('FG_E_OUTBOX_WRITE', `the outbox is ${this.state}; the write was not accepted`));
    }
    if (rows === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const w: PendingWrite = { item, rows, resolve, reject };
      if (this.full && this.cfg.whenFull === 'block') {
        this.blocked.push(w);
        return;
      }
      this.addPending(w);
    });
  }

  private addPending(w: PendingWrite): void {
    this.pending.push(w);
    this.pendingRows += w.rows;
    if (this.pendingRows >= this.cfg.commitRows) {
      // enough rows: commit on the next turn, so the writes of this turn still join
      if (!this.immediate) this.immediate = setImmediate(() => { this.immediate = undefined; this.commit(); });
    } else this.armTimer();
  }

  private armTimer(): void {
    if (!this.timer && this.state === 'running') this.timer = setTimeout(() => { this.timer = undefined; this.commit(); }, this.cfg.commitInterval);
  }

  private clearTimers(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }

  /** One group commit: the pending rows, cursor positions, confirmed deletes and expiry, in one transaction. */
  private commit(): void {
    this.clearTimers();
    const db = this.db;
    if (!db) return;
    const batch = this.pending;
    const rows = this.pendingRows;
    this.pending = [];
    this.pendingRows = 0;
    const t0 = performance.now();
    let last: number;
    try {
      last = this.txn(batch);
    } catch (e) {
      const err = new FgError('FG_E_OUTBOX_WRITE', `outbox commit failed: ${errorMessage(e)}`, { cause: e });
      this.sm.error(err.code);
      this.ctx.log.error({ code: err.code, err: errorMessage(e), rows }, 'outbox commit failed; the writes were not accepted');
      for (const w of batch) w.reject(err);
      for (const c of this.cursors.values()) c.persisted = -1; // unknown: write again next time
      return;
    }
    for (const c of this.cursors.values()) c.persisted = c.acked;
    const ms = performance.now() - t0;
    if (rows > 0) {
      this.lastSeq = last;
      this.rows += rows;
      this.accepted += rows;
      this.commits++;
      this.lastCommitMs = ms;
      this.maxCommitMs = Math.max(this.maxCommitMs, ms);
      this.rowsSinceCheckpoint += rows;
      this.sm.received(rows);
    }
    this.measure();
    this.applyFullPolicy();
    for (const w of batch) w.resolve();
    if (rows > 0) this.notify();
    this.maybeCheckpoint();
  }

  private prepare(db: Db): void {
    this.st = {
      insert: db.prepare('INSERT INTO records (seq, kind, source, tag, ts, vtype, quality, value, reason, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      // raw(): arrays instead of objects, measurably cheaper per row for the sinks' reads
      read: db.prepare<[number, number], RecordTuple>('SELECT seq, kind, source, tag, ts, vtype, quality, value, reason, extra FROM records WHERE seq > ? ORDER BY seq LIMIT ?').raw(true),
      setLastSeq: db.prepare("UPDATE meta SET value = ? WHERE key = 'lastSeq'"),
      insertCommit: db.prepare('INSERT OR REPLACE INTO commits (last_seq, at) VALUES (?, ?)'),
      upsertCursor: db.prepare('INSERT INTO cursors (sink, seq) VALUES (?, ?) ON CONFLICT (sink) DO UPDATE SET seq = excluded.seq'),
      deleteUpTo: db.prepare<[number, number]>('DELETE FROM records WHERE seq >= ? AND seq <= ?'),
      deleteCommitsUpTo: db.prepare('DELETE FROM commits WHERE last_seq <= ?'),
      expiredSeq: db.prepare<[number], number | null>('SELECT max(last_seq) FROM commits WHERE at < ?').pluck(),
      pageCount: db.prepare<[], number>('PRAGMA page_count').pluck(),
      freelist: db.prepare<[], number>('PRAGMA freelist_count').pluck(),
    };
    const insert = this.st.insert;
    this.txn = db.transaction((items: PendingWrite[]): number => {
      let seq = this.lastSeq;
      for (const w of items) {
        const it = w.item;
        if (it.k === KIND_SAMPLE) {
          for (const s of it.batch.samples) {
            insert.run(++seq, KIND_SAMPLE, s.source, s.tag, s.ts, valueType(s.value), qualityCode(s.quality), valueColumn(s.value), s.reason ?? null, null);
          }
        } else if (it.k === KIND_PREDICTION) {
          for (const p of it.list) {
            insert.run(++seq, KIND_PREDICTION, p.model, p.model, p.ts, 0, 0, null, null, JSON.stringify({ outputs: p.outputs, latencyMs: p.latencyMs }));
          }
        } else {
          for (const e of it.list) {
            insert.run(++seq, KIND_EVENT, e.source, e.kind, e.ts, 3, 0, e.message, null, JSON.stringify({ severity: e.severity, data: e.data }));
          }
        }
      }
      if (seq !== this.lastSeq) {
        this.st.setLastSeq.run(seq);
        this.st.insertCommit.run(seq, Date.now());
      }
      for (const c of this.cursors.values()) if (c.acked !== c.persisted) this.st.upsertCursor.run(c.sink, c.acked);
      this.deleteConfirmed();
      this.expire();
      return seq;
    });
  }

  // ---- retention ----------------------------------------------------------------------------

  private minAcked(): number {
    if (this.cursors.size === 0) return 0; // no sink: nothing is confirmed, the size bound applies
    let m = Infinity;
    for (const c of this.cursors.values()) m = Math.min(m, c.acked);
    return m;
  }

  /** Deletes rows in [firstSeq, upTo]; returns how many went. */
  private deleteThrough(upTo: number): number {
    let n = 0;
    while (this.firstSeq <= upTo) {
      const hi = Math.min(upTo, this.firstSeq + DELETE_CHUNK - 1);
      n += this.st.deleteUpTo.run(this.firstSeq, hi).changes;
      this.firstSeq = hi + 1;
    }
    if (n > 0) {
      this.st.deleteCommitsUpTo.run(upTo);
      this.rows -= n;
    }
    return n;
  }

  private deleteConfirmed(): void {
    // at most one chunk per commit keeps commit times flat while a big backlog is confirmed
    const upTo = Math.min(this.minAcked(), this.firstSeq + DELETE_CHUNK - 1);
    if (upTo >= this.firstSeq) {
      this.deleteThrough(upTo);
      if (this.minAcked() >= this.firstSeq) this.armTimer();
    }
  }

  private expire(): void {
    if (this.cfg.maxAge === undefined) return;
    const bound = this.st.expiredSeq.get(Date.now() - this.cfg.maxAge);
    if (bound === null || bound === undefined || bound < this.firstSeq) return;
    const confirmed = Math.min(this.minAcked(), bound);
    if (confirmed >= this.firstSeq) this.deleteThrough(confirmed);
    const n = this.deleteThrough(bound);
    if (n > 0) this.countDrop(n, 'expired');
  }

  private measure(): void {
    if (!this.db) return;
    this.usedBytes = (this.st.pageCount.get()! - this.st.freelist.get()!) * this.pageSize;
    this.gRows.set(this.rows);
    this.gBytes.set(this.usedBytes);
    for (const c of this.cursors.values()) this.gBacklog.labels(c.sink).set(this.countAfter(c.acked));
  }

  /** Over the bound: drop the oldest (counted) or hold writers back until sinks confirm. */
  private applyFullPolicy(): void {
    const max = this.cfg.maxBytes;
    if (this.usedBytes >= max && this.cfg.whenFull === 'drop-oldest') {
      for (let i = 0; i < 8 && this.usedBytes >= max && this.rows > 0; i++) {
        const perRow = Math.max(1, this.usedBytes / Math.max(1, this.rows));
        const n = Math.max(1, Math.ceil((this.usedBytes - max * 0.9) / perRow));
        const upTo = Math.min(this.lastSeq, this.firstSeq + n - 1);
        const confirmed = Math.min(this.minAcked(), upTo);
        const dropped = this.db!.transaction(() => {
          if (confirmed >= this.firstSeq) this.deleteThrough(confirmed);
          return this.deleteThrough(upTo);
        })();
        if (dropped > 0) this.countDrop(dropped, 'full');
        this.measure();
      }
    }
    const wasFull = this.full;
    this.full = this.usedBytes >= max;
    if (this.full && !wasFull) {
      this.sm.error('FG_E_OUTBOX_FULL');
      this.ctx.log.warn({ code: 'FG_E_OUTBOX_FULL', usedBytes: this.usedBytes, maxBytes: max, whenFull: this.cfg.whenFull }, 'outbox full');
    }
    if (!this.full && this.blocked.length > 0) {
      const admitted = this.blocked;
      this.blocked = [];
      for (const w of admitted) this.addPending(w);
    }
  }

  private countDrop(n: number, reason: 'full' | 'expired'): void {
    if (reason === 'full') this.droppedFull += n;
    else this.droppedExpired += n;
    this.sm.dropped(n, reason === 'full' ? 'outbox-full' : 'outbox-expired');
    this.droppedSinceLog += n;
    const now = Date.now();
    if (now - this.lastDropLog >= this.cfg.dropLogInterval) {
      this.ctx.log.warn(
        { code: 'FG_E_OUTBOX_FULL', dropped: this.droppedSinceLog, droppedFull: this.droppedFull, droppedExpired: this.droppedExpired, reason },
        reason === 'full' ? 'outbox full: oldest records dropped' : 'outbox records older than maxAge dropped',
      );
      this.droppedSinceLog = 0;
      this.lastDropLog = now;
    }
  }

  private maybeCheckpoint(): void {
    if (!this.checkpointer || this.rowsSinceCheckpoint === 0) return;
    const now = performance.now();
    if (now - this.lastCheckpointAt < this.cfg.checkpointInterval) return;
    if (this.checkpointer.request()) {
      this.lastCheckpointAt = now;
      this.rowsSinceCheckpoint = 0;
    }
  }

  // ---- readers ------------------------------------------------------------------------------

  cursor(sink: string): OutboxCursor {
    let c = this.cursors.get(sink);
    if (!c) {
      c = new CursorImpl(sink, this, this.firstSeq - 1);
      c.persisted = -1;
      this.cursors.set(sink, c);
    }
    return c;
  }

  private loadCursors(db: Db): void {
    const saved = db.prepare<[], { sink: string; seq: number }>('SELECT sink, seq FROM cursors').all();
    for (const { sink, seq } of saved) {
      const c = this.cursors.get(sink);
      if (c) {
        c.acked = seq;
        c.persisted = seq;
      } else {
        // a sink that is no longer configured must not hold rows forever; say so, never silently
        db.prepare('DELETE FROM cursors WHERE sink = ?').run(sink);
        this.ctx.log.warn({ sink, seq }, 'outbox cursor of a sink that is no longer configured was removed');
      }
    }
    for (const c of this.cursors.values()) {
      if (c.persisted === -1) {
        c.acked = this.firstSeq - 1;
        c.persisted = -1;
      }
    }
  }

  read(afterSeq: number, limit: number): OutboxRecord[] {
    if (!this.db) return [];
    const rows = this.st.read.all(afterSeq, limit);
    const out = new Array<OutboxRecord>(rows.length);
    for (let i = 0; i < rows.length; i++) out[i] = decodeTuple(rows[i]!, this.idPrefix);
    return out;
  }

  /** Records after `seq`; exact while no rows were dropped in between. */
  countAfter(seq: number): number {
    return Math.max(0, this.lastSeq - Math.max(seq, this.firstSeq - 1));
  }

  onAck(): void {
    this.armTimer();
  }

  waitFor(afterSeq: number, signal: AbortSignal): Promise<void> {
    if (this.lastSeq > afterSeq || this.state !== 'running') return Promise.resolve();
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.waiters.delete(w);
        reject(signal.reason);
      };
      const w: Waiter = {
        after: afterSeq,
        resolve: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(w);
    });
  }

  private notify(): void {
    for (const w of this.waiters) {
      if (this.lastSeq > w.after) {
        this.waiters.delete(w);
        w.resolve();
      }
    }
  }

  stats(): OutboxStats {
    let fileBytes = 0;
    try { fileBytes = statSync(this.file).size; } catch { /* not created yet */ }
    return {
      file: this.file, fileBytes, epoch: this.epoch, rows: this.rows, firstSeq: this.firstSeq, lastSeq: this.lastSeq,
      commits: this.commits, accepted: this.accepted, dropped: { full: this.droppedFull, expired: this.droppedExpired },
      usedBytes: this.usedBytes, maxBytes: this.cfg.maxBytes, full: this.full, blockedWrites: this.blocked.length,
      lastCommitMs: this.lastCommitMs, maxCommitMs: this.maxCommitMs,
      checkpoints: this.checkpointer?.count ?? 0, maxCheckpointMs: this.checkpointer?.maxMs ?? 0,
      movedAside: this.movedAside,
    };
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
