import type { Worker } from 'node:worker_threads';
import { startTsWorker, workerModule } from '../core/ts-worker.ts';
import { CircuitBreaker } from '../core/breaker.ts';
import { FgError, errorMessage } from '../core/errors.ts';
import type { FromWorker, RunJob, Signature, ToWorker, WorkerInit } from './protocol.ts';

const WORKER_URL = workerModule('./worker', import.meta.url);
/**
 * Batches a worker holds (running or queued in it) adapt to the model's speed: about this much
 * queued compute per worker, so a worker never idles waiting for the round trip to the main
 * thread, yet a slow model does not hoard work that could still be dropped by its deadline.
 */
const PIPELINE_MS = 2;
const MIN_DEPTH = 2;
const MAX_DEPTH = 32;
/**
 * Worker threads below the main thread, so the event loop gets a core first when both are busy
 * (measured: lower main-thread loop delay than at 0, see README).
 */
const DEFAULT_NICE = 5;
/** group input buffers kept for reuse (each at most a group's size, rounded up to a power of two) */
const SPARE_BUFFERS = 8;
/** how long an idle worker gets to release its session and exit before it is terminated */
const CLOSE_GRACE_MS = 2_000;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface PoolOptions {
  name: string;
  modelPath: string;
  inputName: string;
  rowDims: number[];
  outputNames: string[];
  intraOpNumThreads: number;
  min: number;
  max: number;
  /** scale up when the p99 of batch latency exceeds this (ms) */
  targetP99Ms: number;
  /** least time between two scaling decisions (ms) */
  cooldownMs: number;
  /**
   * Run the batches a worker holds together as one session.run (default true). Only with a
   * dynamic batch dimension and outputs with one row per input row; results stay per batch.
   */
  merge?: boolean;
  /**
   * Niceness of worker threads (default 5). Above 0, the main thread's event loop (ingestion,
   * I/O) wins when cores are short; inference takes what is left. 0 keeps the process's priority.
   */
  workerNice?: number;
  /** batches in flight per worker; default: adapts to compute time (2..32, about 2 ms of work) */
  inFlightPerWorker?: number;
  breaker: { failureRate: number; minCalls: number; windowMs: number; cooldownMs: number };
  /** checks a freshly loaded worker's signature; a returned message refuses the model */
  check?: (sig: Signature) => string | undefined;
  /** called on every worker crash and scaling decision, for logs and counters */
  onEvent?: (e: PoolEvent) => void;
}

export type PoolEvent =
  | { type: 'crash'; worker: number; message: string; inFlight: number }
  | { type: 'retry'; jobs: number }
  | { type: 'scale'; from: number; to: number; why: string }
  | { type: 'swap'; generation: number; modelPath: string };

export interface RunResult {
  outputs: Record<string, Float32Array>;
  /** time inside the worker */
  computeMs: number;
  /** time from dispatch to result, including queueing in the pool */
  latencyMs: number;
}

/**
 * Writes a batch's input (`rows` x row size values) into `into`, a view into the buffer its group
 * travels in, or returns a Float32Array of that length (copied into the group buffer). `into` is
 * reused memory: a pack that writes into it must write every value.
 */
export type Pack = (into: Float32Array) => Float32Array | void;

interface Job {
  rows: number;
  /** builds the input anew for every attempt: the previous buffer was transferred away */
  pack: Pack;
  attempt: number;
  queuedAt: number;
  resolve: (r: RunResult) => void;
  reject: (e: unknown) => void;
}

interface Slot {
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

/**
 * Worker threads, one onnxruntime session each. Jobs go to the least-loaded ready worker of the
 * current generation; a crashed worker is replaced and its in-flight jobs retried once elsewhere;
 * failures feed a circuit breaker that pauses the model while open. `swap` loads a new model in a
 * fresh generation of workers and switches between batches: old workers finish what they hold.
 */
export class WorkerPool {
  readonly breaker: CircuitBreaker;
  private readonly opts: PoolOptions;
  private readonly rowSize: number;
  /** moving average of compute time per batch (ms), for the pipeline depth */
  private computeAvg = 0;
  private readonly slots = new Set<Slot>();
  private readonly pending: Job[] = [];
  private generation = 0;
  private modelPath: string;
  private nextSlotId = 1;
  private nextJobId = 1;
  private target: number;
  private stopping = false;
  private lastScale = 0;
  private respawnTimer?: NodeJS.Timeout;
  private readonly latencies = new Float64Array(256);
  private latencyCount = 0;
  private capacityWaiters: (() => void)[] = [];
  private flushImmediate?: NodeJS.Immediate;
  /** input buffers returned by workers, reused by later groups: no allocation per group when busy */
  private readonly spare: ArrayBuffer[] = [];
  private _crashes = 0;
  private _batches = 0;
  private _sessionRuns = 0;
  private _retries = 0;
  private _signature?: Signature;

  constructor(opts: PoolOptions) {
    this.opts = opts;
    this.rowSize = opts.rowDims.reduce((a, b) => a * b, 1);
    this.modelPath = opts.modelPath;
    this.target = opts.min;
    const b = opts.breaker;
    this.breaker = new CircuitBreaker({
      name: `${opts.name}.breaker`, failureRate: b.failureRate, minCalls: b.minCalls, windowMs: b.windowMs, cooldownMs: b.cooldownMs,
    });
  }

  /** Starts `min` workers and waits until each has loaded the model; throws FG_E_MODEL_LOAD / FG_E_MODEL_MISMATCH. */
  async start(): Promise<Signature> {
    try {
      const started = await Promise.all(Array.from({ length: this.opts.min }, () => this.spawn(this.modelPath, this.generation)));
      this._signature = started[0]!.signature;
      return this._signature!;
    } catch (e) {
      await this.terminateAll();
      throw e;
    }
  }

  /** the worker threads of the current generation (diagnostics and crash tests) */
  threads(): Worker[] {
    return [...this.slots].filter((s) => s.ready && !s.retiring && s.generation === this.generation).map((s) => s.worker);
  }

  get signature(): Signature | undefined {
    return this._signature;
  }

  get workers(): number {
    let n = 0;
    for (const s of this.slots) if (!s.retiring) n++;
    return n;
  }

  get crashes(): number {
    return this._crashes;
  }

  get retries(): number {
    return this._retries;
  }

  /** batches answered by workers, and the session.run calls they took (fewer when merged) */
  get runStats(): { batches: number; sessionRuns: number } {
    return { batches: this._batches, sessionRuns: this._sessionRuns };
  }

  get queued(): number {
    return this.pending.length;
  }

  get inFlight(): number {
    let n = 0;
    for (const s of this.slots) n += s.inFlight.size;
    return n;
  }

  /** Batches each worker may hold: fixed by the options, or about PIPELINE_MS of compute. */
  get perWorker(): number {
    if (this.opts.inFlightPerWorker !== undefined) return this.opts.inFlightPerWorker;
    if (this.computeAvg <= 0) return MIN_DEPTH;
    return Math.max(MIN_DEPTH, Math.min(MAX_DEPTH, Math.ceil(PIPELINE_MS / this.computeAvg)));
  }

  /** Batches the pool can take right now without queueing. */
  get freeCapacity(): number {
    let free = 0;
    const depth = this.perWorker;
    for (const s of this.slots) if (s.ready && !s.retiring) free += Math.max(0, depth - s.inFlight.size);
    return free - this.pending.length;
  }

  /** Resolves once a batch could be dispatched without queueing (or the pool stops). */
  whenCapacity(): Promise<void> {
    if (this.freeCapacity > 0 || this.stopping) return Promise.resolve();
    return new Promise((resolve) => this.capacityWaiters.push(resolve));
  }

  /** p99 of the last 256 batch latencies (ms), 0 before any. */
  p99(): number {
    const n = Math.min(this.latencyCount, this.latencies.length);
    if (n === 0) return 0;
    const s = Array.from(this.latencies.subarray(0, n)).sort((a, b) => a - b);
    return s[Math.min(n - 1, Math.floor(0.99 * n))]!;
  }

  /**
   * Runs one batch of `rows` windows. `pack` is called once per attempt, right before the
   * input is transferred to a worker. Rejects FG_E_BREAKER_OPEN while the breaker is open.
   */
  run(rows: number, pack: Pack): Promise<RunResult> {
    if (this.stopping) return Promise.reject(new FgError('FG_E_ABORTED', `${this.opts.name}: pool is stopping`));
    if (!this.breaker.allow()) {
      return Promise.reject(new FgError('FG_E_BREAKER_OPEN', `${this.opts.name}: circuit breaker open (${this.breaker.lastFailure ?? 'failures'})`, {
        details: { retryAt: this.breaker.retryAt },
      }));
    }
    return new Promise<RunResult>((resolve, reject) => {
      this.pending.push({ rows, pack, attempt: 0, queuedAt: performance.now(), resolve, reject });
      this.pump();
    });
  }

  /**
   * Loads `modelPath` in a fresh generation of workers (as many as run now) and switches to it.
   * Jobs already on old workers finish there; nothing is lost or run twice. On failure the
   * old generation keeps running and the error is thrown.
   */
  async swap(modelPath: string): Promise<Signature> {
    const gen = this.generation + 1;
    const count = Math.max(this.opts.min, this.workers);
    const fresh: Slot[] = [];
    try {
      for (let i = 0; i < count; i++) fresh.push(await this.spawn(modelPath, gen));
    } catch (e) {
      for (const s of fresh) await this.retire(s, true);
      throw e;
    }
    if (this.stopping) throw new FgError('FG_E_ABORTED', `${this.opts.name}: stopped during swap`);
    const old = [...this.slots].filter((s) => s.generation !== gen);
    this.generation = gen;
    this.modelPath = modelPath;
    this._signature = fresh[0]!.signature;
    for (const s of old) void this.retire(s, false);
    this.opts.onEvent?.({ type: 'swap', generation: gen, modelPath });
    this.pump();
    return this._signature!;
  }

  /** Autoscaling step: call periodically with the depth of the queue in front of the pool. */
  autoscale(upstreamDepth: number, now = performance.now()): void {
    if (this.stopping || now - this.lastScale < this.opts.cooldownMs) return;
    const n = this.workers;
    const backlog = upstreamDepth + this.pending.length;
    const p99 = this.p99();
    let to = n;
    let why = '';
    if (n < this.opts.max && (backlog > n * this.perWorker || p99 > this.opts.targetP99Ms)) {
      to = n + 1;
      why = backlog > n * this.perWorker ? `backlog ${backlog}` : `p99 ${p99.toFixed(1)} ms > ${this.opts.targetP99Ms} ms`;
    } else if (n > this.opts.min && backlog === 0 && this.inFlight <= (n - 1) * this.perWorker / 2 && p99 < this.opts.targetP99Ms / 2) {
      to = n - 1;
      why = 'idle';
    }
    if (to === n) return;
    this.lastScale = now;
    this.target = to;
    this.opts.onEvent?.({ type: 'scale', from: n, to, why });
    if (to > n) {
      this.spawn(this.modelPath, this.generation).then(() => this.pump(), (e: unknown) => {
        this.opts.onEvent?.({ type: 'crash', worker: 0, message: `scale-up failed: ${errorMessage(e)}`, inFlight: 0 });
      });
    } else {
      // retire the least busy worker
      const victim = [...this.slots].filter((s) => !s.retiring && s.generation === this.generation)
        .sort((a, b) => a.inFlight.size - b.inFlight.size)[0];
      if (victim) void this.retire(victim, false);
    }
  }

  /**
   * Stops: no new jobs; queued and in-flight jobs get until the deadline to finish, then queued
   * jobs are rejected with FG_E_ABORTED, batches already running finish, and every worker
   * releases its session and exits.
   */
  async stop(deadlineMs: number): Promise<void> {
    this.stopping = true;
    if (this.respawnTimer) clearTimeout(this.respawnTimer);
    this.respawnTimer = undefined;
    const end = performance.now() + deadlineMs;
    while ((this.pending.length > 0 || this.inFlight > 0) && performance.now() < end && this.slots.size > 0) await sleep(5);
    const aborted = new FgError('FG_E_ABORTED', `${this.opts.name}: stopped before the batch ran`);
    for (const j of this.pending.splice(0)) j.reject(aborted);
    await this.terminateAll();
    if (this.flushImmediate) clearImmediate(this.flushImmediate);
    this.flushImmediate = undefined;
    for (const w of this.capacityWaiters.splice(0)) w();
  }

  // ---- internals ------------------------------------------------------------------------

  private spawn(modelPath: string, generation: number): Promise<Slot> {
    const init: WorkerInit = {
      modelPath, intraOpNumThreads: this.opts.intraOpNumThreads, inputName: this.opts.inputName,
      rowDims: this.opts.rowDims, outputNames: this.opts.outputNames, merge: this.opts.merge ?? true,
      nice: this.opts.workerNice ?? DEFAULT_NICE,
    };
    const worker = startTsWorker(WORKER_URL, { workerData: init, name: `${this.opts.name}-w${this.nextSlotId}` });
    let exitResolve!: () => void;
    const slot: Slot = {
      id: this.nextSlotId++, worker, generation, ready: false, retiring: false, inFlight: new Map(), unsent: [],
      exited: new Promise<void>((r) => (exitResolve = r)),
    };
    this.slots.add(slot);
    return new Promise<Slot>((resolve, reject) => {
      let settled = false;
      const fail = (e: FgError) => {
        if (settled) return;
        settled = true;
        this.slots.delete(slot);
        void worker.terminate();
        reject(e);
      };
      worker.on('message', (msg: FromWorker) => {
        if (msg.t === 'ready') {
          const problem = this.opts.check?.(msg.signature);
          if (problem) return fail(new FgError('FG_E_MODEL_MISMATCH', problem, { details: { path: modelPath } }));
          slot.signature = msg.signature;
          slot.ready = true;
          settled = true;
          resolve(slot);
          this.pump();
        } else if (msg.t === 'load-error') {
          fail(new FgError('FG_E_MODEL_LOAD', `cannot load model ${modelPath}: ${msg.message}`, { details: { path: modelPath } }));
        } else {
          this.onResult(slot, msg);
        }
      });
      worker.on('error', (e) => {
        if (!settled) fail(new FgError('FG_E_MODEL_LOAD', `worker for ${modelPath} failed while loading: ${e.message}`, { cause: e }));
        else this.onCrash(slot, e.message);
      });
      worker.on('exit', (code) => {
        exitResolve();
        if (!settled) fail(new FgError('FG_E_MODEL_LOAD', `worker for ${modelPath} exited (code ${code}) while loading`));
        else if (this.slots.has(slot)) this.onCrash(slot, `exited with code ${code}`);
      });
    });
  }

  private onResult(slot: Slot, msg: FromWorker): void {
    if (msg.t !== 'done') return;
    this.keepSpare(msg.input);
    this._batches += msg.jobs.length;
    this._sessionRuns += msg.runs;
    const names = this.opts.outputNames;
    const offsets = new Array<number>(names.length).fill(0);
    const now = performance.now();
    for (const o of msg.jobs) {
      const job = slot.inFlight.get(o.id);
      slot.inFlight.delete(o.id);
      if (o.lengths === undefined) {
        if (!job) continue;
        this.breaker.failure(o.error ?? 'run failed');
        job.reject(new FgError('FG_E_MODEL_RUN', `${this.opts.name}: run failed: ${o.error ?? 'unknown error'}`));
        continue;
      }
      // views into the group's buffers: no copy per batch
      const outputs: Record<string, Float32Array> = {};
      for (let k = 0; k < names.length; k++) {
        const len = o.lengths[k]!;
        outputs[names[k]!] = msg.outputs[names[k]!]!.subarray(offsets[k]!, offsets[k]! + len);
        offsets[k]! += len;
      }
      this.computeAvg = this.computeAvg === 0 ? o.computeMs : this.computeAvg * 0.95 + o.computeMs * 0.05;
      if (!job) continue;
      this.breaker.success();
      const latencyMs = now - job.queuedAt;
      this.latencies[this.latencyCount++ % this.latencies.length] = latencyMs;
      job.resolve({ outputs, computeMs: o.computeMs, latencyMs });
    }
    this.afterSlotChange(slot);
  }

  private onCrash(slot: Slot, message: string): void {
    if (!this.slots.has(slot)) return;
    this.slots.delete(slot);
    this._crashes++;
    this.breaker.failure(`worker crashed: ${message}`);
    // jobs never posted to the dead worker go back as they were: they did not run
    const unsent: Job[] = [];
    for (const id of slot.unsent.splice(0)) {
      const j = slot.inFlight.get(id);
      if (j) unsent.push(j);
      slot.inFlight.delete(id);
    }
    const jobs = [...slot.inFlight.values()];
    slot.inFlight.clear();
    this.opts.onEvent?.({ type: 'crash', worker: slot.id, message, inFlight: jobs.length });
    if (unsent.length > 0) this.pending.unshift(...unsent);
    const retry: Job[] = [];
    for (const j of jobs) {
      if (j.attempt === 0 && !this.stopping) {
        j.attempt = 1;
        retry.push(j);
      } else {
        j.reject(new FgError('FG_E_WORKER_CRASHED', `${this.opts.name}: worker crashed twice on this batch (${message})`));
      }
    }
    if (retry.length > 0) {
      this._retries += retry.length;
      this.pending.unshift(...retry);
      this.opts.onEvent?.({ type: 'retry', jobs: retry.length });
    }
    if (!slot.retiring) this.replace(slot.generation);
    this.pump();
  }

  /** Keeps the generation at its target size; while the breaker is open, waits for its cooldown. */
  private replace(generation: number): void {
    if (this.stopping || generation !== this.generation) return;
    if (this.breaker.state === 'open') {
      if (this.respawnTimer) return;
      const wait = Math.max(0, (this.breaker.retryAt ?? Date.now()) - Date.now());
      this.respawnTimer = setTimeout(() => {
        this.respawnTimer = undefined;
        if (this.workers < this.target) this.replace(this.generation);
      }, wait);
      return;
    }
    this.spawn(this.modelPath, generation).then(
      () => this.pump(),
      (e: unknown) => {
        this.breaker.failure(errorMessage(e));
        this.opts.onEvent?.({ type: 'crash', worker: 0, message: `replacement failed: ${errorMessage(e)}`, inFlight: 0 });
        // the breaker is now likely open: the timer path above paces further attempts
        if (!this.stopping && this.workers < this.target) this.replace(generation);
      },
    );
  }

  /**
   * Gives queued jobs to the least-loaded ready workers at once (so `inFlight` and capacity are
   * exact), but posts them on the next turn of the event loop: every job given to a worker in
   * this turn then travels in one message.
   */
  private pump(): void {
    const depth = this.perWorker;
    while (this.pending.length > 0) {
      let best: Slot | undefined;
      for (const s of this.slots) {
        if (!s.ready || s.retiring || s.generation !== this.generation || s.inFlight.size >= depth) continue;
        if (!best || s.inFlight.size < best.inFlight.size) best = s;
      }
      if (!best) break;
      const job = this.pending.shift()!;
      const id = this.nextJobId++;
      best.inFlight.set(id, job);
      best.unsent.push(id);
      this.flushImmediate ??= setImmediate(() => this.flush());
    }
    if (this.capacityWaiters.length > 0 && this.freeCapacity > 0) for (const w of this.capacityWaiters.splice(0)) w();
  }

  /** Posts each worker's unsent jobs, in groups. */
  private flush(): void {
    this.flushImmediate = undefined;
    // groups of at most half the depth: the worker answers one group while it runs the next,
    // so it never waits for the round trip through the main thread
    const most = Math.max(1, Math.floor(this.perWorker / 2));
    for (const slot of this.slots) {
      while (slot.unsent.length > 0) this.send(slot, slot.unsent.splice(0, most));
    }
  }

  /**
   * Posts one group: every input is packed, right before transfer, into one buffer for the group
   * (one allocation, usually none thanks to the spare buffers, and one transfer).
   */
  private send(slot: Slot, ids: number[]): void {
    const rowSize = this.rowSize;
    let total = 0;
    for (const id of ids) total += (slot.inFlight.get(id)?.rows ?? 0) * rowSize;
    const data = new Float32Array(this.buffer(total * 4), 0, total);
    const jobs: RunJob[] = [];
    let at = 0;
    for (const id of ids) {
      const job = slot.inFlight.get(id);
      if (!job) continue;
      const into = data.subarray(at, at + job.rows * rowSize);
      try {
        const out = job.pack(into);
        if (out !== undefined && out !== into) {
          if (out.length !== into.length) throw new FgError('FG_E_MODEL_RUN', `${this.opts.name}: batch input holds ${out.length} values, expected ${into.length}`);
          into.set(out);
        }
      } catch (e) {
        slot.inFlight.delete(id);
        job.reject(e);
        continue;
      }
      jobs.push({ id, rows: job.rows, offset: at });
      at += into.length;
    }
    if (jobs.length === 0) {
      this.keepSpare(data.buffer as ArrayBuffer);
      this.afterSlotChange(slot);
      return;
    }
    const msg: ToWorker = { t: 'run', jobs, data };
    slot.worker.postMessage(msg, [data.buffer as ArrayBuffer]);
  }

  /** A spare buffer of at least `bytes`, or a new one rounded up to a power of two so it is reusable. */
  private buffer(bytes: number): ArrayBuffer {
    for (let i = 0; i < this.spare.length; i++) {
      const b = this.spare[i]!;
      if (b.byteLength >= bytes) {
        this.spare.splice(i, 1);
        return b;
      }
    }
    return new ArrayBuffer(Math.max(1024, 2 ** Math.ceil(Math.log2(Math.max(1, bytes)))));
  }

  /** Keeps a returned buffer; when full, the smallest one makes room for a larger one. */
  private keepSpare(b: ArrayBuffer): void {
    if (this.spare.length < SPARE_BUFFERS) {
      this.spare.push(b);
      return;
    }
    let min = 0;
    for (let i = 1; i < this.spare.length; i++) if (this.spare[i]!.byteLength < this.spare[min]!.byteLength) min = i;
    if (this.spare[min]!.byteLength < b.byteLength) this.spare[min] = b;
  }

  private afterSlotChange(slot: Slot): void {
    if (slot.retiring && slot.inFlight.size === 0) void this.retire(slot, true);
    this.pump();
  }

  /**
   * Takes a worker out of rotation and closes it once idle. Never terminates a busy worker:
   * onnxruntime-node aborts the whole process when a thread is terminated inside session.run.
   */
  private async retire(slot: Slot, now: boolean): Promise<void> {
    slot.retiring = true;
    if (!now && slot.inFlight.size > 0) return; // afterSlotChange closes it when idle
    await this.close(slot);
  }

  private async close(slot: Slot): Promise<void> {
    this.slots.delete(slot);
    const msg: ToWorker = { t: 'close' };
    slot.worker.postMessage(msg);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), CLOSE_GRACE_MS)));
    // an idle worker that does not exit on its own is safe to terminate
    if (await Promise.race([slot.exited.then(() => false), late])) await slot.worker.terminate();
    clearTimeout(timer);
    await slot.exited;
  }

  /** Closes every worker; waits for batches still running (a native run cannot be interrupted). */
  private async terminateAll(): Promise<void> {
    const all = [...this.slots];
    for (const s of all) s.retiring = true;
    while (all.some((s) => s.inFlight.size > 0 && this.slots.has(s))) await sleep(5);
    await Promise.all(all.filter((s) => this.slots.has(s)).map((s) => this.close(s)));
  }
}
