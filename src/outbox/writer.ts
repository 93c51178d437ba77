import type { Worker } from 'node:worker_threads';
import { startTsWorker, workerModule } from '../core/ts-worker.ts';
import type { CommitRequest, ConfigureRequest, FromWriter, LogState, WriterInit, WriterLimits } from './writer-protocol.ts';

const ENTRY = workerModule('./writer-worker', import.meta.url);

export type CommitReply = Extract<FromWriter, { t: 'committed' }>;

/**
 * The main thread's handle on the writer thread. One commit at a time: `commit` may only be
 * called once the previous one answered (the outbox keeps that order; it also keeps seq in step).
 */
export class WriterThread {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  private waiting?: { resolve: (r: CommitReply) => void; reject: (e: Error) => void };
  private closing?: (error: string | undefined) => void;
  private dead?: Error;

  private constructor(worker: Worker, private readonly onCrash: (e: Error) => void) {
    this.worker = worker;
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
  }

  /** Starts the thread and resolves once its connection is open, with the log's state. */
  static async start(init: WriterInit, onCrash: (e: Error) => void): Promise<{ writer: WriterThread; state: LogState }> {
    const worker = startTsWorker(ENTRY, { workerData: init, name: 'outbox-writer' });
    const w = new WriterThread(worker, onCrash);
    const state = await new Promise<LogState>((resolve, reject) => {
      const onExit = (code: number) => reject(new Error(`the outbox writer thread exited (${code}) before it was ready`));
      worker.once('error', reject);
      worker.once('exit', onExit);
      worker.once('message', (m: FromWriter) => {
        worker.off('error', reject);
        worker.off('exit', onExit);
        if (m.t === 'ready') resolve(m);
        else reject(new Error(m.t === 'fatal' ? m.error : `unexpected first message ${m.t}`));
      });
    }).catch(async (e: unknown) => {
      await worker.terminate();
      throw e;
    });
    worker.on('message', (m: FromWriter) => w.onMessage(m));
    worker.on('error', (e) => w.fail(e));
    worker.on('exit', (code) => { if (!w.closing) w.fail(new Error(`the outbox writer thread exited (${code})`)); });
    return { writer: w, state };
  }

  get busy(): boolean {
    return this.waiting !== undefined;
  }

  /** `transfer`: buffers in `req` that move to the thread (this side must not touch them again) */
  commit(req: CommitRequest, transfer: ArrayBuffer[] = []): Promise<CommitReply> {
    if (this.dead) return Promise.reject(this.dead);
    if (this.waiting) return Promise.reject(new Error('a commit is already in flight'));
    return new Promise<CommitReply>((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.worker.postMessage(req, transfer);
    });
  }

  /** New limits for the thread; it applies them from its next commit (messages are handled in order). */
  configure(limits: WriterLimits): void {
    if (this.dead || this.closing) return;
    const m: ConfigureRequest = { t: 'configure', maxBytes: limits.maxBytes, whenFull: limits.whenFull, maxAge: limits.maxAge };
    this.worker.postMessage(m);
  }

  private onMessage(m: FromWriter): void {
    if (m.t === 'committed') {
      const w = this.waiting;
      this.waiting = undefined;
      w?.resolve(m);
    } else if (m.t === 'closed') {
      this.closing?.(m.error);
    }
  }

  private fail(e: Error): void {
    if (this.dead) return;
    this.dead = e;
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(e);
    this.closing?.(e.message);
    if (!this.closing) this.onCrash(e);
  }

  /**
   * Lets the thread checkpoint (TRUNCATE) and close its connection, then waits for it to end;
   * terminated after the deadline. Resolves with the checkpoint's error, if any.
   */
  async close(deadlineMs: number): Promise<string | undefined> {
    let error: string | undefined;
    const closed = new Promise<void>((resolve) => {
      this.closing = (e) => { error ??= e; resolve(); };
    });
    if (!this.dead) this.worker.postMessage({ t: 'close' });
    else this.closing?.(undefined);
    let t: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => { t = setTimeout(() => resolve('timeout'), deadlineMs); });
    const r = await Promise.race([closed.then(() => this.exited), timedOut]);
    clearTimeout(t);
    if (r === 'timeout') {
      error ??= 'the outbox writer did not close in time';
      await this.worker.terminate();
    }
    return error;
  }
}
