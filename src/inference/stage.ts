import { createHash } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { Channel } from '../core/channel.ts';
import { FgError, errorCode, errorMessage } from '../core/errors.ts';
import type { StageMetrics } from '../core/metrics.ts';
import type { ProbeResult } from '../core/probe.ts';
import type { GatewayEvent, Prediction, SampleBatch } from '../core/sample.ts';
import type { ModelInput, OutboxWriter, Stage, StageContext } from '../core/contracts.ts';
import type { ModelConfig } from './config.ts';
import { type PoolEvent, type RunResult, WorkerPool } from './pool.ts';
import { checkSignature, mismatchMessage, rowDims } from './signature.ts';
import { ThresholdTracker } from './thresholds.ts';
import { type Window, WindowAssembler } from './window.ts';

/** How often the pool's size is reconsidered (the config's cooldown spaces actual changes). */
const AUTOSCALE_TICK_MS = 1_000;
/** A changed model file settles this long before it is loaded (editors and copies write in steps). */
const SWAP_DEBOUNCE_MS = 250;

export async function sha256File(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

/**
 * One model in the pipeline: window assembler -> bounded request channel (drop-oldest) ->
 * micro-batcher -> worker pool -> predictions and threshold events to the outbox.
 */
export class ModelStage implements Stage, ModelInput {
  readonly name: string;
  readonly kind = 'model' as const;
  readonly metrics: StageMetrics;
  private readonly cfg: ModelConfig;
  private readonly outbox: OutboxWriter;
  private readonly ctx: StageContext;
  private readonly file: string;
  private readonly assembler: WindowAssembler;
  private readonly requests: Channel<Window>;
  private readonly tracker: ThresholdTracker;
  private readonly rowSize: number;
  private pool?: WorkerPool;
  private loopDone?: Promise<void>;
  private readonly abort = new AbortController();
  /** results are handled in dispatch order, so events and hysteresis see predictions in time order */
  private tail: Promise<void> = Promise.resolve();
  private readonly writes = new Set<Promise<void>>();
  private autoscaleTimer?: NodeJS.Timeout;
  private watcher?: FSWatcher;
  private swapTimer?: NodeJS.Timeout;
  private swapping: Promise<void> = Promise.resolve();
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  private sha = '';
  private generation = 0;
  private readonly dropped: Record<string, number> = {};
  private predictions = 0;
  private events = 0;
  private lastError?: string;
  private readonly recentBatches: number[] = [];

  constructor(cfg: ModelConfig, outbox: OutboxWriter, ctx: StageContext) {
    this.cfg = cfg;
    this.outbox = outbox;
    this.ctx = ctx;
    this.name = `model.${cfg.id}`;
    this.metrics = ctx.metrics.stage(this.name);
    this.file = ctx.resolvePath(cfg.path);
    this.assembler = new WindowAssembler(cfg.input);
    this.requests = new Channel<Window>({ name: `${this.name}.requests`, capacity: cfg.batching.queue, whenFull: 'drop-oldest' });
    this.tracker = new ThresholdTracker(cfg.id, cfg.thresholds);
    this.rowSize = rowDims(cfg).reduce((a, b) => a * b, 1);
  }

  wants(source: string): boolean {
    return this.assembler.wants(source);
  }

  /** Hands a batch to the window assembler; never waits. Windows beyond the queue drop the oldest. */
  offer(batch: SampleBatch): void {
    if (this.state !== 'running') {
      this.drop(1, 'not-running');
      return;
    }
    const c = this.assembler.counts;
    const before = { bad: c.badSamples, skipped: c.skippedWindows, ooo: c.outOfOrder };
    const windows = this.assembler.push(batch);
    if (c.badSamples > before.bad) this.drop(c.badSamples - before.bad, 'bad-quality-sample');
    if (c.skippedWindows > before.skipped) this.drop(c.skippedWindows - before.skipped, 'window-skipped-bad');
    if (c.outOfOrder > before.ooo) this.drop(c.outOfOrder - before.ooo, 'out-of-order');
    if (windows.length === 0) return;
    this.metrics.received(windows.length);
    let overflow = 0;
    for (const w of windows) {
      if (this.requests.depth === this.requests.capacity) overflow++;
      this.requests.trySend(w);
    }
    if (overflow > 0) this.drop(overflow, 'queue-full');
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new FgError('FG_E_PIPELINE_START', `${this.name}: start() called twice`);
    this.sha = await this.checkFile();
    const pool = new WorkerPool({
      name: this.name,
      modelPath: this.file,
      inputName: this.cfg.input.name,
      rowDims: rowDims(this.cfg),
      outputNames: this.cfg.outputs.map((o) => o.name),
      intraOpNumThreads: this.cfg.workers.intraOpNumThreads,
      merge: this.cfg.workers.merge,
      workerNice: this.cfg.workers.nice,
      min: this.cfg.workers.min,
      max: this.cfg.workers.max,
      targetP99Ms: this.cfg.workers.targetP99,
      cooldownMs: this.cfg.workers.cooldown,
      breaker: {
        failureRate: this.cfg.breaker.failureRate, minCalls: this.cfg.breaker.minCalls,
        windowMs: this.cfg.breaker.window, cooldownMs: this.cfg.breaker.cooldown,
      },
      check: (sig) => {
        const problems = checkSignature(this.cfg, sig);
        return problems.length > 0 ? mismatchMessage(this.cfg, this.file, problems) : undefined;
      },
      onEvent: (e) => this.onPoolEvent(e),
    });
    await pool.start();
    this.pool = pool;
    this.ctx.metrics.watchChannel(this.requests);
    this.state = 'running';
    this.loopDone = this.loop(this.abort.signal);
    this.autoscaleTimer = setInterval(() => pool.autoscale(this.requests.depth), AUTOSCALE_TICK_MS);
    this.autoscaleTimer.unref();
    if (this.cfg.watch) this.watchFile();
    this.ctx.log.info({ stage: this.name, path: this.file, sha256: this.sha, workers: pool.workers }, 'model loaded');
  }

  async stop(deadlineMs: number): Promise<void> {
    if (this.state === 'stopped' || this.state === 'new') {
      this.state = 'stopped';
      return;
    }
    this.state = 'stopping';
    const end = performance.now() + deadlineMs;
    this.watcher?.close();
    this.watcher = undefined;
    if (this.swapTimer) clearTimeout(this.swapTimer);
    if (this.autoscaleTimer) clearInterval(this.autoscaleTimer);
    await this.swapping;
    // the loop drains what is queued, then ends on the closed channel
    this.requests.close();
    const left = () => Math.max(0, end - performance.now());
    const timedOut = await raceTimeout(this.loopDone ?? Promise.resolve(), left());
    if (timedOut) this.abort.abort(new FgError('FG_E_ABORTED', `${this.name}: stop deadline`));
    await this.pool?.stop(left());
    await this.loopDone;
    await this.tail;
    await raceTimeout(Promise.allSettled([...this.writes]), left());
    const rest = this.requests.drain();
    if (rest.length > 0) this.drop(rest.length, 'stopped');
    this.ctx.metrics.unwatchChannel(this.requests);
    this.state = 'stopped';
  }

  probe(): ProbeResult {
    const pool = this.pool;
    const details: Record<string, unknown> = {
      path: this.file, sha256: this.sha, generation: this.generation,
      workers: pool?.workers ?? 0, queue: this.requests.depth, queueCapacity: this.requests.capacity,
      inFlight: pool?.inFlight ?? 0, p99Ms: pool?.p99() ?? 0, crashes: pool?.crashes ?? 0, retries: pool?.retries ?? 0,
      breaker: pool?.breaker.state ?? 'closed', predictions: this.predictions, events: this.events,
      dropped: { ...this.dropped }, assembler: { ...this.assembler.counts }, raised: this.tracker.raised(),
    };
    if (this.state !== 'running' || !pool) return { state: 'down', reason: `model ${this.cfg.id} is not running`, details };
    if (pool.breaker.state === 'open') {
      const at = pool.breaker.retryAt;
      return {
        state: 'degraded',
        reason: `model ${this.cfg.id}: circuit breaker open after repeated failures (${pool.breaker.lastFailure ?? 'unknown'}); predictions paused${at ? ` until ${new Date(at).toISOString()}` : ''}, ingestion continues`,
        details,
      };
    }
    if (pool.workers === 0) return { state: 'degraded', reason: `model ${this.cfg.id}: no worker running (being replaced)`, details };
    if (this.lastError) return { state: 'up', reason: `last error: ${this.lastError}`, details };
    return { state: 'up', details };
  }

  /** Loads the model file again (after a change on disk) into fresh workers, switching between batches. */
  reload(): Promise<void> {
    const next = this.swapping.then(() => this.doSwap());
    this.swapping = next.catch(() => undefined);
    return next;
  }

  /** sizes of the last batches run (up to 256), oldest first */
  batchSizes(): number[] {
    return this.recentBatches.slice();
  }

  /** the pool, for diagnostics and tests */
  get workerPool(): WorkerPool | undefined {
    return this.pool;
  }

  // ---- internals ------------------------------------------------------------------------

  private async checkFile(): Promise<string> {
    let sha: string;
    try {
      sha = await sha256File(this.file);
    } catch (e) {
      throw new FgError('FG_E_MODEL_LOAD', `model ${this.cfg.id}: cannot read ${this.file}: ${errorMessage(e)}`, { cause: e });
    }
    if (this.cfg.sha256 && this.cfg.sha256 !== sha) {
      throw new FgError('FG_E_MODEL_MISMATCH', `model ${this.cfg.id} (${this.file}): the file has sha256 ${sha}; the config pins ${this.cfg.sha256}`);
    }
    return sha;
  }

  private async doSwap(): Promise<void> {
    if (this.state !== 'running' || !this.pool) return;
    let sha: string;
    try {
      sha = await this.checkFile();
    } catch (e) {
      this.fail(e, 'model file change refused; the previous model keeps running');
      throw e;
    }
    if (sha === this.sha) return;
    try {
      await this.pool.swap(this.file);
    } catch (e) {
      this.fail(e, 'model file change refused; the previous model keeps running');
      throw e;
    }
    this.sha = sha;
    this.generation++;
    this.ctx.log.info({ stage: this.name, sha256: sha, generation: this.generation }, 'model swapped');
  }

  private watchFile(): void {
    const dir = dirname(this.file);
    const name = basename(this.file);
    try {
      // the folder, not the file: a model replaced by rename gets a new inode
      this.watcher = watch(dir, { persistent: false }, (_ev, f) => {
        if (f !== null && f !== name) return;
        if (this.swapTimer) clearTimeout(this.swapTimer);
        this.swapTimer = setTimeout(() => {
          this.swapTimer = undefined;
          this.reload().catch(() => undefined);
        }, SWAP_DEBOUNCE_MS);
      });
      this.watcher.on('error', (e) => this.fail(e, 'model file watch failed; hot swap is off'));
    } catch (e) {
      this.fail(e, 'model file watch failed; hot swap is off');
    }
  }

  private async loop(signal: AbortSignal): Promise<void> {
    const { maxBatch, maxWait } = this.cfg.batching;
    const pool = this.pool!;
    const writeLimit = Math.max(4, this.cfg.workers.max * 4);
    for (;;) {
      try {
        await this.requests.readable(signal);
        await pool.whenCapacity();
        while (this.writes.size >= writeLimit) await Promise.race(this.writes);
      } catch {
        return; // aborted
      }
      if (signal.aborted) return;
      const batch = this.requests.drain(maxBatch);
      if (batch.length === 0) {
        if (this.requests.closed) return;
        continue;
      }
      if (batch.length < maxBatch && maxWait > 0 && !this.requests.closed) {
        const until = batch[0]!.assembledAt + maxWait;
        while (batch.length < maxBatch && !this.requests.closed) {
          const left = until - performance.now();
          if (left <= 0 || !(await this.waitReadable(left, signal))) break;
          this.requests.drain(maxBatch - batch.length, batch);
        }
      }
      const now = performance.now();
      const fresh = batch.filter((w) => now - w.assembledAt <= this.cfg.deadline);
      if (fresh.length < batch.length) {
        for (const w of batch) if (now - w.assembledAt > this.cfg.deadline) this.assembler.buffers.give(w.data);
        this.drop(batch.length - fresh.length, 'deadline');
        this.metrics.error('FG_E_MODEL_DEADLINE');
      }
      if (fresh.length > 0) this.dispatch(fresh);
    }
  }

  /** Waits up to `ms` for a queued value; false on timeout. Clears its own timer. */
  private async waitReadable(ms: number, outer: AbortSignal): Promise<boolean> {
    const ac = new AbortController();
    const onOuter = () => ac.abort();
    outer.addEventListener('abort', onOuter, { once: true });
    const timer = setTimeout(() => ac.abort(), ms);
    try {
      await this.requests.readable(ac.signal);
      return true;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
      outer.removeEventListener('abort', onOuter);
    }
  }

  private dispatch(windows: Window[]): void {
    const rows = windows.length;
    if (this.recentBatches.push(rows) > 256) this.recentBatches.shift();
    const size = this.rowSize;
    // windows are written straight into the buffer their group travels in: no copy per batch
    const run = this.pool!.run(rows, (into) => {
      for (let i = 0; i < rows; i++) into.set(windows[i]!.data, i * size);
    });
    run.catch(() => undefined); // handled in order below
    this.tail = this.tail.then(() => run.then((r) => this.handle(windows, r), (e: unknown) => this.handleError(rows, e)))
      .finally(() => {
        // the batch has run (or failed for good): its window buffers go back to the assembler
        for (const w of windows) this.assembler.buffers.give(w.data);
      });
  }

  private handle(windows: Window[], r: RunResult): void {
    const rows = windows.length;
    const now = performance.now();
    const preds = new Array<Prediction>(rows);
    const perRow = this.cfg.outputs.map((o) => (r.outputs[o.name]?.length ?? 0) / rows);
    const events: GatewayEvent[] = [];
    for (let i = 0; i < rows; i++) {
      const outputs: Record<string, number> = {};
      this.cfg.outputs.forEach((o, k) => {
        outputs[o.field ?? o.name] = r.outputs[o.name]![i * perRow[k]! + o.index]!;
      });
      const w = windows[i]!;
      const p: Prediction = { model: this.cfg.id, ts: w.ts, outputs, latencyMs: now - w.assembledAt };
      preds[i] = p;
      this.tracker.evaluate(p, events);
    }
    this.predictions += rows;
    this.events += events.length;
    const write = (async () => {
      await this.outbox.writePredictions(preds);
      if (events.length > 0) await this.outbox.writeEvents(events);
      this.metrics.sent(rows);
    })().catch((e: unknown) => this.fail(e, 'writing predictions to the outbox failed'));
    this.writes.add(write);
    void write.finally(() => this.writes.delete(write));
  }

  private handleError(rows: number, e: unknown): void {
    const code = errorCode(e);
    const reason = code === 'FG_E_BREAKER_OPEN' ? 'breaker-open' : code === 'FG_E_ABORTED' ? 'stopped' : 'model-error';
    this.drop(rows, reason);
    this.metrics.error(code);
    if (code !== 'FG_E_BREAKER_OPEN' && code !== 'FG_E_ABORTED') this.fail(e, 'model run failed');
  }

  private onPoolEvent(e: PoolEvent): void {
    if (e.type === 'crash') {
      this.metrics.error('FG_E_WORKER_CRASHED');
      this.lastError = `worker crashed: ${e.message}`;
      this.ctx.log.warn({ stage: this.name, code: 'FG_E_WORKER_CRASHED', worker: e.worker, inFlight: e.inFlight }, `inference worker crashed: ${e.message}`);
    } else if (e.type === 'scale') {
      this.ctx.log.info({ stage: this.name, from: e.from, to: e.to, why: e.why }, 'inference pool resized');
    } else if (e.type === 'retry') {
      this.ctx.log.info({ stage: this.name, batches: e.jobs }, 'retrying batches of a crashed worker');
    }
  }

  private fail(e: unknown, what: string): void {
    const code = errorCode(e);
    this.lastError = `${code}: ${errorMessage(e)}`;
    this.metrics.error(code);
    this.ctx.log.error({ stage: this.name, code, err: errorMessage(e) }, what);
  }

  private drop(n: number, reason: string): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + n;
    this.metrics.dropped(n, reason);
  }
}

/** true when the deadline passed first */
async function raceTimeout(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), ms)));
  try {
    return await Promise.race([p.then(() => false), t]);
  } finally {
    clearTimeout(timer);
  }
}
