/**
 * Modbus framing, spoken directly (modbus-serial's bundled server answers each request on a
 * timer and tops out near 800 requests/s, which would make it the bottleneck of any benchmark).
 *
 * - TCP (MBAP): transaction id (2) | protocol 0 (2) | length (2) = bytes after this field | unit (1) | PDU
 * - RTU: unit (1) | PDU | CRC-16/MODBUS (2, low byte first)
 * PDU of a read request: function (1) | start address (2) | quantity (2).
 */

import { crc16 } from '../crc.ts';

export interface ReadRequest {
  unit: number;
  fc: number;
  start: number;
  quantity: number;
}

/** The answer to a request: a response PDU, an exception code, or silence. */
export type Answer = { pdu: Buffer } | { exception: number } | null;

export const EXCEPTION = {
  ILLEGAL_FUNCTION: 1,
  ILLEGAL_DATA_ADDRESS: 2,
  ILLEGAL_DATA_VALUE: 3,
  SERVER_DEVICE_FAILURE: 4,
  GATEWAY_TARGET_FAILED: 11,
} as const;

/** Wraps a PDU (or an exception) in an MBAP header. */
export function mbapFrame(txid: number, unit: number, fc: number, answer: { pdu: Buffer } | { exception: number }): Buffer {
  if ('exception' in answer) {
    const b = Buffer.allocUnsafe(9);
    b.writeUInt16BE(txid, 0);
    b.writeUInt16BE(0, 2);
    b.writeUInt16BE(3, 4);
    b[6] = unit;
    b[7] = fc | 0x80;
    b[8] = answer.exception;
    return b;
  }
  const b = Buffer.allocUnsafe(7 + answer.pdu.length);
  b.writeUInt16BE(txid, 0);
  b.writeUInt16BE(0, 2);
  b.writeUInt16BE(1 + answer.pdu.length, 4);
  b[6] = unit;
  answer.pdu.copy(b, 7);
  return b;
}

/** Wraps a PDU (or an exception) in an RTU frame with CRC. */
export function rtuFrame(unit: number, fc: number, answer: { pdu: Buffer } | { exception: number }): Buffer {
  const body = 'exception' in answer ? Buffer.from([unit, fc | 0x80, answer.exception]) : Buffer.concat([Buffer.from([unit]), answer.pdu]);
  const b = Buffer.allocUnsafe(body.length + 2);
  body.copy(b, 0);
  b.writeUInt16LE(crc16(body), body.length);
  return b;
}

/**
 * Splits a TCP byte stream into MBAP requests. Returns the offset of the first unconsumed byte;
 * `onRequest` gets the transaction id, unit and PDU (a view into `buf`). A frame with a
 * protocol id other than 0 or a length outside 2..254 means the stream is garbage: -1.
 */
export function parseMbap(buf: Buffer, onRequest: (txid: number, unit: number, pdu: Buffer) => void): number {
  let off = 0;
  while (buf.length - off >= 8) {
    const proto = buf.readUInt16BE(off + 2);
    const len = buf.readUInt16BE(off + 4);
    if (proto !== 0 || len < 2 || len > 254) return -1;
    if (buf.length - off < 6 + len) break;
    onRequest(buf.readUInt16BE(off), buf[off + 6]!, buf.subarray(off + 7, off + 6 + len));
    off += 6 + len;
  }
  return off;
}

/**
 * Splits an RTU byte stream into read requests (8-byte frames). Bytes that do not start a frame
 * with a valid CRC are skipped one at a time, the way a device resynchronises on a noisy bus.
 */
export function parseRtu(buf: Buffer, onRequest: (unit: number, pdu: Buffer) => void): number {
  let off = 0;
  while (buf.length - off >= 8) {
    const crc = buf[off + 6]! | (buf[off + 7]! << 8);
    if (crc16(buf, off, off + 6) !== crc) {
      off++;
      continue;
    }
    onRequest(buf[off]!, buf.subarray(off + 1, off + 6));
    off += 8;
  }
  return off;
}

/** Decodes a read request PDU (FC 1-4); undefined for anything else. */
export function readRequest(unit: number, pdu: Buffer): ReadRequest | undefined {
  if (pdu.length < 5) return undefined;
  const fc = pdu[0]!;
  if (fc < 1 || fc > 4) return undefined;
  return { unit, fc, start: pdu.readUInt16BE(1), quantity: pdu.readUInt16BE(3) };
}
