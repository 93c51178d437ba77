import type { ColumnarBatch, GatewayEvent, Prediction, Quality, Sample, SampleValue } from '../core/sample.ts';

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
  // the common case holds nothing a read would change: the driver's own sample is shared (read
  // only from here on), one object per sample fewer on the main thread while it waits for its sinks
  if (isStored(s)) return { kind: 'sample', seq, id: prefix + seq, sample: s };
  const sample: Sample = { source: s.source, tag: s.tag, ts: s.ts, value: storedValue(s.value), quality: QUALITIES[qualityCode(s.quality)]! };
  if (s.reason !== undefined && s.reason !== null) sample.reason = s.reason;
  if (s.float32 === true && typeof s.value === 'number') sample.float32 = true;
  return { kind: 'sample', seq, id: prefix + seq, sample };
}

/** A sample whose fields read back unchanged (canonical value and quality; a reason, if any, is text). */
function isStored(s: Sample): boolean {
  const v = s.value;
  const t = typeof v;
  if (t !== 'number' && t !== 'boolean' && t !== 'string' && t !== 'bigint') return false;
  if (s.quality !== 'good' && s.quality !== 'uncertain' && s.quality !== 'bad') return false;
  return s.reason === undefined || typeof s.reason === 'string';
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

// ---- batch rows: one row per SampleBatch ------------------------------------------------------

/**
 * A poll or a notification as ONE row (kind KIND_BATCH): its samples take the seqs
 * `seq - n + 1 .. seq` (the row's key is its last seq, `n` its sample count), so cursors, lag
 * bounds and accounting keep counting samples while SQLite stores and indexes one row.
 * Columns: `source`; `tag` = `@<tagset id>` (the tag list is stored once in `tagsets`) or the tag
 * list as JSON; `ts` = the first sample's; `value` = the values as float32 (when every value is
 * exactly a float32: 4 bytes each, lossless) or float64, little-endian; `extra` = JSON of what is
 * not the common case, by position: `q` qualities (codes) and `r` reasons of samples not good,
 * `t` timestamps as offsets from `ts` when they differ, `v` [vtype, column] of non-number values,
 * `s` sources that differ from the row's, `f` positions of samples the device sent as float32
 * (`Sample.float32`) when not all of them were. NULL when there is none. `vtype` = BATCH_ALL_FLOAT32
 * when every number sample was sent as float32 (the common case of a float32 poll: no `f`).
 */
export const KIND_BATCH = 3;
/** a batch row's `vtype` when every number value of it was a float32 on the device (`Sample.float32`) */
export const BATCH_ALL_FLOAT32 = 1;

interface BatchExtra {
  q?: Record<number, number>;
  r?: Record<number, string>;
  t?: number[];
  v?: Record<number, [number, number | string | null]>;
  s?: Record<number, string>;
  f?: number[];
}

/** The parts of a batch row that depend on the samples (the tag reference is the caller's). */
export function encodeBatchColumns(source: string, samples: readonly Sample[]): { ts: number; vtype: number; value: ArrayBuffer; extra: string | null } {
  const n = samples.length;
  const ts0 = n > 0 ? samples[0]!.ts : 0;
  let f32 = true;
  let extra: BatchExtra | undefined;
  let numbers = 0;
  let flagged = 0;
  for (let i = 0; i < n; i++) {
    const s = samples[i]!;
    const v = s.value;
    if (typeof v === 'number') {
      if (f32 && Math.fround(v) !== v) f32 = false; // NaN too: it keeps its bits in float64
      numbers++;
      if (s.float32 === true) flagged++;
    } else ((extra ??= {}).v ??= {})[i] = [valueType(v), valueColumn(v)];
    if (s.quality !== 'good') ((extra ??= {}).q ??= {})[i] = qualityCode(s.quality);
    if (s.reason !== undefined && s.reason !== null) ((extra ??= {}).r ??= {})[i] = s.reason;
    if (s.source !== source) ((extra ??= {}).s ??= {})[i] = s.source;
    if (s.ts !== ts0 && (extra ??= {}).t === undefined) extra.t = [];
  }
  if (extra?.t) extra.t = samples.map((s) => s.ts - ts0);
  const allFloat32 = numbers > 0 && flagged === numbers;
  if (flagged > 0 && !allFloat32) {
    const f: number[] = (extra ??= {}).f = [];
    for (let i = 0; i < n; i++) if (samples[i]!.float32 === true && typeof samples[i]!.value === 'number') f.push(i);
  }
  const value = new ArrayBuffer(n * (f32 ? 4 : 8));
  const view = new DataView(value);
  for (let i = 0; i < n; i++) {
    const v = samples[i]!.value;
    const x = typeof v === 'number' ? v : 0;
    if (f32) view.setFloat32(i * 4, x, true);
    else view.setFloat64(i * 8, x, true);
  }
  return { ts: ts0, vtype: allFloat32 ? BATCH_ALL_FLOAT32 : 0, value, extra: extra ? JSON.stringify(extra) : null };
}

/**
 * `encodeBatchColumns(b.source, b.samples)` of a columnar batch, read from its columns (every
 * sample good, a number, of the batch's source): the same row, without making the samples.
 */
export function encodeColumnarColumns(b: ColumnarBatch): { ts: number; vtype: number; value: ArrayBuffer; extra: string | null } {
  const vals = b.values;
  const times = b.ts;
  const n = vals.length;
  const ts0 = n > 0 ? times[0]! : 0;
  let f32 = true;
  let flagged = 0;
  let oneTs = true;
  for (let i = 0; i < n; i++) {
    const v = vals[i]!;
    if (f32 && Math.fround(v) !== v) f32 = false; // NaN too, as encodeBatchColumns
    if (b.float32[i] === 1) flagged++;
    if (times[i] !== ts0) oneTs = false;
  }
  let extra: BatchExtra | undefined;
  if (!oneTs) extra = { t: Array.from(times, (t) => t - ts0) };
  const allFloat32 = n > 0 && flagged === n;
  if (flagged > 0 && !allFloat32) {
    const f: number[] = (extra ??= {}).f = [];
    for (let i = 0; i < n; i++) if (b.float32[i] === 1) f.push(i);
  }
  const value = new ArrayBuffer(n * (f32 ? 4 : 8));
  const view = new DataView(value);
  for (let i = 0; i < n; i++) {
    if (f32) view.setFloat32(i * 4, vals[i]!, true);
    else view.setFloat64(i * 8, vals[i]!, true);
  }
  return { ts: ts0, vtype: allFloat32 ? BATCH_ALL_FLOAT32 : 0, value, extra: extra ? JSON.stringify(extra) : null };
}

/**
 * The samples of a batch row with seq > afterSeq, as records (at most `limit`), appended to `out`.
 * `tags` is the row's tag list (resolved from its tagset).
 */
export function decodeBatchRow(t: RecordTuple, n: number, tags: readonly string[], prefix: string, afterSeq: number, limit: number, out: OutboxRecord[]): void {
  const last = t[0];
  const first = last - n + 1;
  const blob = t[7] as unknown as Uint8Array | null;
  const bytes = blob ?? new Uint8Array(0);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const f32 = bytes.byteLength === n * 4;
  const extra = t[9] === null ? undefined : (JSON.parse(t[9]) as BatchExtra);
  const allFloat32 = t[5] === BATCH_ALL_FLOAT32;
  const someFloat32 = extra?.f ? new Set(extra.f) : undefined;
  for (let i = Math.max(0, afterSeq + 1 - first); i < n && out.length < limit; i++) {
    const seq = first + i;
    const ev = extra?.v?.[i];
    const value: SampleValue = ev !== undefined ? decodeValue(ev[0], ev[1]) : f32 ? view.getFloat32(i * 4, true) : view.getFloat64(i * 8, true);
    const q = extra?.q?.[i];
    const sample: Sample = {
      source: extra?.s?.[i] ?? t[2], tag: tags[i] ?? '', ts: extra?.t ? t[4] + extra.t[i]! : t[4], value, quality: q === undefined ? 'good' : QUALITIES[q] ?? 'bad',
    };
    const why = extra?.r?.[i];
    if (why !== undefined) sample.reason = why;
    if (ev === undefined && (allFloat32 || someFloat32?.has(i) === true)) sample.float32 = true;
    out.push({ kind: 'sample', seq, id: prefix + seq, sample });
  }
}
