import { CircuitBreaker } from '../core/breaker.ts';
import { FgError, errorMessage } from '../core/errors.ts';
import type { FromWorker, Signature, ToWorker, WorkerInit } from './protocol.ts';
import { decideScale, pipelineDepth } from './pool/autoscale.ts';
import { BufferPool } from './pool/buffers.ts';
import { type Job, leastLoaded, groupSize, packGroup, type Pack, type RunResult, sliceOutputs } from './pool/dispatch.ts';
import { LatencyWindow } from './pool/latency.ts';
import { closeSlot, DEFAULT_NICE, type Slot, spawnSlot } from './pool/workers.ts';
import type { Worker } from 'node:worker_threads';

export type { Pack, RunResult } from './pool/dispatch.ts';

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
  private readonly latencies = new LatencyWindow(256);
  private capacityWaiters: (() => void)[] = [];
  private flushImmediate?: NodeJS.Immediate;
  /** input buffers returned by workers, reused by later groups: no allocation per group when busy */
  private readonly buffers = new BufferPool();
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
    return pipelineDepth(this.computeAvg, this.opts.inFlightPerWorker);
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
    return this.latencies.p99();
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
    if (this.stopping) return;
    const n = this.workers;
    const decision = decideScale({
      workers: n, min: this.opts.min, max: this.opts.max, backlog: upstreamDepth + this.pending.length,
      inFlight: this.inFlight, perWorker: this.perWorker, p99: this.p99(), targetP99Ms: this.opts.targetP99Ms,
      sinceLastMs: now - this.lastScale, cooldownMs: this.opts.cooldownMs,
    });
    if (!decision) return;
    const { to, why } = decision;
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
    const id = this.nextSlotId++;
    return spawnSlot({
      id, name: `${this.opts.name}-w${id}`, generation, init, check: this.opts.check,
      onCreated: (slot) => this.slots.add(slot),
      onLoadFailed: (slot) => this.slots.delete(slot),
      onReady: () => this.pump(),
      onMessage: (slot, msg) => this.onResult(slot, msg),
      onCrash: (slot, message) => this.onCrash(slot, message),
    });
  }

  private onResult(slot: Slot, msg: FromWorker): void {
    if (msg.t !== 'done') return;
    this.buffers.give(msg.input);
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
      const outputs = sliceOutputs(names, msg.outputs, o.lengths, offsets);
      this.computeAvg = this.computeAvg === 0 ? o.computeMs : this.computeAvg * 0.95 + o.computeMs * 0.05;
      if (!job) continue;
      this.breaker.success();
      const latencyMs = now - job.queuedAt;
      this.latencies.add(latencyMs);
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
      const best = leastLoaded(this.slots, this.generation, depth);
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
    const most = groupSize(this.perWorker);
    for (const slot of this.slots) {
      while (slot.unsent.length > 0) this.send(slot, slot.unsent.splice(0, most));
    }
  }

  /** Posts one group, packed into one buffer right before transfer (see packGroup). */
  private send(slot: Slot, ids: number[]): void {
    const entries: { id: number; job: Job }[] = [];
    for (const id of ids) {
      const job = slot.inFlight.get(id);
      if (job) entries.push({ id, job });
    }
    const { data, jobs, failed } = packGroup(entries, this.rowSize, this.buffers, this.opts.name);
    for (const f of failed) {
      const job = slot.inFlight.get(f.id);
      slot.inFlight.delete(f.id);
      job?.reject(f.error);
    }
    if (jobs.length === 0) {
      this.buffers.give(data.buffer as ArrayBuffer);
      this.afterSlotChange(slot);
      return;
    }
    const msg: ToWorker = { t: 'run', jobs, data };
    slot.worker.postMessage(msg, [data.buffer as ArrayBuffer]);
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
    await closeSlot(slot);
  }

  /** Closes every worker; waits for batches still running (a native run cannot be interrupted). */
  private async terminateAll(): Promise<void> {
    const all = [...this.slots];
    for (const s of all) s.retiring = true;
    while (all.some((s) => s.inFlight.size > 0 && this.slots.has(s))) await sleep(5);
    await Promise.all(all.filter((s) => this.slots.has(s)).map((s) => this.close(s)));
  }
}
