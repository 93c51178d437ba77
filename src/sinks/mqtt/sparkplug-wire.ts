/**
 * The Sparkplug B encoder for DATA payloads (DDATA, and the history topic's messages), written from
 * sparkplug_b.proto (Sparkplug 3.0, section 6.4). sparkplug-payload writes a datatype into every
 * metric it encodes (it picks the value field by it); the specification says DATA metrics SHOULD NOT
 * carry one (tck-id-payloads-metric-datatype-not-req): after birth a metric is its alias and its
 * value. Births keep sparkplug-payload (names, aliases and datatypes, as the spec requires there).
 *
 * Fields written (field numbers of the .proto): Payload timestamp 1, metrics 2, seq 3, uuid 4;
 * Metric name 1, alias 2, timestamp 3, datatype 4, is_historical 5, is_null 7, properties 9, then
 * one of long_value 11, float_value 12, double_value 13, boolean_value 14, string_value 15;
 * PropertySet keys 1, values 2; PropertyValue type 1, int_value 3, double_value 6, boolean_value 7,
 * string_value 8, propertyset_value 9.
 */

/** Sparkplug data type numbers (Table of 6.4.16), for the values this encoder writes. */
export const SP_TYPE = { Int32: 3, Int64: 4, UInt64: 8, Float: 9, Double: 10, Boolean: 11, String: 12, PropertySet: 20 } as const;
export type SpTypeName = keyof typeof SP_TYPE;

export type PropValue =
  | { type: 'Int32'; value: number }
  | { type: 'Double'; value: number }
  | { type: 'Boolean'; value: boolean }
  | { type: 'String'; value: string }
  | { type: 'PropertySet'; value: Record<string, PropValue> };

export interface DataMetric {
  /** only outside a session (the history topic): DDATA uses the alias */
  name?: string;
  alias?: number;
  /** omitted: the metric carries no timestamp of its own */
  timestamp?: number;
  /** only outside a session (the history topic), where no birth declared it */
  datatype?: number;
  historical?: boolean;
  /** how the value is written: Float (4 bytes), Double, Int64/UInt64 (varint), Boolean, String; null: is_null */
  type: 'Float' | 'Double' | 'Int64' | 'UInt64' | 'Boolean' | 'String';
  value: number | bigint | boolean | string | null;
  properties?: Record<string, PropValue>;
}

export interface DataPayload {
  timestamp: number;
  seq?: number;
  uuid?: string;
  metrics: readonly DataMetric[];
}

const utf8 = new TextEncoder();

/** A protobuf writer into one growing buffer; nested messages are written to the end and their length inserted. */
class Writer {
  buf = new Uint8Array(1024);
  pos = 0;
  private readonly f = new DataView(new ArrayBuffer(8));

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    b.set(this.buf.subarray(0, this.pos));
    this.buf = b;
  }

  byte(x: number): void {
    this.room(1);
    this.buf[this.pos++] = x;
  }

  /** a non-negative integer up to 2^53 */
  varint(n: number): void {
    this.room(10);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.pos++] = n;
  }

  /** a 64-bit value as protobuf writes uint64 (negative int64: two's complement, 10 bytes) */
  varint64(v: bigint): void {
    let u = BigInt.asUintN(64, v);
    this.room(10);
    while (u >= 0x80n) {
      this.buf[this.pos++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.buf[this.pos++] = Number(u);
  }

  tag(field: number, wire: number): void {
    this.byte((field << 3) | wire); // every field number here is < 16: one byte
  }

  float(x: number): void {
    this.room(4);
    this.f.setFloat32(0, x, true);
    for (let i = 0; i < 4; i++) this.buf[this.pos++] = this.f.getUint8(i);
  }

  double(x: number): void {
    this.room(8);
    this.f.setFloat64(0, x, true);
    for (let i = 0; i < 8; i++) this.buf[this.pos++] = this.f.getUint8(i);
  }

  string(s: string): void {
    const b = utf8.encode(s);
    this.varint(b.length);
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** writes `field` as a length-delimited message whose bytes `body` writes */
  message(field: number, body: () => void): void {
    this.tag(field, 2);
    const lenAt = this.pos;
    this.byte(0); // one length byte reserved: most messages here are < 128 bytes
    const start = this.pos;
    body();
    const len = this.pos - start;
    if (len < 0x80) {
      this.buf[lenAt] = len;
      return;
    }
    // a longer message: move its bytes to make room for the length's other bytes
    let extra = 0;
    for (let n = len; n >= 0x80; n = Math.floor(n / 0x80)) extra++;
    this.room(extra);
    this.buf.copyWithin(start + extra, start, this.pos);
    this.pos = lenAt;
    this.varint(len);
    this.pos = start + extra + len;
  }
}

function propertySet(w: Writer, props: Record<string, PropValue>): void {
  const keys = Object.keys(props);
  for (const k of keys) {
    w.tag(1, 2);
    w.string(k);
  }
  for (const k of keys) {
    const p = props[k]!;
    w.message(2, () => {
      w.tag(1, 0);
      w.varint(SP_TYPE[p.type]);
      switch (p.type) {
        case 'Int32': w.tag(3, 0); w.varint(p.value >>> 0); break;
        case 'Double': w.tag(6, 1); w.double(p.value); break;
        case 'Boolean': w.tag(7, 0); w.byte(p.value ? 1 : 0); break;
        case 'String': w.tag(8, 2); w.string(p.value); break;
        case 'PropertySet': w.message(9, () => propertySet(w, p.value)); break;
      }
    });
  }
}

function metric(w: Writer, m: DataMetric): void {
  if (m.name !== undefined) { w.tag(1, 2); w.string(m.name); }
  if (m.alias !== undefined) { w.tag(2, 0); w.varint(m.alias); }
  if (m.timestamp !== undefined) { w.tag(3, 0); w.varint(m.timestamp); }
  if (m.datatype !== undefined) { w.tag(4, 0); w.varint(m.datatype); }
  if (m.historical) { w.tag(5, 0); w.byte(1); }
  const v = m.value;
  if (v === null) { w.tag(7, 0); w.byte(1); }
  if (m.properties !== undefined) w.message(9, () => propertySet(w, m.properties!));
  if (v === null) return;
  switch (m.type) {
    case 'Float': w.tag(12, 5); w.float(Number(v)); break;
    case 'Double': w.tag(13, 1); w.double(Number(v)); break;
    case 'Int64': case 'UInt64': w.tag(11, 0); w.varint64(typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)))); break;
    case 'Boolean': w.tag(14, 0); w.byte(v ? 1 : 0); break;
    case 'String': w.tag(15, 2); w.string(String(v)); break;
  }
}

/** The bytes of a DATA payload. One writer is reused between calls (the sink is single-threaded); the result is a copy. */
const shared = new Writer();
export function encodeData(p: DataPayload): Buffer {
  const w = shared;
  w.pos = 0;
  w.tag(1, 0);
  w.varint(p.timestamp);
  for (const m of p.metrics) w.message(2, () => metric(w, m));
  if (p.seq !== undefined) { w.tag(3, 0); w.varint(p.seq); }
  if (p.uuid !== undefined) { w.tag(4, 2); w.string(p.uuid); }
  return Buffer.from(w.buf.subarray(0, w.pos));
}
