/**
 * Modbus TCP framing, client side. MBAP header: transaction id (2) | protocol id (2, always 0) |
 * length (2: the bytes that follow, unit id and PDU) | unit id (1); then the PDU.
 * A length outside 2..254 (a PDU is at most 253 bytes) or a protocol id other than 0 means the
 * stream is not Modbus TCP or is out of step: nothing after it can be trusted.
 */

export const MIN_LENGTH = 2;
export const MAX_LENGTH = 254;
const HEADER = 6;

/** A read request (function 1-4) framed for Modbus TCP. */
export function mbapRequest(tid: number, unit: number, fc: number, start: number, count: number): Buffer {
  const b = Buffer.allocUnsafe(12);
  b.writeUInt16BE(tid, 0);
  b.writeUInt16BE(0, 2);
  b.writeUInt16BE(6, 4);
  b[6] = unit;
  b[7] = fc;
  b.writeUInt16BE(start, 8);
  b.writeUInt16BE(count, 10);
  return b;
}

export type OnFrame = (tid: number, unit: number, pdu: Buffer) => void;

/** Splits the byte stream of one connection into frames; reads only inside what it was given. */
export class MbapReader {
  /** bytes of a frame that arrived split across chunks */
  private rest: Buffer | undefined = undefined;
  /** when the unfinished frame began (performance.now() ms); 0 when there is none */
  partialSince = 0;
  /** set once the stream broke: why */
  broken: string | undefined = undefined;

  /** Bytes of an unfinished frame held back. */
  get buffered(): number {
    return this.rest?.length ?? 0;
  }

  /** Length the unfinished frame announced (0 if not even its header is here). */
  get expected(): number {
    const r = this.rest;
    return r && r.length >= HEADER ? HEADER + r.readUInt16BE(4) : 0;
  }

  /**
   * Hands every complete frame to onFrame (`pdu` is a view: function code onwards). Returns
   * undefined, or why the stream cannot be trusted (then it keeps returning that).
   */
  push(chunk: Buffer, onFrame: OnFrame): string | undefined {
    if (this.broken) return this.broken;
    let buf = chunk;
    if (this.rest) {
      buf = Buffer.concat([this.rest, chunk]);
      this.rest = undefined;
    }
    let off = 0;
    while (buf.length - off >= HEADER) {
      const proto = buf.readUInt16BE(off + 2);
      const length = buf.readUInt16BE(off + 4);
      if (proto !== 0) return this.break(`protocol id ${proto}, expected 0 (transaction id ${buf.readUInt16BE(off)})`);
      if (length < MIN_LENGTH || length > MAX_LENGTH) return this.break(`MBAP length ${length}, expected ${MIN_LENGTH}..${MAX_LENGTH}`);
      if (buf.length - off < HEADER + length) break;
      const tid = buf.readUInt16BE(off);
      const unit = buf[off + HEADER]!;
      const pdu = buf.subarray(off + HEADER + 1, off + HEADER + length);
      off += HEADER + length;
      onFrame(tid, unit, pdu);
      if (this.broken) return this.broken; // onFrame may give up on the stream
    }
    if (off < buf.length) {
      if (this.partialSince === 0 || off > 0) this.partialSince = performance.now();
      this.rest = buf.subarray(off);
    } else this.partialSince = 0;
    return undefined;
  }

  break(why: string): string {
    this.broken ??= why;
    this.rest = undefined;
    this.partialSince = 0;
    return this.broken;
  }
}
