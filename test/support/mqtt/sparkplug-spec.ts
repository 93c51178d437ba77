/**
 * A Sparkplug B payload reader written from the specification (sparkplug_b.proto of Sparkplug 3.0),
 * independent of the encoder the sink uses: tests decode what the edge node sent with it, as a
 * host application would. Only what the tests read: Payload.timestamp (1), metrics (2), seq (3), uuid (4);
 * Metric name (1), alias (2), timestamp (3), datatype (4), is_historical (5), is_transient (6),
 * is_null (7), properties (9), int (10), long (11), float (12), double (13), boolean (14),
 * string (15); PropertySet keys (1), values (2); PropertyValue type (1), is_null (2), int (3),
 * long (4), float (5), double (6), boolean (7), string (8), propertyset (9).
 */

export interface SpecMetric {
  name?: string;
  alias?: number;
  timestamp?: number;
  datatype?: number;
  isHistorical?: boolean;
  isTransient?: boolean;
  isNull?: boolean;
  value?: number | bigint | boolean | string;
  properties?: Record<string, PropertyValue>;
}

/** A property's value; a PropertySet property is a nested record. */
export type PropertyValue = number | bigint | boolean | string | null | { [key: string]: PropertyValue };

export interface SpecPayload { timestamp?: number; seq?: number; uuid?: string; metrics: SpecMetric[] }

/** Sparkplug data type numbers (Table 6.4.16 of the 3.0 specification). */
export const DataType = { Int32: 3, Int64: 4, UInt64: 8, Float: 9, Double: 10, Boolean: 11, String: 12 } as const;

class Reader {
  pos = 0;
  constructor(private readonly b: Uint8Array, private readonly end = b.length) {}
  get done(): boolean { return this.pos >= this.end; }
  varint(): bigint {
    let r = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const x = this.b[this.pos++]!;
      r |= BigInt(x & 0x7f) << shift;
      if ((x & 0x80) === 0) return r;
      shift += 7n;
      if (shift > 63n) throw new Error('varint too long');
    }
  }
  bytes(): Uint8Array {
    const n = Number(this.varint());
    if (this.pos + n > this.end) throw new Error('truncated field');
    const v = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  fixed(n: 4 | 8): DataView {
    if (this.pos + n > this.end) throw new Error('truncated fixed field');
    const v = new DataView(this.b.buffer, this.b.byteOffset + this.pos, n);
    this.pos += n;
    return v;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.fixed(8);
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.fixed(4);
    else throw new Error(`wire type ${wire} not expected in Sparkplug B`);
  }
  /** [field number, wire type] */
  tag(): [number, number] {
    const t = Number(this.varint());
    return [t >>> 3, t & 7];
  }
}

const text = new TextDecoder('utf-8', { fatal: true });

function propertyValue(b: Uint8Array): PropertyValue {
  const r = new Reader(b);
  let v: PropertyValue = null;
  while (!r.done) {
    const [f, w] = r.tag();
    if (f === 3 && w === 0) v = Number(r.varint());
    else if (f === 4 && w === 0) v = r.varint();
    else if (f === 5 && w === 5) v = r.fixed(4).getFloat32(0, true);
    else if (f === 6 && w === 1) v = r.fixed(8).getFloat64(0, true);
    else if (f === 7 && w === 0) v = r.varint() !== 0n;
    else if (f === 8 && w === 2) v = text.decode(r.bytes());
    else if (f === 9 && w === 2) v = propertySet(r.bytes());
    else r.skip(w);
  }
  return v;
}

function propertySet(b: Uint8Array): Record<string, PropertyValue> {
  const r = new Reader(b);
  const keys: string[] = [];
  const values: PropertyValue[] = [];
  while (!r.done) {
    const [f, w] = r.tag();
    if (f === 1 && w === 2) keys.push(text.decode(r.bytes()));
    else if (f === 2 && w === 2) values.push(propertyValue(r.bytes()));
    else r.skip(w);
  }
  if (keys.length !== values.length) throw new Error(`PropertySet with ${keys.length} keys and ${values.length} values`);
  return Object.fromEntries(keys.map((k, i) => [k, values[i]!]));
}

function metric(b: Uint8Array): SpecMetric {
  const r = new Reader(b);
  const m: SpecMetric = {};
  while (!r.done) {
    const [f, w] = r.tag();
    if (f === 1 && w === 2) m.name = text.decode(r.bytes());
    else if (f === 2 && w === 0) m.alias = Number(r.varint());
    else if (f === 3 && w === 0) m.timestamp = Number(r.varint());
    else if (f === 4 && w === 0) m.datatype = Number(r.varint());
    else if (f === 5 && w === 0) m.isHistorical = r.varint() !== 0n;
    else if (f === 6 && w === 0) m.isTransient = r.varint() !== 0n;
    else if (f === 7 && w === 0) m.isNull = r.varint() !== 0n;
    else if (f === 9 && w === 2) m.properties = propertySet(r.bytes());
    else if (f === 10 && w === 0) m.value = Number(r.varint());
    else if (f === 11 && w === 0) m.value = r.varint();
    else if (f === 12 && w === 5) m.value = r.fixed(4).getFloat32(0, true);
    else if (f === 13 && w === 1) m.value = r.fixed(8).getFloat64(0, true);
    else if (f === 14 && w === 0) m.value = r.varint() !== 0n;
    else if (f === 15 && w === 2) m.value = text.decode(r.bytes());
    else r.skip(w);
  }
  return m;
}

/** Decodes a Sparkplug B payload; throws on bytes that are not one. */
export function decodeSpec(b: Uint8Array): SpecPayload {
  const r = new Reader(b);
  const p: SpecPayload = { metrics: [] };
  while (!r.done) {
    const [f, w] = r.tag();
    if (f === 1 && w === 0) p.timestamp = Number(r.varint());
    else if (f === 2 && w === 2) p.metrics.push(metric(r.bytes()));
    else if (f === 3 && w === 0) p.seq = Number(r.varint());
    else if (f === 4 && w === 2) p.uuid = text.decode(r.bytes());
    else r.skip(w);
  }
  return p;
}

/**
 * The record id of every metric of a DATA payload, as a host dedupes them (src/sinks/mqtt/README.md):
 * with a `uuid` of `ids:<id>` (id = `<gateway>:<epoch>:<n>`) metric i is `<gateway>:<epoch>:<n + i>`;
 * without one, each metric's `recordId` property (a prediction's outputs share their record's id).
 */
export function recordIds(p: SpecPayload): (string | undefined)[] {
  if (p.uuid?.startsWith('ids:')) {
    const first = p.uuid.slice(4);
    const cut = first.lastIndexOf(':') + 1;
    const base = first.slice(0, cut);
    const n0 = Number(first.slice(cut));
    return p.metrics.map((_, i) => base + (n0 + i));
  }
  return p.metrics.map((m) => { const id = m.properties?.recordId; return typeof id === 'string' ? id : undefined; });
}
