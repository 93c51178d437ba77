/**
 * One Modbus connection: opens TCP (our MBAP wire, tcp-port.ts), RTU over TCP or serial RTU
 * (modbus-serial, rtu-port.ts), and schedules reads. Requests wait in one queue per unit id and
 * are dispatched round-robin between units, so a device with many reads cannot starve its
 * neighbours; at most `maxInFlight` are outstanding (always 1 on a serial bus or RTU line), with
 * an optional pause between requests. Every read settles exactly once: with the response data
 * (exactly the bytes the request asked for), or a ReadError.
 */
import { FgError, errorMessage } from '../../src/core/errors.ts';
import { ReadError, frameError, type FunctionCode } from './answer.ts';
import type { Area } from './codec.ts';
import type { ModbusSourceConfig } from './config.ts';
import { DISCONNECTED, RtuWire, TIMEOUT } from './rtu-port.ts';
import { TcpWire, type Wire, type WireOwner } from './tcp-port.ts';

export { ReadError, DISCONNECTED, TIMEOUT };

/** Gets the response data, or the error; called exactly once, possibly synchronously. */
export type ReadCallback = (err: ReadError | undefined, data?: Buffer) => void;

/** Something wrong on the connection that is no read's answer (counted by the source). */
export type ProblemListener = (code: 'FG_E_MODBUS_FRAME', reason: string, unit: number | undefined) => void;

/**
 * One read on its way. A class, not an object literal: V8 pretenures a literal's allocation site
 * once most of its objects outlive a young-generation GC, which queued jobs do (a poll submits
 * all its reads at once). Measured here: every job was then born in the old generation, old-space
 * garbage grew by some 40 MB per 10 s, and incremental marking ran nearly all the time, with its
 * write barriers on every store; the driver's CPU per request swung between 20 and 46 us. `new`
 * of a class leaves no allocation site to pretenure.
 */
export class Job {
  settled = false;
  /** when it times out (performance.now() ms), set when written */
  deadline = 0;
  /** transaction id on Modbus TCP */
  tid = 0;

  constructor(
    readonly unit: number,
    readonly fc: FunctionCode,
    readonly start: number,
    readonly count: number,
    readonly timeout: number,
    public done: ReadCallback,
  ) {}
}

const FC: Record<Area, FunctionCode> = { coil: 1, discrete: 2, holding: 3, input: 4 };

export class ModbusLink implements WireOwner<Job> {
  private wire?: Wire<Job>;
  private open = false;
  /** queued jobs by unit id (0..255) */
  private readonly queues: (Job[] | undefined)[] = [];
  /** units with queued jobs, in round-robin order */
  private readonly ready: number[] = [];
  /** sent and not yet answered */
  private readonly inFlight = new Set<Job>();
  private readonly maxInFlight: number;
  private pumping = false;
  private again = false;
  private delayTimer?: NodeJS.Timeout;
  /** one timer for the request timeouts of the whole connection, armed for the earliest deadline */
  private timeoutTimer?: NodeJS.Timeout;
  private timeoutAt = Infinity;
  private closeListeners: ((why: string) => void)[] = [];
  /** requests sent since start */
  requests = 0;
  lastError?: string;
  /** told of stray answers (the source counts and logs them) */
  onProblem: ProblemListener = () => {};

  constructor(
    private readonly cfg: Pick<ModbusSourceConfig, 'connection' | 'requestDelay'>,
  ) {
    this.maxInFlight = cfg.connection.transport === 'tcp' ? cfg.connection.maxInFlight : 1;
  }

  get connected(): boolean {
    return this.open;
  }

  get describe(): string {
    const c = this.cfg.connection;
    return c.transport === 'rtu' ? `rtu:${c.path}` : `${c.transport}://${c.host}:${c.port}`;
  }

  /** Calls fn at the next connection loss (once). */
  onCloseOnce(fn: (why: string) => void): void {
    this.closeListeners.push(fn);
  }

  /** Opens the connection; throws FG_E_MODBUS_CONNECT. */
  async connect(signal: AbortSignal): Promise<void> {
    await this.close();
    const c = this.cfg.connection;
    let wire: Wire<Job>;
    try {
      if (c.transport === 'tcp') {
        wire = new TcpWire<Job>(await TcpWire.connect(c.host, c.port, c.connectTimeout, signal), this);
      } else {
        const opening = RtuWire.connect(c);
        let timer: NodeJS.Timeout | undefined;
        let onAbort: (() => void) | undefined;
        try {
          const client = await Promise.race([
            opening,
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => reject(new Error(`no connection within ${c.connectTimeout} ms`)), c.connectTimeout);
              onAbort = () => reject(signal.reason);
              signal.addEventListener('abort', onAbort, { once: true });
            }),
          ]);
          wire = new RtuWire<Job>(client, this, c.transport === 'rtu');
        } catch (e) {
          // a late open is closed again
          opening.then((client) => new RtuWire<Job>(client, this, c.transport === 'rtu').destroy(), () => {});
          throw e;
        } finally {
          clearTimeout(timer);
          if (onAbort) signal.removeEventListener('abort', onAbort);
        }
      }
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      const msg = errorMessage(e);
      this.lastError = msg;
      // a driver package that cannot load is no connection problem: its own code says so
      const code = e instanceof FgError && e.code === 'FG_E_PLUGIN_LOAD' ? e.code : 'FG_E_MODBUS_CONNECT';
      throw new FgError(code, `${this.describe}: ${msg}`, { cause: e });
    }
    this.wire = wire;
    this.open = true;
    this.lastError = undefined;
  }

  /** Queues a read; resolves with the response data (registers big-endian, or packed bits). */
  read(unit: number, area: Area, start: number, count: number, timeout: number): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      this.submit(unit, area, start, count, timeout, (err, data) => (err ? reject(err) : resolve(data!)));
    });
  }

  /**
   * The callback form of read, for the poll loop: no promise per request. `done` is called
   * exactly once, synchronously when the link is down.
   */
  submit(unit: number, area: Area, start: number, count: number, timeout: number, done: ReadCallback): void {
    if (!this.open) {
      done(DISCONNECTED);
      return;
    }
    const job = new Job(unit, FC[area], start, count, timeout, done);
    let q = this.queues[unit];
    if (!q) this.queues[unit] = q = [];
    if (q.length === 0) this.ready.push(unit);
    q.push(job);
    this.schedulePump();
  }

  /** Closes the connection and fails every queued or outstanding read. */
  async close(): Promise<void> {
    const wire = this.wire;
    this.wire = undefined;
    this.open = false;
    this.failAll(undefined);
    wire?.destroy();
  }

  // ---- WireOwner: what the wire reports -------------------------------------------------

  answer(job: Job, r: Buffer | ReadError): void {
    this.answered(job, r);
  }

  broken(why: string): void {
    this.drop(`${why}; connection dropped`, true);
  }

  closed(why: string): void {
    this.drop(why, false);
  }

  stray(reason: string, unit: number, late: boolean): void {
    if (!late) this.onProblem('FG_E_MODBUS_FRAME', reason, unit);
  }

  /**
   * The connection is gone (or given up: `suspect`, the stream cannot be trusted). Reads on the
   * wire fail with the reason when it was the stream's fault, queued ones as disconnected.
   */
  private drop(why: string, suspect: boolean): void {
    const wire = this.wire;
    if (!wire || !this.open) return;
    this.open = false;
    this.lastError = why;
    this.wire = undefined;
    this.failAll(suspect ? why : undefined);
    wire.destroy();
    const listeners = this.closeListeners;
    this.closeListeners = [];
    for (const fn of listeners) fn(why);
  }

  /** Fails every read: those on the wire with `suspect` (the stream's fault) if given, else as disconnected. */
  private failAll(suspect: string | undefined): void {
    clearTimeout(this.delayTimer);
    this.delayTimer = undefined;
    clearTimeout(this.timeoutTimer);
    this.timeoutTimer = undefined;
    this.timeoutAt = Infinity;
    const inFlight = [...this.inFlight];
    this.inFlight.clear();
    for (const job of inFlight) settle(job, suspect === undefined ? DISCONNECTED : frameError(suspect, job.fc, job.start, job.count));
    const queued = this.queues.splice(0);
    this.ready.length = 0;
    for (const q of queued) if (q) for (const job of q) settle(job, DISCONNECTED);
  }

  private pumpScheduled = false;
  /** answered reads whose callers have not been told yet: jobs and results, pairwise */
  private answers: (Job | Buffer | ReadError)[] = [];
  private readonly pumpLater = (): void => {
    this.pumpScheduled = false;
    this.pump();
    // the next request is on the wire before the callers decode the answers: the device works
    // on it while we decode, instead of waiting for us
    const answers = this.answers;
    if (answers.length === 0) return;
    this.answers = [];
    for (let i = 0; i < answers.length; i += 2) settle(answers[i] as Job, answers[i + 1] as Buffer | ReadError);
  };

  /**
   * Dispatches in a microtask, never from inside a caller's stack: a read submitted from a
   * response callback must not be written while modbus-serial is still handling that response
   * (its RTU ports reset their expected-frame state afterwards). Submits in one loop share it.
   */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(this.pumpLater);
  }

  private pump(): void {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    do {
      this.again = false;
      while (this.inFlight.size < this.maxInFlight && this.ready.length > 0 && !this.delayTimer) {
        const unit = this.ready.shift()!;
        const q = this.queues[unit]!;
        const job = q.shift()!;
        if (q.length > 0) this.ready.push(unit);
        this.dispatch(job);
      }
    } while (this.again);
    this.pumping = false;
  }

  private dispatch(job: Job): void {
    const wire = this.wire;
    if (!wire || !this.open) {
      settle(job, DISCONNECTED);
      return;
    }
    this.inFlight.add(job);
    this.requests++;
    job.deadline = performance.now() + job.timeout;
    if (job.deadline < this.timeoutAt) this.armTimeout(job.deadline);
    wire.send(job);
  }

  /**
   * Timeouts are the link's own: one timer per connection, re-armed only when it fires, for the
   * earliest deadline still outstanding.
   */
  private armTimeout(at: number): void {
    clearTimeout(this.timeoutTimer);
    this.timeoutAt = at;
    this.timeoutTimer = setTimeout(this.onTimeoutTimer, Math.max(1, Math.ceil(at - performance.now())));
  }

  private readonly onTimeoutTimer = (): void => {
    this.timeoutTimer = undefined;
    this.timeoutAt = Infinity;
    const wire = this.wire;
    if (!wire) return;
    const now = performance.now();
    let next = Infinity;
    let stalled: string | undefined;
    for (const job of [...this.inFlight]) {
      if (job.deadline <= now) {
        // an answer that began and stopped for a whole timeout: the stream is out of step
        if (stalled === undefined && wire.stalled(now) >= job.timeout) stalled = wire.describeStall();
        wire.forget(job);
        this.answered(job, stalled === undefined ? TIMEOUT : frameError(`${stalled}, then nothing for ${job.timeout} ms`, job.fc, job.start, job.count));
      } else if (job.deadline < next) next = job.deadline;
    }
    if (stalled !== undefined) {
      this.drop(`${stalled}; connection dropped`, true);
      return;
    }
    if (next < Infinity && next < this.timeoutAt) this.armTimeout(next);
  };

  /** One request is over: an answer (checked), an exception, or our timeout. */
  private answered(job: Job, r: Buffer | ReadError): void {
    if (!this.inFlight.delete(job)) return; // already failed by a disconnect, or timed out
    // RTU frames carry no transaction id: after a timeout, wait out a late answer and discard
    // it, or it could be taken for the answer to the next request
    const wire = this.wire;
    const quiet = r === TIMEOUT && wire instanceof RtuWire ? RTU_QUIET_MS : 0;
    const pause = Math.max(this.cfg.requestDelay, quiet);
    if (pause > 0) {
      this.delayTimer = setTimeout(() => {
        this.delayTimer = undefined;
        if (quiet > 0 && wire === this.wire) (wire as RtuWire<Job>).discardReceived();
        this.pump();
      }, pause);
    }
    // the next request goes out in a microtask (see schedulePump), and this answer is handed
    // over right after it
    this.answers.push(job, r);
    this.schedulePump();
  }
}

/** How long an RTU line is left quiet after a timeout before the next request. */
const RTU_QUIET_MS = 50;

const LET_GO: ReadCallback = () => {};

function settle(job: Job, r: Buffer | ReadError): void {
  if (job.settled) return;
  job.settled = true;
  const done = job.done;
  // the caller's callback closes over its poll (a whole batch of samples): let go of it, so that
  // nothing that still holds this job keeps a batch alive
  job.done = LET_GO;
  if (r instanceof ReadError) done(r);
  else done(undefined, r);
}
