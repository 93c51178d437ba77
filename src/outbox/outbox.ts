import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Statement } from 'better-sqlite3';
import type { Counter } from 'prom-client';
import { FgError, errorMessage } from '../core/errors.ts';
import type { Metrics, StageMetrics } from '../core/metrics.ts';
import type { ProbeResult } from '../core/probe.ts';
import { ColumnarBatch, type GatewayEvent, type Prediction, type SampleBatch, batchLength } from '../core/sample.ts';
import type { OutboxWriter, Stage, StageContext } from '../core/contracts.ts';
import { type OutboxConfig, outboxSchema } from './config.ts';
import { counter, gauge, scrapedGauge } from './gauges.ts';
import { SourceRuns, UNKNOWN_SOURCE } from './sources.ts';
import {
  KIND_BATCH, KIND_EVENT, KIND_PREDICTION, KIND_SAMPLE, type OutboxRecord, type RecordTuple,
  decodeBatchRow, decodeTuple, encodeBatchColumns, encodeColumnarColumns, eventRecord, predictionRecord,
} from './records.ts';
import { type Db, openStore } from './store.ts';
import { Tail, type TailWrite } from './tail.ts';
import { CommitMarks, GlobalDrops, LAG_BYTES_SHARE, LAG_HYSTERESIS, type LagBound, type SkipReason } from './lag.ts';
import { type CommitReply, WriterThread } from './writer.ts';
import { ReaderThread } from './reader.ts';
import type { CommitRequest, DiskFullHeal } from './writer-protocol.ts';

/**
 * A sink's position in the log. Rows are deleted once every cursor has acknowledged them, or once
 * a cursor with a `drop-oldest` lag bound has moved past them (it skips them: counted on the sink).
 *
 * Accounting: the cursor moves only by `ack` and `rewind`, and every record it moves over is
 * either delivered (the `n` of `ack`) or dropped for this sink (counted once, on
 * `fieldgate_records_dropped_total{stage="sink.<id>"}` with reason lag, outbox-full or outbox-expired).
 */
export interface OutboxCursor {
  readonly sink: string;
  /** the last seq the upstream confirmed (or this sink skipped) */
  readonly acked: number;
  /** committed records with seq > afterSeq, in order (at most `limit`); records this sink skips are left out */
  read(afterSeq: number, limit: number): OutboxRecord[];
  /**
   * The upstream confirmed every record up to and including `seq` (persisted with the next commit).
   * `delivered`: how many records the confirmed chunk held; the rest of (acked, seq] were skipped
   * and are counted as dropped for this sink. Omitted: every seq in between was delivered.
   */
  ack(seq: number, delivered?: number): void;
  /**
   * The sink has nothing outstanding (it starts, or dropped its unconfirmed chunks after a
   * failure): records it skips are counted now, and the position to read after is returned.
   */
  rewind(): number;
  /** records committed after the acked position that this sink will still get */
  backlog(): number;
  /** how long the oldest record this sink still owes has been committed (ms; 0: caught up) */
  lagMs(): number;
  /** resolves once a record with seq > afterSeq is committed (or the outbox stops) */
  waitFor(afterSeq: number, signal: AbortSignal): Promise<void>;
  /** records this sink was not given, by reason, since start */
  readonly dropped: Readonly<Record<SkipReason, number>>;
}

/**
 * The accounting identity per source (README "Accounting"): for every sink and every source,
 * `accepted + pendingAtStart = confirmed + dropped (every reason) + pending`, each record once.
 */
export interface SourceAccounting {
  /** records committed since start, by source */
  accepted: Record<string, number>;
  sinks: Record<string, SinkSourceAccounting>;
}

export interface SinkSourceAccounting {
  /**
   * By source: records this sink had to settle when the outbox started (the rows in the file after
   * its persisted cursor). For a sink added while running (a reload): the rows in the file when
   * it was added, less what the outbox had accepted before (they were never this sink's).
   */
  pendingAtStart: Record<string, number>;
  /** records the sink confirmed (delivered; or dead-lettered after the upstream rejected them), by source */
  confirmed: Record<string, number>;
  /** records this sink was not given, by source and reason */
  dropped: Record<string, Partial<Record<SkipReason, number>>>;
  /** records committed after its confirmed position: still to be delivered or skipped, by source */
  pending: Record<string, number>;
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
  /** reads of a sink behind the in-memory tail answered by the reader thread (prefetched), not on the main thread */
  readerReads: number;
  /** the reader thread: started the first time a sink fell behind the in-memory tail */
  readerThread: 'off' | 'starting' | 'up';
  movedAside?: string;
  /** set while commits fail for lack of disk space */
  diskFull?: { since: number; error: string; failures: number };
}

/** The outbox as the pipeline and the sinks see it. */
export interface Outbox extends Stage, OutboxWriter {
  readonly kind: 'outbox';
  /** the cursor of one sink (created on first use, kept in the file); `lag` bounds how far it may fall behind */
  cursor(sink: string, lag?: LagBound): OutboxCursor;
  /** the accounting per source and sink, as one consistent snapshot (the same figures as /metrics) */
  accounting(): SourceAccounting;
  /** gateway events the outbox raises (full, healed, disk full, a sink behind its bound); the pipeline writes them */
  onEvent?: (e: OutboxEvent) => void;
  /** `<gateway>:<epoch>:` — a record's id is this prefix and its seq */
  readonly idPrefix: string;
  stats(): OutboxStats;
  /**
   * A reload: applies the changed limits and policies at once (no reopen, nothing lost, writers
   * held by `block` are admitted if the new bound or policy allows); `path` and `synchronous`
   * need the file reopened and keep their running value until the next restart.
   */
  reconfigure(next: OutboxConfig): OutboxReconfigured;
}

/** An event the outbox raises for the pipeline to publish (source `gateway`). */
export interface OutboxEvent {
  kind: 'outbox-full' | 'outbox-healed' | 'outbox-disk-full' | 'sink-behind';
  severity: 'info' | 'warning' | 'critical';
  message: string;
  data?: Record<string, string | number | boolean>;
}

/** What `reconfigure` did, by setting name. */
export interface OutboxReconfigured {
  /** changed settings now in effect */
  applied: (keyof OutboxConfig)[];
  /** changed settings that take effect at the next restart */
  atRestart: (keyof OutboxConfig)[];
  /** the configuration the outbox runs with now */
  config: OutboxConfig;
}

/** Settings read once when the file is opened: a change waits for the next restart. */
const REOPEN_KEYS: readonly (keyof OutboxConfig)[] = ['path', 'synchronous', 'diskReserve'];

type Item =
  | { k: typeof KIND_SAMPLE; batch: SampleBatch }
  | { k: typeof KIND_PREDICTION; list: Prediction[] }
  | { k: typeof KIND_EVENT; list: GatewayEvent[] };

interface PendingWrite {
  item: Item;
  /** records (samples, predictions, events) */
  rows: number;
  /** rows it takes in the file: 1 for a sample batch */
  dbRows: number;
  resolve: () => void;
  reject: (e: unknown) => void;
}

interface Waiter {
  after: number;
  resolve: () => void;
}

/** records kept in memory for sinks that keep up (see tail.ts); about 10 MB of small samples */
const TAIL_RECORDS = 50_000;
/** distinct tag lists of batch rows stored by reference; past it, a batch row carries its list */
const MAX_TAGSETS = 10_000;
/** rows per commit message when writes pile up while the writer thread is busy */
const MAX_COMMIT_ROWS = 4_000;
/** records per commit message (each becomes a record object for the tail on the main thread) */
const MAX_COMMIT_RECORDS = 20_000;
/** how often a commit is retried while the disk is full (each retry also deletes what sinks confirmed) */
const DISK_FULL_RETRY_MS = 250;

class CursorImpl implements OutboxCursor {
  acked: number;
  persisted: number;
  /** the last seq handed to this sink by read(): records in (acked, readTo] are its to confirm */
  readTo: number;
  /** this sink skips every record up to here (its drop-oldest lag bound moved it) */
  floor = 0;
  readonly dropped: Record<SkipReason, number> = { lag: 0, 'outbox-full': 0, 'outbox-expired': 0 };
  /** by source id (SourceRuns): what this sink confirmed, what it was not given by reason, and its start */
  readonly confirmedBy: number[] = [];
  readonly droppedBy: Record<SkipReason, number[]> = { lag: [], 'outbox-full': [], 'outbox-expired': [] };
  pendingAtStart = new Map<string, number>();
  private readonly confirmedCounters: Counter.Internal[] = [];
  private readonly droppedCounters: Record<SkipReason, Counter.Internal[]> = { lag: [], 'outbox-full': [], 'outbox-expired': [] };
  private readonly stage: string;
  private droppedSinceLog = 0;
  private lastDropLog = 0;
  constructor(readonly sink: string, private readonly box: OutboxImpl, start: number, public bound: LagBound | undefined, ctx: StageContext) {
    this.acked = start;
    this.persisted = start;
    this.readTo = start;
    this.stage = `sink.${sink}`;
    ctx.metrics.stage(this.stage);
  }
  read(afterSeq: number, limit: number): OutboxRecord[] {
    const from = Math.max(afterSeq, this.floor);
    let recs = this.box.readTail(from, limit);
    if (!recs) {
      // behind the in-memory tail: the chunk the reader thread fetched meanwhile, else a read here;
      // either way the next chunk is fetched off the main thread while this one is sent
      recs = this.takePrefetched(from, limit) ?? this.box.readFile(from, limit);
      if (recs.length > 0) this.prefetch(recs[recs.length - 1]!.seq, limit);
    }
    if (recs.length > 0 && recs[recs.length - 1]!.seq > this.readTo) {
      this.readTo = recs[recs.length - 1]!.seq;
      this.box.trimTail();
    }
    return recs;
  }
  /** the next chunk, read by the reader thread: rows with records after `after` */
  private pf?: { after: number; rows?: unknown[][] };

  private prefetch(after: number, limit: number): void {
    if (this.pf?.after === after) return;
    const p = this.box.prefetch(after, limit);
    if (!p) return;
    const pf: { after: number; rows?: unknown[][] } = { after };
    this.pf = pf;
    p.then((rows) => { pf.rows = rows; }, () => { if (this.pf === pf) this.pf = undefined; });
  }

  private takePrefetched(from: number, limit: number): OutboxRecord[] | undefined {
    const pf = this.pf;
    if (!pf || pf.after !== from || !pf.rows) return undefined;
    this.pf = undefined;
    // rows deleted since it was fetched are not served (as a read here would not)
    const recs = this.box.decodeRows(pf.rows as RawRow[], Math.max(from, this.box.firstDropFloor()), limit);
    if (recs.length === 0) return undefined;
    this.box.readerReads++;
    return recs;
  }

  ack(seq: number, delivered?: number): void {
    if (seq <= this.acked) return;
    const to = Math.min(seq, this.box.lastSeq);
    const span = to - this.acked;
    const skipped = delivered === undefined ? 0 : Math.max(0, span - delivered);
    if (skipped > 0) this.countSkipped(this.acked, this.acked + skipped);
    // the chunk read is contiguous and ends at seq: what was skipped lies below what it held
    this.countConfirmed(this.acked + skipped, to);
    this.acked = to;
    if (this.readTo < to) this.readTo = to;
    this.box.onAck();
  }
  rewind(): number {
    this.readTo = this.acked;
    this.settle();
    return this.acked;
  }
  /** With nothing outstanding, moves over what this sink skips (its floor, rows the outbox dropped) and counts it. */
  settle(): void {
    if (this.readTo > this.acked) return; // chunks in flight: counted when they are confirmed
    const to = Math.min(this.box.lastSeq, Math.max(this.floor, this.box.firstDropFloor()));
    if (to <= this.acked) return;
    this.countSkipped(this.acked, to);
    this.acked = to;
    this.readTo = to;
    this.box.onAck();
  }
  /** The seqs (from, to] were confirmed by this sink: counted by source. */
  private countConfirmed(from: number, to: number): void {
    this.box.runs.split(from, to, (s, k) => {
      this.confirmedBy[s] = (this.confirmedBy[s] ?? 0) + k;
      (this.confirmedCounters[s] ??= this.box.confirmedCounter.labels({ sink: this.sink, source: this.box.runs.name(s) })).inc(k);
    });
  }

  /** The seqs (from, to] were never given to this sink. */
  private countSkipped(from: number, to: number): void {
    // what lies under this sink's own floor is its lag; what lies under no floor, the outbox dropped
    const lagTo = Math.min(to, Math.max(from, this.floor));
    const parts: [SkipReason, number][] = [];
    if (lagTo > from) parts.push(['lag', lagTo - from]);
    if (to > lagTo) parts.push(...this.box.globalDrops.attribute(lagTo, to, 'outbox-full'));
    let n = 0;
    let at = from;
    for (const [reason, k] of parts) {
      if (k <= 0) continue;
      this.dropped[reason] += k;
      // the parts are consecutive ranges from `from`: each split by source
      const by = this.droppedBy[reason];
      const counters = this.droppedCounters[reason];
      this.box.runs.split(at, at + k, (s, m) => {
        by[s] = (by[s] ?? 0) + m;
        (counters[s] ??= this.box.ctxMetrics.dropped.labels({ stage: this.stage, reason, source: this.box.runs.name(s) })).inc(m);
      });
      at += k;
      n += k;
    }
    this.droppedSinceLog += n;
    const now = Date.now();
    if (n > 0 && now - this.lastDropLog >= this.box.dropLogInterval) {
      this.box.log.warn(
        { code: 'FG_E_SINK_BEHIND', sink: this.sink, dropped: this.droppedSinceLog, total: { ...this.dropped }, floor: this.floor, bound: this.bound },
        'sink behind its lag bound: records it will not get were skipped and counted on it',
      );
      this.droppedSinceLog = 0;
      this.lastDropLog = now;
    }
  }
  /** Where the outbox may delete for this sink. */
  get holds(): number {
    return Math.max(this.acked, this.floor);
  }
  backlog(): number {
    return this.box.countAfter(this.holds);
  }
  lagMs(): number {
    return this.box.lagMs(this.holds);
  }
  waitFor(afterSeq: number, signal: AbortSignal): Promise<void> {
    return this.box.waitFor(afterSeq, signal);
  }
}

/** A row as READ_SQL returns it: the record columns and n. */
type RawRow = [...RecordTuple, number];

/** A group commit posted to the writer thread and not answered yet. */
interface InFlightCommit {
  batch: PendingWrite[];
  rows: number;
  first: number;
  /** the writes as the in-memory tail keeps them (undefined: no sink, nobody reads from memory) */
  writes?: TailWrite[];
  /** flat (last seq, records, source id) per run of the new rows, for `runs` once committed */
  runs: number[];
  cursors: [CursorImpl, number][];
  done: Promise<void>;
}

/**
 * The outbox on the main thread: queues writes, assigns seqs, keeps the newest committed records
 * in memory for the sinks, and reads older ones from its own (read-only) connection. Every write to
 * the file (inserts, cursor positions, deletes, expiry, drops) happens on the writer thread
 * (writer-worker.ts), one group commit at a time; a write resolves when its commit is answered.
 */
export class OutboxImpl implements Outbox {
  readonly kind = 'outbox' as const;
  readonly name = 'outbox';
  private readonly file: string;
  private readonly sm: StageMetrics;
  /** the main thread's connection: reads only, once the writer thread runs */
  private db?: Db;
  private writer?: WriterThread;
  /** reads the rows of sinks behind the tail, off the main thread (absent if it failed to start: reads happen here) */
  private reader?: ReaderThread;
  /** set while the reader thread starts (once per run; a failed start is not retried) */
  private readerStarting?: Promise<void>;
  readerReads = 0;
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
  private full = false;
  private lastCommitMs = 0;
  private maxCommitMs = 0;

  private pending: PendingWrite[] = [];
  private pendingRows = 0;
  /** file rows pending: what `commitRows` counts (a sample batch is one) */
  private pendingDbRows = 0;
  private blocked: PendingWrite[] = [];
  private inFlight?: InFlightCommit;
  /** a commit was asked for while one was in flight */
  private commitWanted = false;
  private lastCommitOk = true;
  private timer?: NodeJS.Timeout;
  private timerDue = 0;
  private immediate?: NodeJS.Immediate;
  private waiters = new Set<Waiter>();
  private readonly cursors = new Map<string, CursorImpl>();
  private tail = new Tail(TAIL_RECORDS, 1);
  private checkpoints = 0;
  private maxCheckpointMs = 0;
  private lastCheckpointAt = 0;
  private rowsSinceCheckpoint = 0;
  /** when cursor positions were last persisted (and confirmed rows deleted); see housekeepingInterval */
  private lastHousekeeping = 0;
  /** the next commit persists positions and deletes at once (the writer has more confirmed rows to delete) */
  private housekeepNow = false;
  /** set while commits fail for lack of disk space: writes wait, confirmed rows are still deleted */
  private diskFull?: { since: number; error: string; failures: number; lastLog: number };
  private readonly marks = new CommitMarks();
  readonly globalDrops = new GlobalDrops();
  /** the source of every seq a cursor (or the outbox's own drops) may still move over */
  runs = new SourceRuns(0);
  /** records committed since start by source id, and their counter series */
  private readonly acceptedBy: number[] = [];
  private readonly acceptedCounters: Counter.Internal[] = [];
  private readonly droppedCounters: Record<'outbox-full' | 'outbox-expired', Counter.Internal[]> = { 'outbox-full': [], 'outbox-expired': [] };
  readonly confirmedCounter: Counter<'sink' | 'source'>;
  onEvent?: (e: OutboxEvent) => void;

  private readStmt?: Statement<[number, number, number], RawRow>;
  /** tag lists of batch rows by id (tagsets table), and their ids by JSON text */
  private tagsets = new Map<number, string[]>();
  private tagsetIds = new Map<string, number>();
  /** tagset ids a commit has not yet confirmed in the file: sent with every commit until one succeeds */
  private tagsetsUnsaved = new Map<number, string>();
  /** per source, the tag list of its last batch and its reference: a source's polls repeat their shape */
  private readonly lastTagRef = new Map<string, { tags: string[]; ref: string }>();
  private nextTagset = 1;
  /** commit time of the oldest record not yet confirmed by every sink (the backlog's age) */
  private oldestStmt?: Statement<[number], number>;
  private readonly gRows;
  private readonly gBytes;
  private readonly gBacklog;
  private readonly gLag;

  constructor(private cfg: OutboxConfig, private readonly ctx: StageContext) {
    this.file = cfg.path ? ctx.resolvePath(cfg.path) : join(ctx.gateway.dataDir, 'outbox.db');
    this.sm = ctx.metrics.stage('outbox');
    const reg = ctx.metrics.registry;
    this.gRows = gauge(reg, 'fieldgate_outbox_rows', 'Records held in the outbox', []);
    this.gBytes = gauge(reg, 'fieldgate_outbox_used_bytes', 'Bytes of the outbox file in use (excluding free pages)', []);
    this.gBacklog = gauge(reg, 'fieldgate_sink_backlog', 'Records a sink has not had confirmed yet', ['sink']);
    this.gLag = gauge(reg, 'fieldgate_sink_lag_seconds', 'How long the oldest record a sink has not had confirmed has been in the outbox (0: caught up; up to 1 s over)', ['sink']);
    this.confirmedCounter = counter(reg, 'fieldgate_sink_confirmed_total', 'Records a sink confirmed to the outbox, by source (delivered; a batch the upstream rejected is confirmed too and counted dropped{reason="rejected"} on the sink)', ['sink', 'source']);
    scrapedGauge(reg, 'fieldgate_sink_pending', 'Records committed after a sink\'s confirmed position (still to be delivered or skipped), by source', ['sink', 'source'], (g) => {
      for (const [sink, a] of Object.entries(this.accounting().sinks)) for (const [source, n] of Object.entries(a.pending)) g.set({ sink, source }, n);
    });
    scrapedGauge(reg, 'fieldgate_sink_pending_at_start', 'Records a sink had to settle when the outbox started (rows in the file after its cursor), by source: the identity accepted + pending_at_start = confirmed + dropped + pending holds per sink and source', ['sink', 'source'], (g) => {
      for (const c of this.cursors.values()) for (const [source, n] of c.pendingAtStart) g.set({ sink: c.sink, source }, n);
    });
  }

  get ctxMetrics(): Metrics {
    return this.ctx.metrics;
  }

  // ---- stage --------------------------------------------------------------------------------

  async start(): Promise<void> {
    if (this.state === 'running') return;
    let opened;
    try {
      opened = openStore(this.file, this.cfg.synchronous);
    } catch (e) {
      throw this.openFailed(e);
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
    this.epoch = epoch;
    this.idPrefix = `${this.ctx.gateway.id}:${epoch}:`;
    try {
      // before the writer thread opens: this connection still writes here (stale cursors)
      this.loadCursors(db);
      const { writer, state } = await WriterThread.start(
        { path: this.file, synchronous: this.cfg.synchronous, maxBytes: this.cfg.maxBytes, whenFull: this.cfg.whenFull, maxAge: this.cfg.maxAge, diskReserve: this.cfg.diskReserve },
        (e) => this.writerCrashed(e),
      );
      this.writer = writer;
      this.lastSeq = state.lastSeq;
      this.firstSeq = state.firstSeq;
      this.rows = state.rows;
      this.usedBytes = state.usedBytes;
    } catch (e) {
      db.close();
      throw this.openFailed(e);
    }
    this.db = db;
    this.readStmt = db.prepare<[number, number, number], RawRow>(
      // raw(): arrays instead of objects, measurably cheaper per row; a row whose last seq is past
      // afterSeq holds records after it (a batch row may begin before)
      'SELECT seq, kind, source, tag, ts, vtype, quality, value, reason, extra, n FROM records WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?',
    ).raw(true);
    this.tagsets.clear();
    this.tagsetIds.clear();
    this.lastTagRef.clear();
    this.tagsetsUnsaved.clear();
    this.nextTagset = 1;
    for (const { id, tags } of db.prepare<[], { id: number; tags: string }>('SELECT id, tags FROM tagsets').all()) {
      this.tagsets.set(id, JSON.parse(tags) as string[]);
      this.tagsetIds.set(tags, id);
      this.nextTagset = Math.max(this.nextTagset, id + 1);
    }
    this.oldestStmt = db.prepare<[number], number>('SELECT at FROM commits WHERE last_seq > ? ORDER BY last_seq LIMIT 1').pluck(true);
    for (const c of this.cursors.values()) {
      if (c.persisted === -1) c.acked = this.firstSeq - 1;
      c.readTo = c.acked;
    }
    this.loadRuns(db);
    for (const c of this.cursors.values()) c.pendingAtStart = this.runs.count(c.acked, this.lastSeq);
    this.loadMarks(db);
    this.tail = new Tail(TAIL_RECORDS, this.lastSeq + 1);
    this.updateGauges();
    this.lastCheckpointAt = performance.now();
    this.state = 'running';
    // the lag bounds apply to the rows found in the file too (the age bound by their commit times)
    this.applyLag();
    for (const c of this.cursors.values()) c.settle();
    this.ctx.log.info({ file: this.file, epoch, rows: this.rows, lastSeq: this.lastSeq, cursors: [...this.cursors.keys()] }, 'outbox open');
  }

  /**
   * The source of every record in the file (one scan, like the integrity check before it), so the
   * rows found at start are split by source when a sink confirms or skips them. Records below the
   * file's first row that a cursor has not moved over yet (deleted before a kill -9 under a lag
   * floor that is not persisted) are `unknown`.
   */
  private loadRuns(db: Db): void {
    let base = this.firstSeq - 1;
    for (const c of this.cursors.values()) base = Math.min(base, c.acked);
    const runs = new SourceRuns(base);
    if (this.firstSeq - 1 > base) runs.append(this.firstSeq - 1, this.firstSeq - 1 - base, runs.id(UNKNOWN_SOURCE));
    const rows = db.prepare<[number], [number, number, string, string | null]>(
      // only a batch row with samples of other sources needs its JSON part read
      `SELECT seq, n, source, CASE WHEN kind = ${KIND_BATCH} AND instr(extra, '"s":') > 0 THEN extra END FROM records WHERE seq <= ? ORDER BY seq`,
    ).raw(true);
    for (const [seq, n, source, extra] of rows.iterate(this.lastSeq)) {
      const foreign = extra === null ? undefined : (JSON.parse(extra) as { s?: Record<number, string> }).s;
      if (!foreign) {
        runs.append(seq, n, runs.id(source));
        continue;
      }
      for (let i = 0; i < n; i++) runs.append(seq - n + 1 + i, 1, runs.id(foreign[i] ?? source));
    }
    this.runs = runs;
  }

  /**
   * Commit times of the rows found at start (the `commits` table, one mark a second), so a sink's
   * age bound and its lag gauge apply to them as to rows committed since.
   */
  private loadMarks(db: Db): void {
    for (const [last, at] of db.prepare<[], [number, number]>('SELECT last_seq, at FROM commits ORDER BY last_seq').raw(true).iterate()) this.marks.add(last, at);
  }

  private openFailed(e: unknown): FgError {
    this.state = 'failed';
    this.failure = errorMessage(e);
    this.sm.error('FG_E_OUTBOX_WRITE');
    return new FgError('FG_E_OUTBOX_WRITE', `cannot open the outbox ${this.file}: ${this.failure}`, { cause: e });
  }

  async stop(deadlineMs: number): Promise<void> {
    if (this.state !== 'running' && this.state !== 'failed') return;
    if (!this.writer && !this.db) return;
    this.state = 'stopping';
    const until = Date.now() + deadlineMs;
    for (const b of this.blocked.splice(0)) {
      b.reject(new FgError('FG_E_OUTBOX_FULL', 'the outbox stopped while full; the write was not accepted'));
    }
    this.clearTimers();
    // what is queued commits; cursor positions are persisted with it
    if (this.inFlight) await this.inFlight.done;
    // commits are bounded in size: as many as it takes, unless one fails (its writes were rejected)
    while (this.pending.length > 0 || this.cursorsDirty()) {
      if (!this.commit()) break;
      await this.inFlight?.done;
      if (!this.lastCommitOk) break;
    }
    for (const w of this.pending.splice(0)) w.reject(new FgError('FG_E_OUTBOX_WRITE', 'the outbox stopped after a failed commit; the write was not accepted'));
    this.pendingRows = 0;
    this.pendingDbRows = 0;
    this.clearTimers();
    for (const w of this.waiters) w.resolve();
    this.waiters.clear();
    const err = await this.writer?.close(Math.max(100, until - Date.now()));
    this.writer = undefined;
    if (err) this.ctx.log.warn({ err }, 'final outbox checkpoint failed; the WAL is replayed at next start');
    // a reader thread still starting is waited for, so it is closed too
    await this.readerStarting;
    this.readerStarting = undefined;
    await this.reader?.close(Math.max(100, until - Date.now()));
    this.reader = undefined;
    this.readStmt = undefined;
    this.oldestStmt = undefined;
    this.db?.close();
    this.db = undefined;
    this.state = 'stopped';
  }

  probe(): ProbeResult {
    const details = {
      rows: this.rows, usedBytes: this.usedBytes, maxBytes: this.cfg.maxBytes, lastSeq: this.lastSeq,
      droppedFull: this.droppedFull, droppedExpired: this.droppedExpired, blockedWrites: this.blocked.length,
      lastCommitMs: round(this.lastCommitMs), movedAside: this.movedAside,
      backlog: this.countAfter(this.minAcked()), oldestAgeMs: this.oldestAgeMs(),
    };
    if (this.state === 'failed') return { state: 'down', reason: `outbox failed: ${this.failure}`, details };
    if (this.diskFull) {
      const waiting = this.pendingRows + this.blocked.reduce((n, w) => n + w.rows, 0);
      return {
        state: 'down',
        reason: `outbox cannot write: disk full (${this.diskFull.error}); ${waiting} records wait, ingestion resumes as sinks drain`,
        details: { ...details, diskFullSince: new Date(this.diskFull.since).toISOString(), diskFullFailures: this.diskFull.failures },
      };
    }
    if (this.state !== 'running') return { state: 'down', reason: `outbox is ${this.state}`, details };
    if (this.full) {
      const what = this.cfg.whenFull === 'block' ? 'writers wait until sinks catch up' : 'the oldest records are dropped';
      return { state: 'degraded', reason: `outbox full (${this.usedBytes} of ${this.cfg.maxBytes} bytes): ${what}`, details };
    }
    return { state: 'up', details };
  }

  reconfigure(next: OutboxConfig): OutboxReconfigured {
    const applied: (keyof OutboxConfig)[] = [];
    const atRestart: (keyof OutboxConfig)[] = [];
    // in the schema's order, so the reload line reads the same every time
    for (const k of Object.keys(outboxSchema.shape) as (keyof OutboxConfig)[]) {
      if (this.cfg[k] !== next[k]) (REOPEN_KEYS.includes(k) ? atRestart : applied).push(k);
    }
    if (applied.length === 0) return { applied, atRestart, config: this.cfg };
    const cfg: OutboxConfig = { ...next, synchronous: this.cfg.synchronous };
    if (this.cfg.path === undefined) delete cfg.path;
    else cfg.path = this.cfg.path;
    this.cfg = cfg;
    this.writer?.configure(cfg);
    if (this.state === 'running') {
      // a new bound or policy may release blocked writers; the next commit (soon, even with
      // nothing pending) lets the writer thread expire and drop against the new limits
      this.applyFullState();
      this.armTimer();
    }
    return { applied, atRestart, config: cfg };
  }

  // ---- writer -------------------------------------------------------------------------------

  writeSamples(batch: SampleBatch): Promise<void> {
    return this.enqueue({ k: KIND_SAMPLE, batch }, batchLength(batch));
  }

  writePredictions(predictions: Prediction[]): Promise<void> {
    return this.enqueue({ k: KIND_PREDICTION, list: predictions }, predictions.length);
  }

  writeEvents(events: GatewayEvent[]): Promise<void> {
    return this.enqueue({ k: KIND_EVENT, list: events }, events.length);
  }

  private enqueue(item: Item, rows: number): Promise<void> {
    if (this.state !== 'running') {
      const why = this.state === 'failed' ? `failed (${this.failure})` : this.state;
      return Promise.reject(new FgError('FG_E_OUTBOX_WRITE', `the outbox is ${why}; the write was not accepted`));
    }
    if (rows === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const w: PendingWrite = { item, rows, dbRows: item.k === KIND_SAMPLE ? 1 : rows, resolve, reject };
      if (this.diskFull || (this.full && this.cfg.whenFull === 'block')) {
        this.blocked.push(w);
        return;
      }
      this.addPending(w);
    });
  }

  private addPending(w: PendingWrite): void {
    this.pending.push(w);
    this.pendingRows += w.rows;
    this.pendingDbRows += w.dbRows;
    if (this.pendingDbRows >= this.cfg.commitRows) {
      // enough rows: commit on the next turn, so the writes of this turn still join
      if (!this.immediate) this.immediate = setImmediate(() => { this.immediate = undefined; this.commit(); });
    } else this.armTimer();
  }

  private armTimer(after?: number): void {
    // while the disk is full every commit fails until a sink confirms something: retry calmly
    const wait = this.diskFull ? Math.max(this.cfg.commitInterval, DISK_FULL_RETRY_MS) : after ?? this.cfg.commitInterval;
    if (this.state !== 'running') return;
    const due = performance.now() + wait;
    if (this.timer && this.timerDue <= due) return;
    // an earlier commit replaces a later one (new rows while waiting for the next housekeeping)
    if (this.timer) clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(() => { this.timer = undefined; this.commit(); }, wait);
  }

  private clearTimers(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }

  private cursorsDirty(): boolean {
    for (const c of this.cursors.values()) if (c.acked !== c.persisted) return true;
    return false;
  }

  /**
   * Posts one group commit (the pending rows, cursor positions; the writer thread adds confirmed
   * deletes and expiry) unless one is in flight: then it follows when that one is answered.
   * Returns whether a commit was posted.
   */
  private commit(): boolean {
    this.clearTimers();
    const writer = this.writer;
    if (!writer) return false;
    if (this.inFlight) {
      this.commitWanted = true;
      return false;
    }
    // Cursor positions are persisted, and what every sink confirmed deleted, at most once per
    // housekeepingInterval: a commit that also rewrote the cursors, meta and commits tables and
    // rebalanced the log's first pages wrote about 3x the pages of its new rows (README "Disk bytes")
    const now = performance.now();
    const housekeeping = this.state !== 'running' || this.diskFull !== undefined || this.housekeepNow || now - this.lastHousekeeping >= this.cfg.housekeepingInterval;
    if (this.pending.length === 0 && !housekeeping) {
      // nothing new to write: the positions wait for the next housekeeping
      this.armTimer(Math.max(1, this.cfg.housekeepingInterval - (now - this.lastHousekeeping)));
      return false;
    }
    if (housekeeping) {
      this.lastHousekeeping = now;
      this.housekeepNow = false;
    }
    this.commitWanted = false;
    // bounded: encoding and posting a commit is main-thread work (~1 ms per 1000 rows); whole writes only
    const cap = Math.max(this.cfg.commitRows, MAX_COMMIT_ROWS);
    let take = 0;
    let n = 0;
    let dbRows = 0;
    while (take < this.pending.length && (take === 0 || (dbRows + this.pending[take]!.dbRows <= cap && n + this.pending[take]!.rows <= MAX_COMMIT_RECORDS))) {
      n += this.pending[take]!.rows;
      dbRows += this.pending[take++]!.dbRows;
    }
    const batch = this.pending.splice(0, take);
    this.pendingRows -= n;
    this.pendingDbRows -= dbRows;
    const first = this.lastSeq + 1;
    const { rows, writes, transfer, runs } = this.encode(batch, first);
    const cursors: [CursorImpl, number][] = [];
    if (housekeeping) for (const c of this.cursors.values()) if (c.acked !== c.persisted) cursors.push([c, c.acked]);
    const req: CommitRequest = {
      t: 'commit', first, rows, records: n, tagsets: [...this.tagsetsUnsaved], cursors: cursors.map(([c, at]) => [c.sink, at]),
      minAcked: this.durableMin(housekeeping), housekeeping, checkpoint: this.checkpointDue(),
    };
    const tagsetsSent = req.tagsets.map(([id]) => id);
    const f: InFlightCommit = { batch, rows: n, first, writes, runs, cursors, done: Promise.resolve() };
    f.done = writer.commit(req, transfer).then(
      (r) => {
        if (r.ok) for (const id of tagsetsSent) this.tagsetsUnsaved.delete(id);
        this.committed(f, r);
      },
      (e: unknown) => this.committed(f, { t: 'committed', ok: false, error: errorMessage(e) }),
    );
    this.inFlight = f;
    return true;
  }

  /** The rows for the writer thread, and the writes as the tail keeps them for sinks (seq from `first`). */
  private encode(batch: PendingWrite[], first: number): { rows: CommitRequest['rows']; writes?: TailWrite[]; transfer: ArrayBuffer[]; runs: number[] } {
    const rows: CommitRequest['rows'] = [];
    const transfer: ArrayBuffer[] = [];
    const runs: number[] = [];
    const src = this.runs;
    // no sink: nobody would read them from memory
    const keep = this.cursors.size > 0;
    const writes: TailWrite[] | undefined = keep ? [] : undefined;
    const prefix = this.idPrefix;
    let seq = first;
    for (const w of batch) {
      const it = w.item;
      if (it.k === KIND_SAMPLE) {
        // one row for the whole batch (records.ts, KIND_BATCH): its samples take seq .. seq + k - 1
        const b = it.batch;
        const k = batchLength(b);
        // a columnar batch (every sample good, a number, of its source) is read from its columns
        const columnar = b instanceof ColumnarBatch;
        const cols = columnar ? encodeColumnarColumns(b) : encodeBatchColumns(b.source, b.samples);
        transfer.push(cols.value);
        rows.push(KIND_BATCH, b.source, this.tagRef(b), cols.ts, cols.vtype, 0, cols.value, null, cols.extra, k);
        const samples = columnar ? undefined : b.samples;
        if (samples !== undefined && cols.extra !== null && samples.some((s) => s.source !== b.source)) {
          // samples of other sources (rare): each counts for its own
          for (let j = 0; j < k; j++) runs.push(seq + j, 1, src.id(samples[j]!.source));
        } else runs.push(seq + k - 1, k, src.id(it.batch.source));
        // the tail keeps the batch itself: records are made when a sink reads them (tail.ts)
        writes?.push({ n: k, batch: it.batch });
        seq += k;
      } else if (it.k === KIND_PREDICTION) {
        const recs: OutboxRecord[] = [];
        for (const p of it.list) {
          const extra = JSON.stringify({ outputs: p.outputs, latencyMs: p.latencyMs });
          rows.push(KIND_PREDICTION, p.model, p.model, p.ts, 0, 0, null, null, extra, 1);
          if (keep) recs.push(predictionRecord(p, extra, seq, prefix));
          runs.push(seq, 1, src.id(p.model));
          seq++;
        }
        writes?.push({ n: it.list.length, recs });
      } else {
        const recs: OutboxRecord[] = [];
        for (const e of it.list) {
          const extra = JSON.stringify({ severity: e.severity, data: e.data });
          rows.push(KIND_EVENT, e.source, e.kind, e.ts, 3, 0, e.message, null, extra, 1);
          if (keep) recs.push(eventRecord(e, extra, seq, prefix));
          runs.push(seq, 1, src.id(e.source));
          seq++;
        }
        writes?.push({ n: it.list.length, recs });
      }
    }
    return { rows, writes, transfer, runs };
  }

  /**
   * A batch's tag list as stored: `@<id>` of its tagset (each shape of batch stored once), or
   * the list itself as JSON once MAX_TAGSETS shapes exist (a source whose batches vary without end).
   */
  private tagRef(b: SampleBatch): string {
    const source = b.source;
    const cols = b instanceof ColumnarBatch ? b.tags : undefined;
    const samples = cols === undefined ? b.samples : undefined;
    const n = cols !== undefined ? cols.length : samples!.length;
    // the same tags as the source's last batch (compared by string, usually the same string
    // objects): its reference, without building the list and its JSON text again
    const last = this.lastTagRef.get(source);
    if (last !== undefined && last.tags.length === n) {
      let same = true;
      for (let i = 0; i < n && same; i++) same = (cols !== undefined ? cols[i] : samples![i]!.tag) === last.tags[i];
      if (same) return last.ref;
    }
    const tags = new Array<string>(n);
    for (let i = 0; i < n; i++) tags[i] = cols !== undefined ? cols[i]! : samples![i]!.tag;
    const text = JSON.stringify(tags);
    let id = this.tagsetIds.get(text);
    if (id === undefined) {
      if (this.tagsetIds.size >= MAX_TAGSETS) return text;
      id = this.nextTagset++;
      this.tagsetIds.set(text, id);
      this.tagsets.set(id, tags);
      this.tagsetsUnsaved.set(id, text);
    }
    const ref = `@${id}`;
    this.lastTagRef.set(source, { tags: this.tagsets.get(id) ?? tags, ref });
    return ref;
  }

  private committed(f: InFlightCommit, r: CommitReply): void {
    this.inFlight = undefined;
    this.lastCommitOk = r.ok;
    if (!r.ok && r.diskFull) {
      // out of space: nothing of this commit was accepted, so it waits (front of the queue) and is
      // tried again; the writer thread already deleted what every sink confirmed, so draining heals
      this.pending.unshift(...f.batch);
      this.pendingRows += f.rows;
      for (const w of f.batch) this.pendingDbRows += w.dbRows;
      for (const [c, at] of f.cursors) c.persisted = r.diskFull.cursorsSaved ? at : -1;
      if (r.diskFull.state) this.adoptState(r.diskFull.state);
      this.onDiskFull(r.error, r.diskFull);
      this.afterCommit();
    } else if (!r.ok) {
      const err = new FgError('FG_E_OUTBOX_WRITE', `outbox commit failed: ${r.error}`);
      this.sm.error(err.code);
      this.ctx.log.error({ code: err.code, err: r.error, rows: f.rows }, 'outbox commit failed; the writes were not accepted');
      for (const w of f.batch) w.reject(err);
      for (const [c] of f.cursors) c.persisted = -1; // unknown: write again next time
    } else {
      for (const [c, at] of f.cursors) c.persisted = at;
      this.lastSeq = r.lastSeq;
      this.adoptState(r);
      if (this.diskFull) this.onDiskHealed();
      this.lastCommitMs = r.ms;
      this.maxCommitMs = Math.max(this.maxCommitMs, r.ms);
      if (f.rows > 0) {
        if (f.writes) this.tail.append(f.first, f.writes);
        this.accepted += f.rows;
        this.commits++;
        this.rowsSinceCheckpoint += f.rows;
        this.countAccepted(f.runs);
        this.marks.add(this.lastSeq, Date.now());
      }
      // expiry runs before drop-oldest in a commit: its rows are the older ones
      if (r.droppedExpired > 0) this.countDrop(r.droppedExpired, 'expired', this.firstSeq - 1 - r.droppedFull);
      if (r.droppedFull > 0) this.countDrop(r.droppedFull, 'full', this.firstSeq - 1);
      this.afterCommit();
      if (r.checkpoint) {
        this.checkpoints++;
        this.maxCheckpointMs = Math.max(this.maxCheckpointMs, r.checkpoint.ms);
        if (r.checkpoint.error) {
          this.sm.error('FG_E_OUTBOX_WRITE');
          this.ctx.log.warn({ code: 'FG_E_OUTBOX_WRITE', err: r.checkpoint.error }, 'outbox checkpoint failed; retried later');
        }
      }
      if (r.warning) this.ctx.log.warn({ code: 'FG_E_OUTBOX_WRITE', err: r.warning }, 'outbox housekeeping failed; retried with the next commit');
      this.updateGauges();
      this.applyFullState();
      for (const w of f.batch) w.resolve();
      if (f.rows > 0) this.notify();
      if (r.moreConfirmed) {
        this.commitWanted = true;
        this.housekeepNow = true;
      }
    }
    if (this.state !== 'running') {
      // stop() drives what is left: it waits for this commit, then posts one for the rest
      return;
    }
    // with the disk full the retry waits (armTimer's longer delay), never a tight loop of failures
    if (this.pendingDbRows >= this.cfg.commitRows && !this.diskFull) this.commit();
    // positions not persisted yet come back with the next housekeeping (commit() waits for it)
    else if (this.pending.length > 0 || this.commitWanted || this.cursorsDirty()) this.armTimer();
  }

  private adoptState(st: { firstSeq: number; rows: number; usedBytes: number }): void {
    this.firstSeq = st.firstSeq;
    this.rows = st.rows;
    this.usedBytes = st.usedBytes;
  }

  /** After every commit (or a failed one that still deleted): lag bounds, skipped rows counted, memory trimmed. */
  private afterCommit(): void {
    this.applyLag();
    for (const c of this.cursors.values()) c.settle();
    const floor = this.minAcked();
    this.marks.pruneThrough(floor);
    let slowest = this.firstSeq - 1;
    for (const c of this.cursors.values()) slowest = Math.min(slowest, c.acked);
    this.globalDrops.pruneThrough(Math.min(floor, slowest));
    // kept for every row in the file too: a sink added by a reload starts at the file's first row
    this.runs.pruneThrough(slowest);
    this.trimTail();
  }

  /**
   * A sink past its drop-oldest bound skips its oldest records: its floor moves to 90% of the
   * bound behind the newest record (records, estimated bytes), or past every record older than
   * its age bound. The rows go once no other sink needs them.
   */
  private applyLag(): void {
    if (this.cursors.size === 0) return;
    const perRow = this.rows > 0 ? this.usedBytes / this.rows : 0;
    const now = Date.now();
    for (const c of this.cursors.values()) {
      const b = c.bound;
      if (!b || b.whenBehind !== 'drop-oldest') continue;
      const pos = Math.max(c.holds, this.firstSeq - 1);
      const behind = this.lastSeq - pos;
      if (behind <= 0) continue;
      let target = 0;
      let why = '';
      if (b.records !== undefined && behind > b.records) {
        target = this.lastSeq - Math.floor(b.records * LAG_HYSTERESIS);
        why = `${behind} records behind (bound ${b.records})`;
      }
      const maxBytes = Math.min(b.bytes ?? Infinity, this.cfg.maxBytes * LAG_BYTES_SHARE);
      if (perRow > 0 && behind * perRow > maxBytes) {
        const t = this.lastSeq - Math.floor((maxBytes * LAG_HYSTERESIS) / perRow);
        if (t > target) {
          target = t;
          why = `about ${Math.round(behind * perRow)} bytes behind (bound ${Math.round(maxBytes)})`;
        }
      }
      if (b.age !== undefined) {
        const t = this.marks.seqBefore(now - b.age);
        if (t > pos && t > target) {
          target = t;
          why = `records older than ${b.age} ms unconfirmed`;
        }
      }
      if (target <= pos) continue;
      c.floor = target;
      this.onEvent?.({
        kind: 'sink-behind', severity: 'warning',
        message: `sink.${c.sink} is behind its lag bound (${why}): it skips its oldest ${target - pos} records; other sinks carry on`,
        data: { sink: c.sink, skipped: target - pos, floor: target },
      });
    }
  }

  private onDiskFull(error: string, heal: DiskFullHeal): void {
    this.sm.error('FG_E_OUTBOX_DISK_FULL');
    const now = Date.now();
    if (!this.diskFull) {
      this.diskFull = { since: now, error, failures: 1, lastLog: now };
      this.ctx.log.error(
        { code: 'FG_E_OUTBOX_DISK_FULL', err: error, file: this.file, waiting: this.pendingRows, deleted: heal.deleted, healError: heal.error },
        'outbox cannot write: the disk is full; new records wait (ingestion pauses), confirmed rows are still deleted, writes resume as sinks drain',
      );
      this.onEvent?.({ kind: 'outbox-disk-full', severity: 'critical', message: `outbox cannot write: disk full (${error}); ingestion pauses until sinks drain`, data: { file: this.file } });
      return;
    }
    this.diskFull.failures++;
    this.diskFull.error = error;
    if (now - this.diskFull.lastLog >= this.cfg.dropLogInterval) {
      this.diskFull.lastLog = now;
      this.ctx.log.error(
        { code: 'FG_E_OUTBOX_DISK_FULL', err: error, failures: this.diskFull.failures, sinceMs: now - this.diskFull.since },
        'outbox still cannot write: disk full',
      );
    }
  }

  private onDiskHealed(): void {
    const d = this.diskFull!;
    this.diskFull = undefined;
    const ms = Date.now() - d.since;
    this.ctx.log.info({ downMs: ms, failures: d.failures }, 'outbox writes again: disk space freed');
    this.onEvent?.({ kind: 'outbox-healed', severity: 'info', message: `outbox writes again after ${Math.round(ms / 1000)} s with a full disk`, data: { downMs: ms } });
  }

  /** Everything below the log's first row is gone; a cursor below it skips to here. */
  firstDropFloor(): number {
    return this.firstSeq - 1;
  }

  get dropLogInterval(): number {
    return this.cfg.dropLogInterval;
  }

  get log(): StageContext['log'] {
    return this.ctx.log;
  }

  private writerCrashed(e: Error): void {
    if (this.state !== 'running') return;
    this.state = 'failed';
    this.failure = `writer thread: ${e.message}`;
    const err = new FgError('FG_E_OUTBOX_WRITE', `the outbox writer thread failed: ${e.message}`, { cause: e });
    this.sm.error(err.code);
    this.ctx.log.error({ code: err.code, err: e.message }, 'the outbox writer thread failed; writes are not accepted');
    this.clearTimers();
    for (const w of [...this.pending, ...this.blocked]) w.reject(err);
    this.pending = [];
    this.pendingRows = 0;
    this.pendingDbRows = 0;
    this.blocked = [];
  }

  // ---- retention ----------------------------------------------------------------------------

  /**
   * Records every sink has read leave the tail: the sink holds what it sends until confirmed, and
   * a re-send after a failure reads from the file. Keeping the tail short matters: records that
   * live across garbage collections are what makes the young-generation GC pauses long.
   */
  trimTail(): void {
    // no sink: nobody reads from memory (a cursor taken later reads from the file)
    let through = this.cursors.size === 0 ? this.lastSeq : this.firstSeq - 1;
    if (this.cursors.size > 0) {
      let m = Infinity;
      for (const c of this.cursors.values()) m = Math.min(m, Math.max(c.readTo, c.holds));
      through = Math.max(through, m);
    }
    this.tail.trimThrough(through);
  }

  /** How long the oldest unconfirmed record has waited (one indexed lookup; for probes, not per record). */
  private oldestAgeMs(): number | undefined {
    const floor = Math.max(this.minAcked(), this.firstSeq - 1);
    if (!this.oldestStmt || floor >= this.lastSeq) return undefined;
    // commit marks in memory first: the file has one a housekeepingInterval, not one per commit
    const at = this.marks.committedAt(floor + 1) ?? this.oldestStmt.get(floor);
    return typeof at === 'number' ? Math.max(0, Date.now() - at) : undefined;
  }

  /**
   * Where the writer may delete: every sink's position as the file will hold it after this commit
   * (persisted, or persisted by it), or its lag floor. A row is never deleted while a cursor that a
   * crash would bring back still stands below it (it would be counted dropped though delivered).
   */
  private durableMin(housekeeping: boolean): number {
    if (this.cursors.size === 0) return 0;
    let m = Infinity;
    for (const c of this.cursors.values()) m = Math.min(m, Math.max(housekeeping ? c.acked : c.persisted, c.floor));
    return m;
  }

  private minAcked(): number {
    if (this.cursors.size === 0) return 0; // no sink: nothing is confirmed, the size bound applies
    let m = Infinity;
    for (const c of this.cursors.values()) m = Math.min(m, c.holds);
    return m;
  }

  private updateGauges(): void {
    this.gRows.set(this.rows);
    this.gBytes.set(this.usedBytes);
    const now = Date.now();
    for (const c of this.cursors.values()) {
      const backlog = this.countAfter(c.holds);
      this.gBacklog.labels(c.sink).set(backlog);
      const next = Math.max(c.holds, this.firstSeq - 1) + 1;
      // records from before this start have no mark: the file's commit times say (one indexed lookup)
      const at = backlog > 0 ? this.marks.committedAt(next) ?? this.oldestStmt?.get(next - 1) : undefined;
      this.gLag.labels(c.sink).set(at === undefined ? 0 : Math.max(0, now - at) / 1000);
    }
  }

  /** Over the bound: the writer thread dropped the oldest (drop-oldest), or writers wait (block). */
  private applyFullState(): void {
    const max = this.cfg.maxBytes;
    const wasFull = this.full;
    this.full = this.usedBytes >= max;
    if (this.full && !wasFull) {
      this.sm.error('FG_E_OUTBOX_FULL');
      this.ctx.log.warn({ code: 'FG_E_OUTBOX_FULL', usedBytes: this.usedBytes, maxBytes: max, whenFull: this.cfg.whenFull }, 'outbox full');
      this.onEvent?.({ kind: 'outbox-full', severity: 'warning', message: `outbox full (${this.usedBytes} of ${max} bytes): whenFull ${this.cfg.whenFull} applies`, data: { usedBytes: this.usedBytes, maxBytes: max } });
    } else if (!this.full && wasFull) {
      this.onEvent?.({ kind: 'outbox-healed', severity: 'info', message: `outbox below its bound again (${this.usedBytes} of ${max} bytes)`, data: { usedBytes: this.usedBytes, maxBytes: max } });
    }
    // admitted also when the policy is no longer `block` (a reload): drop-oldest never holds writers
    if (!this.diskFull && (!this.full || this.cfg.whenFull !== 'block') && this.blocked.length > 0) {
      const admitted = this.blocked;
      this.blocked = [];
      for (const w of admitted) this.addPending(w);
    }
  }

  /** A commit's rows: their sources for the cursors, and accepted per source. */
  private countAccepted(runs: number[]): void {
    for (let i = 0; i < runs.length; i += 3) {
      const [last, n, s] = [runs[i]!, runs[i + 1]!, runs[i + 2]!];
      this.runs.append(last, n, s);
      this.acceptedBy[s] = (this.acceptedBy[s] ?? 0) + n;
      (this.acceptedCounters[s] ??= this.ctx.metrics.received.labels({ stage: 'outbox', source: this.runs.name(s) })).inc(n);
    }
  }

  private countDrop(n: number, reason: 'full' | 'expired', through: number): void {
    // sinks that had not confirmed these rows count them when they move past (exactly once each)
    const why = reason === 'full' ? 'outbox-full' : 'outbox-expired';
    this.globalDrops.add(through, why);
    if (reason === 'full') this.droppedFull += n;
    else this.droppedExpired += n;
    // the dropped rows are the newest of those deleted: (through - n, through], by source
    const counters = this.droppedCounters[why];
    this.runs.split(through - n, through, (s, k) => {
      (counters[s] ??= this.ctx.metrics.dropped.labels({ stage: 'outbox', reason: why, source: this.runs.name(s) })).inc(k);
    });
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

  /** Whether this commit should end with a WAL checkpoint (the writer thread runs it after the commit). */
  private checkpointDue(): boolean {
    if (this.rowsSinceCheckpoint === 0) return false;
    const now = performance.now();
    if (now - this.lastCheckpointAt < this.cfg.checkpointInterval) return false;
    this.lastCheckpointAt = now;
    this.rowsSinceCheckpoint = 0;
    return true;
  }

  // ---- readers ------------------------------------------------------------------------------

  cursor(sink: string, lag?: LagBound): OutboxCursor {
    let c = this.cursors.get(sink);
    if (!c) {
      c = new CursorImpl(sink, this, this.firstSeq - 1, lag, this.ctx);
      c.persisted = -1;
      this.cursors.set(sink, c);
      if (this.state === 'running') {
        // added while running (a reload): it starts at the file's first row; what the outbox
        // accepted before was never this sink's, so it counts against its start
        const at = this.runs.count(c.acked, this.lastSeq);
        for (const [s, n] of this.acceptedBy.entries()) if (n) at.set(this.runs.name(s), (at.get(this.runs.name(s)) ?? 0) - n);
        c.pendingAtStart = at;
        this.applyLag();
      }
    } else if (lag) {
      c.bound = lag;
      if (this.state === 'running') this.applyLag();
    }
    return c;
  }

  accounting(): SourceAccounting {
    const runs = this.runs;
    const byName = (xs: readonly number[]): Record<string, number> => {
      const o: Record<string, number> = {};
      xs.forEach((n, s) => { if (n) o[runs.name(s)] = (o[runs.name(s)] ?? 0) + n; });
      return o;
    };
    const sinks: Record<string, SinkSourceAccounting> = {};
    for (const c of this.cursors.values()) {
      const dropped: SinkSourceAccounting['dropped'] = {};
      for (const reason of Object.keys(c.droppedBy) as SkipReason[]) {
        for (const [source, n] of Object.entries(byName(c.droppedBy[reason]))) (dropped[source] ??= {})[reason] = n;
      }
      sinks[c.sink] = {
        pendingAtStart: Object.fromEntries(c.pendingAtStart),
        confirmed: byName(c.confirmedBy),
        dropped,
        pending: Object.fromEntries(runs.count(Math.min(c.acked, this.lastSeq), this.lastSeq)),
      };
    }
    return { accepted: byName(this.acceptedBy), sinks };
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
  }

  /** From memory when the tail reaches back to `afterSeq`, else from the file (committed rows only). */
  read(afterSeq: number, limit: number): OutboxRecord[] {
    return this.readTail(afterSeq, limit) ?? this.readFile(afterSeq, limit);
  }

  /** From memory, or undefined when the tail does not reach back to `afterSeq`. */
  readTail(afterSeq: number, limit: number): OutboxRecord[] | undefined {
    if (!this.readStmt) return [];
    // the tail answers only when it reaches the log's end (commits without a sink keep no records)
    return this.tail.end === this.lastSeq + 1 ? this.tail.read(Math.max(afterSeq, this.firstSeq - 1), limit, this.idPrefix) : undefined;
  }

  /** From the file, on this thread (committed rows only). */
  readFile(afterSeq: number, limit: number): OutboxRecord[] {
    if (!this.readStmt) return [];
    return this.decodeRows(this.readStmt.all(afterSeq, this.lastSeq, limit), afterSeq, limit);
  }

  /**
   * The same read on the reader thread (undefined without one, or once stopping). The thread (an
   * isolate of about 10 MB) starts the first time a sink falls behind the in-memory tail: a gateway
   * whose sinks keep up never needs it. Until it is up, sinks behind read on the main thread.
   */
  prefetch(afterSeq: number, limit: number): Promise<unknown[][]> | undefined {
    if (this.state !== 'running') return undefined;
    if (!this.reader) {
      this.readerStarting ??= this.startReader();
      return undefined;
    }
    return this.reader.read(afterSeq, this.lastSeq, limit);
  }

  private async startReader(): Promise<void> {
    try {
      const reader = await ReaderThread.start({ path: this.file });
      // stopped meanwhile: stop() waits for this promise, then closes what is set here
      this.reader = reader;
    } catch (e) {
      this.ctx.log.warn({ err: errorMessage(e) }, 'the outbox reader thread did not start; sinks behind read on the main thread');
    }
  }

  /** Rows as READ_SQL returns them, as the records after `afterSeq` (at most `limit`). */
  decodeRows(rows: RawRow[], afterSeq: number, limit: number): OutboxRecord[] {
    const out: OutboxRecord[] = [];
    for (const row of rows) {
      if (out.length >= limit) break;
      if (row[1] === KIND_BATCH) {
        const tag = row[3];
        const tags = tag.startsWith('@') ? this.tagsets.get(Number(tag.slice(1))) ?? [] : (JSON.parse(tag) as string[]);
        decodeBatchRow(row as unknown as RecordTuple, row[10], tags, this.idPrefix, afterSeq, limit, out);
      } else out.push(decodeTuple(row as unknown as RecordTuple, this.idPrefix));
    }
    return out;
  }

  /** How long the record after `holds` has been committed (ms; 0 when there is none). For the overload rule. */
  lagMs(holds: number): number {
    if (this.countAfter(holds) === 0) return 0;
    const next = Math.max(holds, this.firstSeq - 1) + 1;
    // records from before this start have no mark: the file's commit times say (one indexed lookup)
    const at = this.marks.estimateCommittedAt(next) ?? this.oldestStmt?.get(next - 1);
    return at === undefined ? 0 : Math.max(0, Date.now() - at);
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
      checkpoints: this.checkpoints, maxCheckpointMs: this.maxCheckpointMs, readerReads: this.readerReads,
      readerThread: this.reader ? 'up' : this.readerStarting ? 'starting' : 'off',
      movedAside: this.movedAside,
      diskFull: this.diskFull ? { since: this.diskFull.since, error: this.diskFull.error, failures: this.diskFull.failures } : undefined,
    };
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
