/**
 * The Modbus TCP wire: one socket, requests framed with MBAP (mbap.ts), answers matched to their
 * request by transaction id and checked strictly (answer.ts) before the link sees their data.
 * It speaks the protocol itself, on Node's `net` only: modbus-serial turns every MBAP answer into
 * an RTU frame and drops the header, so protocol id and byte count could not be checked through
 * it, and matching answers needed its private fields.
 *
 * - a frame whose protocol id is not 0 or whose length is outside 2..254: the stream is not
 *   Modbus TCP or is out of step; the wire reports it broken and the link drops the connection;
 * - an answer with the wrong unit id, function code or byte count: that read fails with the
 *   reason (FG_E_MODBUS_FRAME); the MBAP length delimited it, so the stream is still in step;
 * - an answer whose transaction id matches no request: counted and ignored (a late answer to a
 *   request that already timed out is only logged at debug).
 */
import net from 'node:net';
import { checkAnswer, type FunctionCode, type ReadError } from './answer.ts';
import { MbapReader, mbapRequest } from './mbap.ts';

/** What a wire needs of the link's jobs. */
export interface WireJob {
  readonly unit: number;
  readonly fc: FunctionCode;
  readonly start: number;
  readonly count: number;
  tid: number;
}

/** How a wire reports to its link. */
export interface WireOwner<J extends WireJob> {
  answer(job: J, r: Buffer | ReadError): void;
  /** the stream cannot be trusted any more: drop the connection */
  broken(why: string): void;
  /** the connection closed */
  closed(why: string): void;
  /** an answer no request is waiting for */
  stray(reason: string, unit: number, late: boolean): void;
}

/** The link's view of a transport. */
export interface Wire<J extends WireJob> {
  send(job: J): void;
  /** the job timed out: a later answer to it is late, not stray */
  forget(job: J): void;
  /** how long an unfinished answer has been waiting (ms), 0 if none; and its description */
  stalled(now: number): number;
  describeStall(): string;
  destroy(): void;
}

const LATE_RING = 16;

export class TcpWire<J extends WireJob> implements Wire<J> {
  private readonly reader = new MbapReader();
  private readonly pending = new Map<number, J>();
  private nextTid = 1;
  /** transaction ids that timed out recently */
  private readonly late = new Int32Array(LATE_RING).fill(-1);
  private lateN = 0;
  /** destroyed: reports nothing more (its late events must not touch the link's next wire) */
  private dead = false;
  private readonly onFrame = (tid: number, unit: number, pdu: Buffer): void => {
    if (this.dead) return;
    const job = this.pending.get(tid);
    if (job === undefined) {
      const late = this.late.includes(tid);
      this.owner.stray(`answer with transaction id ${tid} matches no outstanding request`, unit, late);
      return;
    }
    this.pending.delete(tid);
    this.owner.answer(job, checkAnswer(job.unit, job.fc, job.start, job.count, unit, pdu));
  };

  constructor(
    private readonly socket: net.Socket,
    private readonly owner: WireOwner<J>,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      if (this.dead) return;
      const why = this.reader.push(chunk, this.onFrame);
      if (why !== undefined && !this.dead) owner.broken(why);
    });
    socket.on('error', (e) => this.dead || owner.closed(e.message));
    socket.on('close', () => this.dead || owner.closed('connection closed'));
  }

  /** Opens the socket; rejects with the socket error, or `timeout` after `ms`. */
  static connect(host: string, port: number, ms: number, signal: AbortSignal): Promise<net.Socket> {
    return new Promise<net.Socket>((resolve, reject) => {
      const socket = net.connect({ host, port });
      const done = (err?: Error) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        socket.off('connect', onConnect);
        socket.off('error', done);
        if (err) {
          socket.destroy();
          reject(err);
        } else resolve(socket);
      };
      const onConnect = () => done();
      const onAbort = () => done(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      const timer = setTimeout(() => done(new Error(`no connection within ${ms} ms`)), ms);
      socket.once('connect', onConnect);
      socket.once('error', done);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  send(job: J): void {
    const tid = this.nextTid;
    this.nextTid = tid === 0xffff ? 1 : tid + 1;
    job.tid = tid;
    this.pending.set(tid, job);
    this.socket.write(mbapRequest(tid, job.unit, job.fc, job.start, job.count));
  }

  forget(job: J): void {
    if (this.pending.get(job.tid) !== job) return;
    this.pending.delete(job.tid);
    this.late[this.lateN++ % LATE_RING] = job.tid;
  }

  stalled(now: number): number {
    const since = this.reader.partialSince;
    return since === 0 ? 0 : now - since;
  }

  describeStall(): string {
    const want = this.reader.expected;
    return `an answer stopped after ${this.reader.buffered}${want > 0 ? ` of ${want}` : ''} bytes`;
  }

  destroy(): void {
    this.dead = true;
    this.pending.clear();
    this.socket.destroy();
  }
}
