import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Runs WAL checkpoints on a worker thread with its own connection.
 *
 * SQLite's auto-checkpoint runs inside the commit that crosses the threshold, on the main thread:
 * measured here it puts 10-28 ms into that commit and into the event loop. A PASSIVE checkpoint
 * from another connection copies frames back without holding the write lock, so the writer keeps
 * committing meanwhile; once every frame is copied, the next commit restarts the WAL from its
 * start and the file stops growing. The worker is plain JS (eval) so it needs no TS loader.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 0');
parentPort.on('message', (m) => {
  if (m === 'close') { db.close(); parentPort.close(); return; }
  const t0 = performance.now();
  try {
    const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
    parentPort.postMessage({ ok: true, ms: performance.now() - t0, busy: r.busy, log: r.log, checkpointed: r.checkpointed });
  } catch (e) {
    parentPort.postMessage({ ok: false, ms: performance.now() - t0, error: String((e && e.message) || e) });
  }
});
`;

export interface CheckpointResult {
  ok: boolean;
  ms: number;
  busy?: number;
  /** frames in the WAL, and how many of them are now copied into the database */
  log?: number;
  checkpointed?: number;
  error?: string;
}

export class Checkpointer {
  private readonly worker: Worker;
  private inFlight = false;
  private closed = false;
  private readonly exited: Promise<void>;
  last?: CheckpointResult;
  count = 0;
  maxMs = 0;

  constructor(dbPath: string, private readonly onError: (message: string) => void) {
    const module = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { module, path: dbPath } });
    this.worker.on('message', (r: CheckpointResult) => {
      this.inFlight = false;
      this.last = r;
      this.count++;
      this.maxMs = Math.max(this.maxMs, r.ms);
      if (!r.ok) this.onError(r.error ?? 'checkpoint failed');
    });
    this.worker.on('error', (e) => {
      this.inFlight = false;
      this.onError(e.message);
    });
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
  }

  get busy(): boolean {
    return this.inFlight;
  }

  /** Asks for a checkpoint unless one is running; returns whether one was asked for. */
  request(): boolean {
    if (this.inFlight || this.closed) return false;
    this.inFlight = true;
    this.worker.postMessage('check');
    return true;
  }

  /** Closes the worker's connection and waits for the thread to end (bounded). */
  async close(deadlineMs = 2_000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.worker.postMessage('close');
    let t: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => { t = setTimeout(() => resolve('timeout'), deadlineMs); });
    const r = await Promise.race([this.exited, timedOut]);
    clearTimeout(t);
    if (r === 'timeout') await this.worker.terminate();
  }
}
