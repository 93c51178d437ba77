/**
 * Register <-> value conversion for every Modbus data type and byte/word order.
 *
 * Orders are named by where the bytes of the big-endian value (A = most significant) sit on
 * the wire. Two independent swaps cover all four: BADC swaps the two bytes inside each
 * register, CDAB reverses the order of the registers, DCBA does both. The 64-bit names
 * (ABCDEFGH, GHEFCDAB, BADCFEHG, HGFEDCBA) are the same two swaps and are accepted as aliases.
 *
 * Decoders are compiled once per tag at start (see plan.ts): per sample they cost a few byte
 * copies and one typed read, and allocate nothing except the result.
 */
import { FgError } from '../../src/core/errors.ts';
import type { SampleValue } from '../../src/core/sample.ts';

export const DATA_TYPES = ['bool', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64', 'string'] as const;
export type DataType = (typeof DATA_TYPES)[number];

export const ORDERS = ['ABCD', 'CDAB', 'BADC', 'DCBA'] as const;
export type Order = (typeof ORDERS)[number];
export const ORDER_ALIASES: Record<string, Order> = {
  ABCD: 'ABCD', CDAB: 'CDAB', BADC: 'BADC', DCBA: 'DCBA',
  ABCDEFGH: 'ABCD', GHEFCDAB: 'CDAB', BADCFEHG: 'BADC', HGFEDCBA: 'DCBA',
};

export const REGISTER_AREAS = ['holding', 'input'] as const;
export const BIT_AREAS = ['coil', 'discrete'] as const;
export const AREAS = [...REGISTER_AREAS, ...BIT_AREAS] as const;
export type Area = (typeof AREAS)[number];

export function isBitArea(area: Area): boolean {
  return area === 'coil' || area === 'discrete';
}

/** Registers (or bits, in coil/discrete areas) one value occupies. */
export function widthOf(area: Area, type: DataType, length?: number): number {
  if (isBitArea(area)) return 1;
  switch (type) {
    case 'bool':
    case 'int16':
    case 'uint16':
      return 1;
    case 'int32':
    case 'uint32':
    case 'float32':
      return 2;
    case 'int64':
    case 'uint64':
    case 'float64':
      return 4;
    case 'string':
      return length ?? 1;
  }
}

export interface ValueSpec {
  area: Area;
  type: DataType;
  order: Order;
  /** bit 0..15 of a register (bool from holding/input) */
  bit?: number;
  /** registers, for strings */
  length?: number;
  scale?: number;
  offset?: number;
}

/**
 * Reads one value. `buf` holds the response data as on the wire: registers big-endian two bytes
 * each, or bits packed LSB-first (coil/discrete). `at` is the register index (or bit index) of
 * the value inside `buf`.
 */
export type Decoder = (buf: Buffer, at: number) => SampleValue;

/** Wire byte index for each big-endian byte of an n-register value. */
export function permutation(registers: number, order: Order): number[] {
  const byteSwap = order === 'BADC' || order === 'DCBA';
  const wordSwap = order === 'CDAB' || order === 'DCBA';
  const perm: number[] = [];
  for (let w = 0; w < registers; w++) {
    const src = wordSwap ? registers - 1 - w : w;
    perm.push(src * 2 + (byteSwap ? 1 : 0), src * 2 + (byteSwap ? 0 : 1));
  }
  return perm;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

/**
 * Compiles the decoder of one tag. It reads only inside `buf`: a value that does not fit in the
 * answer throws FG_E_MODBUS_DECODE (never a zero read from past the end).
 */
export function compileDecoder(spec: ValueSpec): Decoder {
  const decode = compileUnchecked(spec);
  if (isBitArea(spec.area)) {
    return (buf, at) => {
      if (!(at >= 0 && at >> 3 < buf.length)) throw outside(at, 1, 'bit', buf.length * 8);
      return decode(buf, at);
    };
  }
  const regs = widthOf(spec.area, spec.type, spec.length);
  return (buf, at) => {
    if (!(at >= 0 && (at + regs) * 2 <= buf.length)) throw outside(at, regs, 'register', buf.length >> 1);
    return decode(buf, at);
  };
}

function outside(at: number, width: number, noun: string, holds: number): FgError {
  const which = width === 1 ? `${noun} ${at}` : `${noun}s ${at}..${at + width - 1}`;
  return new FgError('FG_E_MODBUS_DECODE', `the value needs ${which} of the answer, which holds ${holds} ${noun}${holds === 1 ? '' : 's'}`);
}

function compileUnchecked(spec: ValueSpec): Decoder {
  const scale = spec.scale ?? 1;
  const offset = spec.offset ?? 0;
  const scaled = scale !== 1 || offset !== 0;

  if (isBitArea(spec.area)) {
    return (buf, at) => ((buf[at >> 3]! >> (at & 7)) & 1) === 1;
  }
  if (spec.type === 'bool' || spec.bit !== undefined) {
    const bit = spec.bit ?? 0;
    const swap = spec.order === 'BADC' || spec.order === 'DCBA';
    // bit 0 is the least significant bit of the register value (after the byte swap, if any)
    return (buf, at) => {
      const v = swap ? buf.readUInt16LE(at * 2) : buf.readUInt16BE(at * 2);
      return spec.bit === undefined ? v !== 0 : ((v >> bit) & 1) === 1;
    };
  }
  if (spec.type === 'string') {
    const n = spec.length ?? 1;
    const swap = spec.order === 'BADC' || spec.order === 'DCBA';
    return (buf, at) => {
      const bytes = Buffer.allocUnsafe(n * 2);
      for (let i = 0; i < n * 2; i += 2) {
        bytes[i] = buf[at * 2 + i + (swap ? 1 : 0)]!;
        bytes[i + 1] = buf[at * 2 + i + (swap ? 0 : 1)]!;
      }
      // a string ends at the first NUL; the device pads with NULs or spaces
      const end = bytes.indexOf(0);
      return bytes.toString('latin1', 0, end < 0 ? bytes.length : end).trimEnd();
    };
  }

  const regs = widthOf(spec.area, spec.type);
  const perm = permutation(regs, spec.order);
  const scratch = Buffer.alloc(8);
  // copies the value's bytes into big-endian order (a few byte moves, no allocation)
  const load = (buf: Buffer, at: number): Buffer => {
    const base = at * 2;
    for (let i = 0; i < perm.length; i++) scratch[i] = buf[base + perm[i]!]!;
    return scratch;
  };
  const num = (v: number): number => (scaled ? v * scale + offset : v);
  // big-endian and unscaled (the common case): read the response in place, no copy
  if ((spec.order === 'ABCD' || regs === 1 && spec.order === 'CDAB') && !scaled) {
    switch (spec.type) {
      case 'int16': return (buf, at) => buf.readInt16BE(at * 2);
      case 'uint16': return (buf, at) => buf.readUInt16BE(at * 2);
      case 'int32': return (buf, at) => buf.readInt32BE(at * 2);
      case 'uint32': return (buf, at) => buf.readUInt32BE(at * 2);
      case 'float32': return (buf, at) => buf.readFloatBE(at * 2);
      case 'float64': return (buf, at) => buf.readDoubleBE(at * 2);
      default: break; // 64-bit integers below
    }
  }

  switch (spec.type) {
    case 'int16':
      return (buf, at) => num(load(buf, at).readInt16BE(0));
    case 'uint16':
      return (buf, at) => num(load(buf, at).readUInt16BE(0));
    case 'int32':
      return (buf, at) => num(load(buf, at).readInt32BE(0));
    case 'uint32':
      return (buf, at) => num(load(buf, at).readUInt32BE(0));
    case 'float32':
      return (buf, at) => num(load(buf, at).readFloatBE(0));
    case 'float64':
      return (buf, at) => num(load(buf, at).readDoubleBE(0));
    case 'int64':
    case 'uint64': {
      const signed = spec.type === 'int64';
      return (buf, at) => {
        const b = load(buf, at);
        const big = signed ? b.readBigInt64BE(0) : b.readBigUInt64BE(0);
        if (scaled) return Number(big) * scale + offset;
        // exact integers travel as numbers while they fit, as bigint beyond 2^53
        return big <= MAX_SAFE && big >= MIN_SAFE ? Number(big) : big;
      };
    }
  }
}

export type Encoder = (value: number | bigint | boolean | string, into: Buffer, at: number) => void;

/**
 * Compiles the writer of one value into registers (the simulator's half): the inverse of
 * compileDecoder for unscaled values. Integer types are rounded and clamped.
 */
export function compileEncoder(spec: ValueSpec): Encoder {
  if (isBitArea(spec.area)) {
    return (value, into, at) => {
      const byte = at >> 3;
      const mask = 1 << (at & 7);
      into[byte] = truthy(value) ? into[byte]! | mask : into[byte]! & ~mask;
    };
  }
  const swap = spec.order === 'BADC' || spec.order === 'DCBA';
  if (spec.type === 'bool' || spec.bit !== undefined) {
    const bit = spec.bit;
    return (value, into, at) => {
      let v = swap ? into.readUInt16LE(at * 2) : into.readUInt16BE(at * 2);
      if (bit === undefined) v = truthy(value) ? 1 : 0;
      else v = truthy(value) ? v | (1 << bit) : v & ~(1 << bit);
      if (swap) into.writeUInt16LE(v & 0xffff, at * 2);
      else into.writeUInt16BE(v & 0xffff, at * 2);
    };
  }
  if (spec.type === 'string') {
    const n = spec.length ?? 1;
    return (value, into, at) => {
      const src = Buffer.alloc(n * 2);
      src.write(String(value), 'latin1');
      for (let i = 0; i < n * 2; i += 2) {
        into[at * 2 + i] = src[i + (swap ? 1 : 0)]!;
        into[at * 2 + i + 1] = src[i + (swap ? 0 : 1)]!;
      }
    };
  }
  const regs = widthOf(spec.area, spec.type);
  const perm = permutation(regs, spec.order);
  const be = Buffer.alloc(regs * 2);
  const type = spec.type;
  return (value, into, at) => {
    const n = typeof value === 'number' ? value : typeof value === 'bigint' ? Number(value) : Number(truthy(value));
    switch (type) {
      case 'int16': be.writeInt16BE(clampInt(n, -0x8000, 0x7fff)); break;
      case 'uint16': be.writeUInt16BE(clampInt(n, 0, 0xffff)); break;
      case 'int32': be.writeInt32BE(clampInt(n, -0x80000000, 0x7fffffff)); break;
      case 'uint32': be.writeUInt32BE(clampInt(n, 0, 0xffffffff)); break;
      case 'float32': be.writeFloatBE(n); break;
      case 'float64': be.writeDoubleBE(n); break;
      case 'int64': be.writeBigInt64BE(typeof value === 'bigint' ? value : BigInt(clampInt(n, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER))); break;
      case 'uint64': be.writeBigUInt64BE(typeof value === 'bigint' ? value : BigInt(clampInt(n, 0, Number.MAX_SAFE_INTEGER))); break;
    }
    const base = at * 2;
    for (let i = 0; i < perm.length; i++) into[base + perm[i]!] = be[i]!;
  };
}

function truthy(v: number | bigint | boolean | string): boolean {
  return typeof v === 'string' ? v !== '' && v !== '0' && v !== 'false' : Boolean(v);
}

function clampInt(n: number, lo: number, hi: number): number {
  if (!Number.isFinite(n)) return 0;
  return Math.min(hi, Math.max(lo, Math.round(n)));
}
