import { Worker } from 'node:worker_threads';
import { CircuitBreaker } from '../core/breaker.ts';
import { FgError, errorMessage } from '../core/errors.ts';
import type { FromWorker, Signature, ToWorker, WorkerInit } from './protocol.ts';

const WORKER_URL = new URL('./worker-entry.mjs', import.meta.url);
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
  /** batches in flight per worker: 2 keeps a worker busy while the next batch travels */
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

interface Job {
  rows: number;
  /** builds the input anew for every attempt: the previous buffer was transferred away */
  pack: () => Float32Array;
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
  inFlight: Map<number, Job>;
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
  private readonly perWorker: number;
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
  private _crashes = 0;
  private _retries = 0;
  private _signature?: Signature;

  constructor(opts: PoolOptions) {
    this.opts = opts;
    this.perWorker = opts.inFlightPerWorker ?? 2;
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

  get queued(): number {
    return this.pending.length;
  }

  get inFlight(): number {
    let n = 0;
    for (const s of this.slots) n += s.inFlight.size;
    return n;
  }

  /** Batches the pool can take right now without queueing. */
  get freeCapacity(): number {
    let free = 0;
    for (const s of this.slots) if (s.ready && !s.retiring) free += Math.max(0, this.perWorker - s.inFlight.size);
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
  run(rows: number, pack: () => Float32Array): Promise<RunResult> {
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
    for (const w of this.capacityWaiters.splice(0)) w();
  }

  // ---- internals ------------------------------------------------------------------------

  private spawn(modelPath: string, generation: number): Promise<Slot> {
    const init: WorkerInit = {
      modelPath, intraOpNumThreads: this.opts.intraOpNumThreads, inputName: this.opts.inputName,
      rowDims: this.opts.rowDims, outputNames: this.opts.outputNames,
    };
    const worker = new Worker(WORKER_URL, { workerData: init, execArgv: [], name: `${this.opts.name}-w${this.nextSlotId}` });
    let exitResolve!: () => void;
    const slot: Slot = {
      id: this.nextSlotId++, worker, generation, ready: false, retiring: false, inFlight: new Map(),
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
    if (msg.t !== 'ok' && msg.t !== 'run-error') return;
    const job = slot.inFlight.get(msg.id);
    if (!job) return;
    slot.inFlight.delete(msg.id);
    if (msg.t === 'ok') {
      this.breaker.success();
      const latencyMs = performance.now() - job.queuedAt;
      this.latencies[this.latencyCount++ % this.latencies.length] = latencyMs;
      job.resolve({ outputs: msg.outputs, computeMs: msg.computeMs, latencyMs });
    } else {
      this.breaker.failure(msg.message);
      job.reject(new FgError('FG_E_MODEL_RUN', `${this.opts.name}: run failed: ${msg.message}`));
    }
    this.afterSlotChange(slot);
  }

  private onCrash(slot: Slot, message: string): void {
    if (!this.slots.has(slot)) return;
    this.slots.delete(slot);
    this._crashes++;
    this.breaker.failure(`worker crashed: ${message}`);
    const jobs = [...slot.inFlight.values()];
    slot.inFlight.clear();
    this.opts.onEvent?.({ type: 'crash', worker: slot.id, message, inFlight: jobs.length });
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

  private pump(): void {
    while (this.pending.length > 0) {
      let best: Slot | undefined;
      for (const s of this.slots) {
        if (!s.ready || s.retiring || s.generation !== this.generation || s.inFlight.size >= this.perWorker) continue;
        if (!best || s.inFlight.size < best.inFlight.size) best = s;
      }
      if (!best) break;
      const job = this.pending.shift()!;
      const id = this.nextJobId++;
      let data: Float32Array;
      try {
        data = job.pack();
      } catch (e) {
        job.reject(e);
        continue;
      }
      best.inFlight.set(id, job);
      const msg: ToWorker = { t: 'run', id, rows: job.rows, data };
      best.worker.postMessage(msg, [data.buffer as ArrayBuffer]);
    }
    if (this.freeCapacity > 0 && this.capacityWaiters.length > 0) for (const w of this.capacityWaiters.splice(0)) w();
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
