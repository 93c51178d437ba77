import type { Worker } from 'node:worker_threads';
import { startTsWorker, workerModule } from '../core/ts-worker.ts';
import type { FromReader, ReaderInit, ToReader } from './reader-protocol.ts';

const ENTRY = workerModule('./reader-worker', import.meta.url);

/** The main thread's handle on the reader thread: queries answered in order, by id. */
export class ReaderThread {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (rows: unknown[][]) => void; reject: (e: Error) => void }>();
  private dead?: Error;
  private readonly exited: Promise<void>;

  private constructor(private readonly worker: Worker) {
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (m: FromReader) => {
      if (m.t !== 'rows') return;
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (m.error !== undefined || !m.rows) w?.reject(new Error(m.error ?? 'no rows'));
      else w?.resolve(m.rows);
    });
    const fail = (e: Error) => {
      this.dead ??= e;
      for (const w of this.waiting.values()) w.reject(e);
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', () => fail(new Error('the outbox reader thread exited')));
  }

  static async start(init: ReaderInit): Promise<ReaderThread> {
    const worker = startTsWorker(ENTRY, { workerData: init, name: 'outbox-reader' });
    await new Promise<void>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('message', (m: FromReader) => {
        worker.off('error', reject);
        if (m.t === 'ready') resolve();
        else reject(new Error(m.t === 'fatal' ? m.error : `unexpected first message ${m.t}`));
      });
    }).catch(async (e: unknown) => {
      await worker.terminate();
      throw e;
    });
    return new ReaderThread(worker);
  }

  /** Raw rows (READ_SQL's columns) with records after `after`, committed up to `upTo`. */
  read(after: number, upTo: number, limit: number): Promise<unknown[][]> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      const m: ToReader = { t: 'read', id, after, upTo, limit };
      this.worker.postMessage(m);
    });
  }

  /** Closes the connection and waits for the thread to end (terminated after the deadline). */
  async close(deadlineMs: number): Promise<void> {
    if (!this.dead) this.worker.postMessage({ t: 'close' } satisfies ToReader);
    let t: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => { t = setTimeout(() => resolve('timeout'), deadlineMs); });
    const r = await Promise.race([this.exited, timedOut]);
    clearTimeout(t);
    if (r === 'timeout') await this.worker.terminate();
  }
}
