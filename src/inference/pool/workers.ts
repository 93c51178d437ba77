import type { Worker } from 'node:worker_threads';
import { startTsWorker, workerModule } from '../../core/ts-worker.ts';
import { FgError } from '../../core/errors.ts';
import type { FromWorker, Signature, ToWorker, WorkerInit } from '../protocol.ts';
import type { Job } from './dispatch.ts';

// .ts from the sources (tests), .js from dist/ (the compiled app)
const WORKER_URL = workerModule('../worker', import.meta.url);
/**
 * Worker threads below the main thread, so the event loop gets a core first when both are busy
 * (measured: lower main-thread loop delay than at 0, see README).
 */
export const DEFAULT_NICE = 5;
/** how long an idle worker gets to release its session and exit before it is terminated */
export const CLOSE_GRACE_MS = 2_000;

/** One worker thread with one onnxruntime session, and the jobs it holds. */
export interface Slot {
  id: number;
  worker: Worker;
  generation: number;
  ready: boolean;
  retiring: boolean;
  /** jobs given to this worker, sent or not */
  inFlight: Map<number, Job>;
  /** ids given to this worker but not yet posted: the next flush sends them as one group */
  unsent: number[];
  signature?: Signature;
  exited: Promise<void>;
}

export interface SpawnOptions {
  id: number;
  /** thread name, for diagnostics */
  name: string;
  generation: number;
  init: WorkerInit;
  /** checks a freshly loaded worker's signature; a returned message refuses the model */
  check?: (sig: Signature) => string | undefined;
  /** the slot exists (before it is ready), and when it is dropped because loading failed */
  onCreated(slot: Slot): void;
  onLoadFailed(slot: Slot): void;
  onReady(slot: Slot): void;
  /** a message after ready (results) */
  onMessage(slot: Slot, msg: FromWorker): void;
  /** an error or exit after ready */
  onCrash(slot: Slot, message: string): void;
}

/**
 * Starts a worker thread and resolves once it has loaded the model (and its signature passed
 * `check`); rejects FG_E_MODEL_LOAD / FG_E_MODEL_MISMATCH after terminating it.
 */
export function spawnSlot(o: SpawnOptions): Promise<Slot> {
  const worker = startTsWorker(WORKER_URL, { workerData: o.init, name: o.name });
  let exitResolve!: () => void;
  const slot: Slot = {
    id: o.id, worker, generation: o.generation, ready: false, retiring: false, inFlight: new Map(), unsent: [],
    exited: new Promise<void>((r) => (exitResolve = r)),
  };
  o.onCreated(slot);
  const modelPath = o.init.modelPath;
  return new Promise<Slot>((resolve, reject) => {
    let settled = false;
    const fail = (e: FgError): void => {
      if (settled) return;
      settled = true;
      o.onLoadFailed(slot);
      void worker.terminate();
      reject(e);
    };
    worker.on('message', (msg: FromWorker) => {
      if (msg.t === 'ready') {
        const problem = o.check?.(msg.signature);
        if (problem) return fail(new FgError('FG_E_MODEL_MISMATCH', problem, { details: { path: modelPath } }));
        slot.signature = msg.signature;
        slot.ready = true;
        settled = true;
        resolve(slot);
        o.onReady(slot);
      } else if (msg.t === 'load-error') {
        fail(new FgError('FG_E_MODEL_LOAD', `cannot load model ${modelPath}: ${msg.message}`, { details: { path: modelPath } }));
      } else {
        o.onMessage(slot, msg);
      }
    });
    worker.on('error', (e) => {
      if (!settled) fail(new FgError('FG_E_MODEL_LOAD', `worker for ${modelPath} failed while loading: ${e.message}`, { cause: e }));
      else o.onCrash(slot, e.message);
    });
    worker.on('exit', (code) => {
      exitResolve();
      if (!settled) fail(new FgError('FG_E_MODEL_LOAD', `worker for ${modelPath} exited (code ${code}) while loading`));
      else o.onCrash(slot, `exited with code ${code}`);
    });
  });
}

/**
 * Asks an idle worker to release its session and exit; terminates it after CLOSE_GRACE_MS.
 * Never call it on a busy worker: onnxruntime-node aborts the whole process when a thread is
 * terminated inside session.run.
 */
export async function closeSlot(slot: Slot, graceMs = CLOSE_GRACE_MS): Promise<void> {
  const msg: ToWorker = { t: 'close' };
  slot.worker.postMessage(msg);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs)));
  // an idle worker that does not exit on its own is safe to terminate
  if (await Promise.race([slot.exited.then(() => false), late])) await slot.worker.terminate();
  clearTimeout(timer);
  await slot.exited;
}
