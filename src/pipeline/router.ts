import type { Channel } from '../core/channel.ts';
import { errorCode, errorMessage } from '../core/errors.ts';
import { ReadableWatch } from '../core/select.ts';
import type { StageMetrics } from '../core/metrics.ts';
import type { ProbeResult } from '../core/probe.ts';
import { type SampleBatch, batchLength } from '../core/sample.ts';
import type { Logger } from '../log.ts';
import type { LoadReporter, ModelInput, OutboxWriter, OverloadControl, SinkLoad, Stage } from '../core/contracts.ts';

/**
 * Outbox writes in flight at once: enough to fill a group commit (outbox.commitRows, 1000 rows by
 * default, a batch being one row), bounded in batches and in samples so memory is too. (64 capped
 * the router at 64 batches per commit: ~51k samples/s with 50-sample polls, whatever the CPU.)
 */
const MAX_IN_FLIGHT = 2048;
const MAX_IN_FLIGHT_SAMPLES = 100_000;
/** a failing outbox is logged at most this often (every refusal is still counted) */
const REFUSAL_LOG_MS = 10_000;

/**
 * Fans in every source channel, hands each batch to the outbox (the durability point) and to
 * the models that use its tags. Source channels can be added and removed while it runs (reload).
 */
export class Router implements Stage, LoadReporter {
  readonly name = 'router';
  readonly kind = 'router' as const;
  private inputs: Channel<SampleBatch>[] = [];
  /** the idle wait for any input: one wake-up kept per input across waits (see ReadableWatch) */
  private readonly watch = new ReadableWatch<SampleBatch>();
  private loop?: Promise<void>;
  private readonly ctl = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();
  private inFlightSamples = 0;
  /** the route() waiting for a write to complete (one at a time: the loop routes in order) */
  private slot?: () => void;
  private lastError?: string;
  private lastBatchAt = 0;
  private routed = 0;
  private draining = false;
  private refusedSinceLog = 0;
  private lastRefusalLog = 0;
  /** for the overload rule: samples routed, the longest wait in a source channel since the last report */
  private routedSamples = 0;
  private samplesPerBatch = 1;
  private waitMax = 0;
  private lastWait = 0;
  private lastRoutedAt = performance.now();
  /** the overload rule's bound for the wait before the outbox (ms; 0: off): the pipeline sets it */
  shedAt = 0;
  /** the overload rule, which the router reports to while it runs */
  overload?: OverloadControl;
  private unregister?: () => void;

  constructor(
    private readonly outbox: OutboxWriter,
    private models: readonly ModelInput[],
    private readonly metrics: StageMetrics,
    private readonly log: Logger,
  ) {}

  addInput(ch: Channel<SampleBatch>): void {
    this.inputs.push(ch);
    this.watch.interrupt();
  }

  removeInput(ch: Channel<SampleBatch>): void {
    this.inputs = this.inputs.filter((c) => c !== ch);
    this.watch.forget(ch);
    this.watch.interrupt();
  }

  setModels(models: readonly ModelInput[]): void {
    this.models = models;
  }

  get batchesRouted(): number {
    return this.routed;
  }

  get lastBatchTime(): number {
    return this.lastBatchAt;
  }

  async start(): Promise<void> {
    this.ctl.signal.addEventListener('abort', () => {
      this.freeSlot();
      this.watch.interrupt();
    }, { once: true });
    this.loop = this.run(this.ctl.signal).finally(() => this.watch.clear());
    this.unregister = this.overload?.register(this);
  }

  /**
   * Ends once every input is closed and drained (sources stop first and close their channels),
   * then waits for the outbox writes in flight. Past the deadline it stops where it is.
   */
  async stop(deadlineMs: number): Promise<void> {
    this.unregister?.();
    this.unregister = undefined;
    this.draining = true;
    this.watch.interrupt();
    const timer = setTimeout(() => this.ctl.abort(new DOMException('router drain deadline', 'AbortError')), deadlineMs);
    try {
      await this.loop;
      await Promise.allSettled([...this.inFlight]);
    } finally {
      clearTimeout(timer);
    }
  }

  probe(): ProbeResult {
    const details = { inFlight: this.inFlight.size, batchesRouted: this.routed };
    if (this.lastError) return { state: 'degraded', reason: `outbox write failed: ${this.lastError}`, details };
    return { state: 'up', details };
  }

  /**
   * For the overload rule: when the pipeline itself cannot keep up (the main thread, the outbox),
   * polled batches wait in their source channels before anything is committed, a lag no sink
   * sees. Reported like a sink's: the longest wait of a batch routed since the last report
   * (growing while none is routed), samples routed as delivered, samples queued as backlog.
   */
  overloadReport(): SinkLoad | undefined {
    if (this.shedAt <= 0) return undefined;
    let queued = 0;
    for (const c of this.inputs) queued += c.depth;
    const now = performance.now();
    let lag = this.waitMax;
    if (lag === 0 && queued > 0) lag = this.lastWait + (now - this.lastRoutedAt);
    this.lastWait = lag;
    this.waitMax = 0;
    return { sink: 'router', shedAt: this.shedAt, lagMs: lag, acked: this.routedSamples, backlog: Math.round(queued * this.samplesPerBatch), lastAckAt: queued > 0 ? this.lastRoutedAt : now, queue: true };
  }

  private async run(signal: AbortSignal): Promise<void> {
    let next = 0;
    while (!signal.aborted) {
      const inputs = this.inputs;
      let got = false;
      let open = 0;
      for (let k = 0; k < inputs.length; k++) {
        const i = (next + k) % inputs.length;
        const ch = inputs[i]!;
        // up to 16 batches from one source before moving on, so none starves the others
        for (let n = 0; n < 16; n++) {
          const batch = ch.tryRecv();
          if (batch === undefined) break;
          got = true;
          const full = this.route(batch, signal);
          if (full) await full;
        }
        if (!ch.closed || ch.depth > 0) open++;
      }
      next = inputs.length ? (next + 1) % inputs.length : 0;
      if (got) continue;
      if (open === 0 && this.stopping(signal)) return;
      await this.idle(inputs, signal);
    }
  }

  /** True when there is nothing left to drain and no new input can come (stop was called). */
  private stopping(signal: AbortSignal): boolean {
    return signal.aborted || (this.draining && this.inputs.every((c) => c.closed && c.depth === 0));
  }

  /** Waits for any input to become readable, or for a change to the input list, or an abort. */
  private idle(inputs: Channel<SampleBatch>[], signal: AbortSignal): Promise<void> {
    return signal.aborted ? Promise.resolve() : this.watch.wait(inputs);
  }

  private freeSlot(): void {
    const wake = this.slot;
    this.slot = undefined;
    wake?.();
  }

  /** Hands a batch on; returns a promise only when it had to wait for room among the writes in flight. */
  private route(batch: SampleBatch, signal: AbortSignal): Promise<void> | undefined {
    if ((this.inFlight.size >= MAX_IN_FLIGHT || this.inFlightSamples >= MAX_IN_FLIGHT_SAMPLES) && !signal.aborted) return this.routeWhenRoom(batch, signal);
    this.routeNow(batch);
    return undefined;
  }

  private async routeWhenRoom(batch: SampleBatch, signal: AbortSignal): Promise<void> {
    // one waiter woken by the next completion (a race over every write in flight would add a
    // reaction to each of them per routed batch)
    while ((this.inFlight.size >= MAX_IN_FLIGHT || this.inFlightSamples >= MAX_IN_FLIGHT_SAMPLES) && !signal.aborted) {
      await new Promise<void>((r) => { this.slot = r; });
    }
    this.routeNow(batch);
  }

  private routeNow(batch: SampleBatch): void {
    const n = batchLength(batch);
    this.metrics.received(n);
    this.lastBatchAt = Date.now();
    const wait = this.lastBatchAt - batch.receivedAt;
    if (wait > this.waitMax) this.waitMax = wait;
    this.routedSamples += n;
    this.samplesPerBatch += (n - this.samplesPerBatch) / 16;
    this.lastRoutedAt = performance.now();
    this.routed++;
    for (const m of this.models) if (m.wants(batch.source)) m.offer(batch);
    this.inFlightSamples += n;
    const p: Promise<void> = this.outbox.writeSamples(batch).then(
      () => {
        this.inFlight.delete(p);
        this.inFlightSamples -= n;
        this.freeSlot();
        this.lastError = undefined;
        this.metrics.sent(n);
      },
      (err: unknown) => {
        this.inFlight.delete(p);
        this.inFlightSamples -= n;
        this.freeSlot();
        const code = errorCode(err);
        this.lastError = errorMessage(err);
        this.metrics.error(code);
        this.metrics.dropped(n, 'outbox-error');
        // every refused batch is counted; the log says so at most once per interval, not per batch
        this.refusedSinceLog++;
        const now = Date.now();
        if (now - this.lastRefusalLog >= REFUSAL_LOG_MS) {
          this.log.error({ code, err, source: batch.source, batches: this.refusedSinceLog }, 'outbox refused batches; their samples are dropped and counted');
          this.lastRefusalLog = now;
          this.refusedSinceLog = 0;
        }
      },
    );
    this.inFlight.add(p);
  }
}

