/**
 * One Modbus connection on top of modbus-serial: opens TCP, RTU-over-TCP or serial RTU, and
 * schedules reads. Requests wait in one queue per unit id and are dispatched round-robin
 * between units, so a device with many reads cannot starve its neighbours; at most
 * `maxInFlight` are outstanding (always 1 on a serial bus or RTU line), with an optional pause
 * between requests. Every read settles exactly once: with the response data, or a ReadError.
 */
import type net from 'node:net';
import ModbusSerial from 'modbus-serial';
import type { ModbusRTU } from 'modbus-serial/ModbusRTU.js';
import { FgError, type ErrorCode, errorMessage } from '../../src/core/errors.ts';
import type { Area } from './codec.ts';
import { MbapPort } from './tcp-port.ts';
import type { ModbusSourceConfig } from './config.ts';

/** Why a read gave no data; `reason` is the sample's bad-quality reason. */
export class ReadError extends Error {
  constructor(
    readonly reason: string,
    readonly code: ErrorCode,
    /** Modbus exception code, when the device answered with one */
    readonly exception?: number,
  ) {
    super(reason);
    this.name = 'ReadError';
  }
}

export const DISCONNECTED = new ReadError('disconnected', 'FG_E_MODBUS_DISCONNECTED');
const TIMEOUT = new ReadError('timeout', 'FG_E_MODBUS_TIMEOUT');

type ReadResult = { buffer: Buffer };
/** Gets the response data, or the error; called exactly once, possibly synchronously. */
export type ReadCallback = (err: ReadError | undefined, data?: Buffer) => void;
type Callback = (err: unknown, res?: ReadResult) => void;

/**
 * One read on its way. A class, not an object literal: V8 pretenures a literal's allocation site
 * once most of its objects outlive a young-generation GC, which queued jobs do (a poll submits
 * all its reads at once). Measured here: every job was then born in the old generation, old-space
 * garbage grew by some 40 MB per 10 s, and incremental marking ran nearly all the time, with its
 * write barriers on every store; the driver's CPU per request swung between 20 and 46 us. `new`
 * of a class leaves no allocation site to pretenure.
 */
class Job {
  settled = false;
  /** when it times out (performance.now() ms), set when written */
  deadline = 0;
  /** modbus-serial's transaction id and record of it, to forget it once answered */
  tid: number | undefined = undefined;
  filed: object | undefined = undefined;

  constructor(
    readonly unit: number,
    readonly fc: 1 | 2 | 3 | 4,
    readonly start: number,
    readonly count: number,
    readonly timeout: number,
    public done: ReadCallback,
  ) {}
}

const FC: Record<Area, 1 | 2 | 3 | 4> = { coil: 1, discrete: 2, holding: 3, input: 4 };

interface ModbusErrorShape {
  modbusCode?: number;
  errno?: string;
  name?: string;
  message?: string;
}

/** Maps a modbus-serial error to the sample reason and error code. */
export function classify(e: unknown): ReadError {
  const err = (e ?? {}) as ModbusErrorShape;
  if (typeof err.modbusCode === 'number') return new ReadError(`exception ${err.modbusCode}`, 'FG_E_MODBUS_EXCEPTION', err.modbusCode);
  if (err.errno === 'ETIMEDOUT' || err.name === 'TransactionTimedOutError') return TIMEOUT;
  if (err.name === 'PortNotOpenError' || err.message === 'Port Not Open') return DISCONNECTED;
  return new ReadError(`decode error: ${err.message ?? String(e)}`, 'FG_E_MODBUS_DECODE');
}

export class ModbusLink {
  private client?: ModbusRTU;
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
    // Modbus TCP goes through our own port (see tcp-port.ts); the others through modbus-serial's
    const client = c.transport === 'tcp' ? new ModbusSerial.default(new MbapPort(c.host, c.port)) : new ModbusSerial.default();
    client.on('error', (e: unknown) => {
      this.lastError = errorMessage(e);
    });
    let opening: Promise<void>;
    switch (c.transport) {
      case 'tcp':
        opening = new Promise<void>((resolve, reject) => client.open((err: Error | null) => (err ? reject(err) : resolve())));
        break;
      case 'rtu-over-tcp':
        opening = client.connectTelnet(c.host, { port: c.port });
        break;
      case 'rtu':
        opening = client.connectRTUBuffered(c.path, { baudRate: c.baudRate, parity: c.parity, dataBits: c.dataBits, stopBits: c.stopBits });
        break;
    }
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      await Promise.race([
        opening,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no connection within ${c.connectTimeout} ms`)), c.connectTimeout);
          onAbort = () => reject(signal.reason);
          signal.addEventListener('abort', onAbort, { once: true });
        }),
      ]);
    } catch (e) {
      opening.catch(() => {});
      destroyClient(client);
      if (signal.aborted) throw signal.reason;
      const msg = errorMessage(e);
      this.lastError = msg;
      throw new FgError('FG_E_MODBUS_CONNECT', `${this.describe}: ${msg}`, { cause: e });
    } finally {
      clearTimeout(timer);
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
    this.client = client;
    this.open = true;
    this.lastError = undefined;
    const lost = (why: string) => this.lost(client, why);
    client.on('close', () => lost('connection closed'));
    // modbus-serial skips its 'close' event when the socket errored first (a reset): watch the socket too
    const socket = (client as unknown as { _port?: { _client?: net.Socket } })._port?._client;
    socket?.once('close', () => lost('connection closed'));
    socket?.once('error', (e) => lost(e.message));
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
    const client = this.client;
    this.client = undefined;
    this.open = false;
    this.failAll();
    if (client) destroyClient(client);
  }

  private lost(client: ModbusRTU, why: string): void {
    if (client !== this.client || !this.open) return;
    this.open = false;
    this.lastError = why;
    this.client = undefined;
    this.failAll();
    destroyClient(client);
    const listeners = this.closeListeners;
    this.closeListeners = [];
    for (const fn of listeners) fn(why);
  }

  private failAll(): void {
    clearTimeout(this.delayTimer);
    this.delayTimer = undefined;
    clearTimeout(this.timeoutTimer);
    this.timeoutTimer = undefined;
    this.timeoutAt = Infinity;
    const inFlight = [...this.inFlight];
    this.inFlight.clear();
    for (const job of inFlight) settle(job, DISCONNECTED);
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
    const client = this.client;
    if (!client || !this.open) {
      settle(job, DISCONNECTED);
      return;
    }
    this.inFlight.add(job);
    this.requests++;
    job.deadline = performance.now() + job.timeout;
    if (job.deadline < this.timeoutAt) this.armTimeout(job.deadline);
    job.tid = transactionId(client);
    // an unnamed arrow: tsx (esbuild keepNames) wraps every named function expression in
    // __name(), a defineProperty per request on this path
    this.write(client, job, (err, res) => this.answered(job, client, err === undefined || err === null ? undefined : classify(err), res));
    job.filed = filedTransaction(client, job.tid);
  }

  /**
   * Timeouts are ours, not modbus-serial's (its timeout is left unset, so it starts no timer):
   * it would set and clear a timer per request; this is one timer per connection, re-armed only
   * when it fires, for the earliest deadline still outstanding.
   */
  private armTimeout(at: number): void {
    clearTimeout(this.timeoutTimer);
    this.timeoutAt = at;
    this.timeoutTimer = setTimeout(this.onTimeoutTimer, Math.max(1, Math.ceil(at - performance.now())));
  }

  private readonly onTimeoutTimer = (): void => {
    this.timeoutTimer = undefined;
    this.timeoutAt = Infinity;
    const client = this.client;
    if (!client) return;
    const now = performance.now();
    let next = Infinity;
    for (const job of [...this.inFlight]) {
      if (job.deadline <= now) this.answered(job, client, TIMEOUT, undefined);
      else if (job.deadline < next) next = job.deadline;
    }
    if (next < Infinity && next < this.timeoutAt) this.armTimeout(next);
  };

  private write(client: ModbusRTU, job: Job, answer: Callback): void {
    switch (job.fc) {
      case 1: client.writeFC1(job.unit, job.start, job.count, answer); break;
      case 2: client.writeFC2(job.unit, job.start, job.count, answer); break;
      case 3: client.writeFC3(job.unit, job.start, job.count, answer); break;
      case 4: client.writeFC4(job.unit, job.start, job.count, answer); break;
    }
  }

  /** One request is over: an answer, an exception (from modbus-serial), or our timeout. */
  private answered(job: Job, client: ModbusRTU, failed: ReadError | undefined, res: ReadResult | undefined): void {
    // a late answer then finds no transaction and is ignored
    forgetTransaction(client, job.tid, job.filed);
    if (!this.inFlight.delete(job)) return; // already failed by a disconnect, or timed out
    // RTU frames carry no transaction id: after a timeout, wait out a late answer and discard
    // it, or it could be taken for the answer to the next request
    const quiet = failed === TIMEOUT && this.maxInFlight === 1 && this.cfg.connection.transport !== 'tcp' ? RTU_QUIET_MS : 0;
    const pause = Math.max(this.cfg.requestDelay, quiet);
    if (pause > 0) {
      this.delayTimer = setTimeout(() => {
        this.delayTimer = undefined;
        if (quiet > 0) discardReceived(client);
        this.pump();
      }, pause);
    }
    // the next request goes out in a microtask (see schedulePump), and this answer is handed
    // over right after it
    this.answers.push(job, failed ?? res!.buffer);
    this.schedulePump();
  }
}

/** How long an RTU line is left quiet after a timeout before the next request. */
const RTU_QUIET_MS = 50;

/** Drops bytes modbus-serial's RTU ports buffered so far (a late or partial frame). */
function discardReceived(client: ModbusRTU): void {
  const port = (client as unknown as { _port?: { _buffer?: Buffer } })._port;
  if (port && Buffer.isBuffer(port._buffer)) port._buffer = Buffer.alloc(0);
}

interface Transactions {
  _transactions?: Record<number, object | undefined>;
  _port?: { _transactionIdWrite?: number };
}

/** The id modbus-serial files the next request under (TCP ports count 0..255; RTU ports have none). */
function transactionId(client: ModbusRTU): number | undefined {
  return (client as unknown as Transactions)._port?._transactionIdWrite;
}

/** modbus-serial's record of the request just written under `id` (none if it refused it at once). */
function filedTransaction(client: ModbusRTU, id: number | undefined): object | undefined {
  return (client as unknown as Transactions)._transactions?.[id ?? (undefined as unknown as number)];
}

/**
 * modbus-serial keeps every transaction (and our callback) until its id comes round again, 256
 * requests later on TCP: long enough to outlive a young-generation GC, so each one was copied and
 * promoted, and GC cost more CPU per request than the driver's own work. Once answered (or timed
 * out) it is of no further use: a late answer finds no transaction and is ignored, as it was
 * after a timeout anyway.
 */
function forgetTransaction(client: ModbusRTU, id: number | undefined, filed: object | undefined): void {
  const t = (client as unknown as Transactions)._transactions;
  const key = id ?? (undefined as unknown as number); // RTU ports file every request under "undefined"
  if (filed && t && t[key] === filed) delete t[key];
}

const LET_GO: ReadCallback = () => {};

function settle(job: Job, r: Buffer | ReadError): void {
  if (job.settled) return;
  job.settled = true;
  const done = job.done;
  // the caller's callback closes over its poll (a whole batch of samples): let go of it, so that
  // nothing that still holds this job (see forgetTransaction) keeps a batch alive
  job.done = LET_GO;
  if (r instanceof ReadError) done(r);
  else done(undefined, r);
}

function destroyClient(client: ModbusRTU): void {
  try {
    const port = (client as unknown as { _port?: { destroy?: unknown; isOpen?: boolean } })._port;
    // destroy() also cancels modbus-serial's pending timeout timers; a serial port has no
    // destroy(), so it is closed afterwards
    client.destroy(() => {});
    if (port && typeof port.destroy !== 'function' && port.isOpen) client.close(() => {});
  } catch {
    // closing a half-open port can throw; the handle is gone either way
  }
}
