import type { OutboxRecord } from '../outbox/index.ts';
import { jsonValue } from '../outbox/records.ts';

/**
 * The JSON shape of one record, as every JSON sink sends it. `id` is the stable record id
 * (`<gateway>:<epoch>:<seq>`): an upstream drops a record whose id it has seen.
 * int64 values travel as decimal strings (JSON numbers lose precision past 2^53).
 */
export type RecordJson =
  | { id: string; kind: 'sample'; source: string; tag: string; ts: number; value: number | boolean | string | null; quality: string; reason?: string }
  | { id: string; kind: 'prediction'; model: string; ts: number; outputs: Record<string, number>; latencyMs: number }
  | { id: string; kind: 'event'; source: string; type: string; ts: number; severity: string; message: string; data?: Record<string, number | string | boolean> };

export function recordJson(r: OutboxRecord): RecordJson {
  switch (r.kind) {
    case 'sample': {
      const s = r.sample;
      const o: RecordJson = { id: r.id, kind: 'sample', source: s.source, tag: s.tag, ts: s.ts, value: jsonValue(s.value), quality: s.quality };
      if (s.reason !== undefined) o.reason = s.reason;
      return o;
    }
    case 'prediction': {
      const p = r.prediction;
      return { id: r.id, kind: 'prediction', model: p.model, ts: p.ts, outputs: p.outputs, latencyMs: p.latencyMs };
    }
    default: {
      const e = r.event;
      const o: RecordJson = { id: r.id, kind: 'event', source: e.source, type: e.kind, ts: e.ts, severity: e.severity, message: e.message };
      if (e.data !== undefined) o.data = e.data;
      return o;
    }
  }
}

/** JSON text of strings seen before in this chunk (sources and tags repeat): quoted and escaped once. */
export type JsonStrings = Map<string, string>;

function quoted(s: string, seen: JsonStrings): string {
  let q = seen.get(s);
  if (q === undefined) {
    q = JSON.stringify(s);
    if (seen.size < 10_000) seen.set(s, q);
  }
  return q;
}

function jsonNumber(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null'; // as JSON.stringify writes numbers
}

/**
 * `JSON.stringify(recordJson(r))`, byte for byte, without building the object first: samples are
 * nearly every record and this is the sinks' hottest path. Predictions and events take the plain way.
 */
export function recordJsonText(r: OutboxRecord, seen: JsonStrings): string {
  if (r.kind !== 'sample') return JSON.stringify(recordJson(r));
  const s = r.sample;
  const v = s.value;
  let value: string;
  switch (typeof v) {
    case 'number': value = jsonNumber(v); break;
    case 'boolean': value = v ? 'true' : 'false'; break;
    case 'string': value = JSON.stringify(v); break;
    case 'bigint': value = `"${v.toString()}"`; break;
    default: value = 'null';
  }
  let text = `{"id":${JSON.stringify(r.id)},"kind":"sample","source":${quoted(s.source, seen)},"tag":${quoted(s.tag, seen)},"ts":${jsonNumber(s.ts)},"value":${value},"quality":${quoted(s.quality, seen)}`;
  if (s.reason !== undefined) text += `,"reason":${quoted(s.reason, seen)}`;
  return text + '}';
}
