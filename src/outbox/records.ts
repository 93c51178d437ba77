import type { GatewayEvent, Prediction, Quality, Sample, SampleValue } from '../core/sample.ts';

/**
 * What a sink reads from its cursor: one row of the outbox log, in commit order.
 * `id` is stable across restarts and replays: `<gateway>:<epoch>:<seq>`.
 */
export type OutboxRecord =
  | { kind: 'sample'; seq: number; id: string; sample: Sample }
  | { kind: 'prediction'; seq: number; id: string; prediction: Prediction }
  | { kind: 'event'; seq: number; id: string; event: GatewayEvent };

export type RecordKind = OutboxRecord['kind'];

/** The row as SQLite returns it (column names of the `records` table). */
export interface RecordRow {
  seq: number;
  kind: number;
  source: string;
  tag: string;
  ts: number;
  vtype: number;
  quality: number;
  value: number | string | null;
  reason: string | null;
  extra: string | null;
}

/** The same columns in table order, as a raw() statement returns them. */
export type RecordTuple = [number, number, string, string, number, number, number, number | string | null, string | null, string | null];

export function decodeTuple(t: RecordTuple, prefix: string): OutboxRecord {
  return decodeRow({ seq: t[0], kind: t[1], source: t[2], tag: t[3], ts: t[4], vtype: t[5], quality: t[6], value: t[7], reason: t[8], extra: t[9] }, prefix);
}

export const KIND_SAMPLE = 0;
export const KIND_PREDICTION = 1;
export const KIND_EVENT = 2;

// value types: the `value` column has no affinity, so vtype says how to read it back
const V_NULL = 0;
const V_NUMBER = 1;
const V_BOOL = 2;
const V_STRING = 3;
/** int64/uint64 as decimal text: exact for the whole uint64 range, and reads never need safeIntegers */
const V_BIGINT = 4;

const QUALITIES: readonly Quality[] = ['good', 'uncertain', 'bad'];
const QUALITY_CODE: Record<Quality, number> = { good: 0, uncertain: 1, bad: 2 };

export function valueType(v: SampleValue): number {
  switch (typeof v) {
    case 'number': return V_NUMBER;
    case 'boolean': return V_BOOL;
    case 'string': return V_STRING;
    case 'bigint': return V_BIGINT;
    default: return V_NULL;
  }
}

/** The value as bound to the `value` column. */
export function valueColumn(v: SampleValue): number | string | null {
  switch (typeof v) {
    case 'boolean': return v ? 1 : 0;
    case 'bigint': return v.toString();
    default: return v;
  }
}

export function qualityCode(q: Quality): number {
  return QUALITY_CODE[q] ?? 2;
}

/**
 * A record as a read of its row would return it, built from what was written (for the in-memory
 * tail, tail.ts): the same fields and value types as `decodeRow`, without the round trip.
 */
export function sampleRecord(s: Sample, seq: number, prefix: string): OutboxRecord {
  const sample: Sample = { source: s.source, tag: s.tag, ts: s.ts, value: storedValue(s.value), quality: QUALITIES[qualityCode(s.quality)]! };
  if (s.reason !== undefined && s.reason !== null) sample.reason = s.reason;
  return { kind: 'sample', seq, id: prefix + seq, sample };
}

function storedValue(v: SampleValue): SampleValue {
  switch (typeof v) {
    case 'number': case 'boolean': case 'string': case 'bigint': return v;
    default: return null;
  }
}

/** Predictions and events keep their JSON part as it reads back (a copy, not the writer's object). */
export function predictionRecord(p: Prediction, extra: string, seq: number, prefix: string): OutboxRecord {
  return decodeRow({ seq, kind: KIND_PREDICTION, source: p.model, tag: p.model, ts: p.ts, vtype: 0, quality: 0, value: null, reason: null, extra }, prefix);
}

export function eventRecord(e: GatewayEvent, extra: string, seq: number, prefix: string): OutboxRecord {
  return decodeRow({ seq, kind: KIND_EVENT, source: e.source, tag: e.kind, ts: e.ts, vtype: 3, quality: 0, value: e.message, reason: null, extra }, prefix);
}

function decodeValue(vtype: number, v: number | string | null): SampleValue {
  switch (vtype) {
    // SQLite stores NaN as NULL: read it back as NaN (JSON: null), not as 0
    case V_NUMBER: return typeof v === 'number' ? v : v === null ? NaN : Number(v);
    case V_BOOL: return v === 1;
    case V_STRING: return v === null ? null : String(v);
    case V_BIGINT: return v === null ? null : BigInt(v);
    default: return null;
  }
}

/** Turns a row back into the record that was written; `prefix` is `<gateway>:<epoch>:`. */
export function decodeRow(row: RecordRow, prefix: string): OutboxRecord {
  const id = prefix + row.seq;
  if (row.kind === KIND_SAMPLE) {
    const sample: Sample = {
      source: row.source,
      tag: row.tag,
      ts: row.ts,
      value: decodeValue(row.vtype, row.value),
      quality: QUALITIES[row.quality] ?? 'bad',
    };
    if (row.reason !== null) sample.reason = row.reason;
    return { kind: 'sample', seq: row.seq, id, sample };
  }
  const extra = JSON.parse(row.extra ?? '{}') as Record<string, unknown>;
  if (row.kind === KIND_PREDICTION) {
    return {
      kind: 'prediction', seq: row.seq, id,
      prediction: { model: row.tag, ts: row.ts, outputs: extra.outputs as Record<string, number>, latencyMs: extra.latencyMs as number },
    };
  }
  const event: GatewayEvent = {
    source: row.source, kind: row.tag, ts: row.ts,
    severity: extra.severity as GatewayEvent['severity'], message: String(row.value ?? ''),
  };
  if (extra.data !== undefined) event.data = extra.data as GatewayEvent['data'];
  return { kind: 'event', seq: row.seq, id, event };
}

/** JSON-safe view of a sample value: int64 travels as a decimal string. */
export function jsonValue(v: SampleValue): number | boolean | string | null {
  return typeof v === 'bigint' ? v.toString() : v;
}

/** Source of a record: the sample's source, the prediction's model, the event's stage. */
export function recordSource(r: OutboxRecord): string {
  switch (r.kind) {
    case 'sample': return r.sample.source;
    case 'prediction': return r.prediction.model;
    default: return r.event.source;
  }
}
