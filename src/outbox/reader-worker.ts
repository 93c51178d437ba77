import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { errorMessage } from '../core/errors.ts';
import { READ_SQL, type FromReader, type ReaderInit, type ToReader } from './reader-protocol.ts';

/**
 * The outbox's reader thread: a read-only connection that SELECTs the rows of a sink that fell
 * behind (the newest records are served from memory, tail.ts). A backlog read is page reads and
 * row copies in SQLite, which on the main thread shared the event loop with every sink; here it
 * runs beside it, one chunk ahead of the sink (outbox.ts, CursorImpl.read).
 */
const init = workerData as ReaderInit;
const port = parentPort!;
const post = (m: FromReader) => port.postMessage(m);

let db: Database.Database | undefined;
let read: Database.Statement<[number, number, number], unknown[]> | undefined;
try {
  db = new Database(init.path, { readonly: true, fileMustExist: true });
  read = db.prepare<[number, number, number], unknown[]>(READ_SQL).raw(true);
  post({ t: 'ready' });
} catch (e) {
  db?.close();
  db = undefined;
  post({ t: 'fatal', error: errorMessage(e) });
}

port.on('message', (m: ToReader) => {
  if (m.t === 'read') {
    try {
      post({ t: 'rows', id: m.id, rows: read!.all(m.after, m.upTo, m.limit) });
    } catch (e) {
      post({ t: 'rows', id: m.id, error: errorMessage(e) });
    }
    return;
  }
  try {
    db?.close();
  } catch { /* closed already */ }
  db = undefined;
  port.close();
});
