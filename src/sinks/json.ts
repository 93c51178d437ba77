import type { OutboxRecord } from '../outbox/index.ts';
import { jsonValue, recordSource } from '../outbox/records.ts';
import { float32Text } from './float32-text.ts';

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

/**
 * One compact message for samples of one source, in order (the `format: compact` shape, see
 * src/sinks/mqtt/README.md): tags and values as parallel arrays, one `ts` when every sample shares it
 * (else an array), `quality`/`reason` only for the positions that are not good, and ids as
 * `idBase` + runs of seq (`[start, count, start, count, ...]`): the id of position i is
 * `idBase + <i-th seq>`, exactly the `id` the per-record shape gives, so per-sample dedupe still works.
 * Values the device sent as float32 (`Sample.float32`) are the shortest decimal that reads back as
 * that float32 (`float32Text`); every other number is its exact double text, as in `records`.
 * Every record must be a sample with the id prefix `idBase`.
 */
export function compactSamplesText(gateway: string, source: string, idBase: string, records: readonly OutboxRecord[], seen: JsonStrings): string {
  const n = records.length;
  const tags: string[] = new Array<string>(n);
  const values: string[] = new Array<string>(n);
  const runs: number[] = [];
  let quality = '';
  let reason = '';
  const ts0 = n > 0 ? (records[0] as { sample: { ts: number } }).sample.ts : 0;
  let oneTs = true;
  let runStart = -1;
  let runLen = 0;
  for (let i = 0; i < n; i++) {
    const r = records[i]!;
    if (r.kind !== 'sample') throw new TypeError('compactSamplesText: samples only');
    const s = r.sample;
    tags[i] = quoted(s.tag, seen);
    const v = s.value;
    switch (typeof v) {
      // a float32 from the device: the shortest text that reads back as it (23.4567, not 23.45669937133789)
      case 'number': values[i] = s.float32 === true ? float32Text(v) : jsonNumber(v); break;
      case 'boolean': values[i] = v ? 'true' : 'false'; break;
      case 'string': values[i] = JSON.stringify(v); break;
      case 'bigint': values[i] = `"${v.toString()}"`; break;
      default: values[i] = 'null';
    }
    if (s.ts !== ts0) oneTs = false;
    if (s.quality !== 'good') quality += `${quality ? ',' : ''}"${i}":${quoted(s.quality, seen)}`;
    if (s.reason !== undefined) reason += `${reason ? ',' : ''}"${i}":${quoted(s.reason, seen)}`;
    if (runLen > 0 && r.seq === runStart + runLen) runLen++;
    else {
      if (runLen > 0) runs.push(runStart, runLen);
      runStart = r.seq;
      runLen = 1;
    }
  }
  if (runLen > 0) runs.push(runStart, runLen);
  let ts: string;
  if (oneTs) ts = jsonNumber(ts0);
  else {
    const all: string[] = new Array<string>(n);
    for (let i = 0; i < n; i++) all[i] = jsonNumber((records[i] as { sample: { ts: number } }).sample.ts);
    ts = `[${all.join(',')}]`;
  }
  let text = `{"gateway":${quoted(gateway, seen)},"source":${quoted(source, seen)},"idBase":${quoted(idBase, seen)},"seq":[${runs.join(',')}],"ts":${ts},"tag":[${tags.join(',')}],"value":[${values.join(',')}]`;
  if (quality) text += `,"quality":{${quality}}`;
  if (reason) text += `,"reason":{${reason}}`;
  return text + '}';
}

/** The id prefix of a record (`<gateway>:<epoch>:`): its id without the seq. */
export function idPrefix(r: OutboxRecord): string {
  const tail = String(r.seq);
  return r.id.endsWith(tail) ? r.id.slice(0, r.id.length - tail.length) : r.id + '#';
}

/**
 * `idPrefix(r)`, without allocating when `r.id` is `prev` followed by its seq: the records of one
 * outbox share their prefix, and this runs for every sample a compact message holds.
 */
function samePrefix(r: OutboxRecord, prev: string): string {
  const id = r.id;
  if (prev !== '' && id.startsWith(prev) && isSeqText(id, prev.length, r.seq)) return prev;
  return idPrefix(r);
}

/** whether id.slice(from) === String(seq), for a seq that is a non-negative integer, without building either */
function isSeqText(id: string, from: number, seq: number): boolean {
  const len = id.length - from;
  if (len < 1 || len > 15 || (len > 1 && id.charCodeAt(from) === 48)) return false;
  let v = 0;
  for (let i = from; i < id.length; i++) {
    const d = id.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    v = v * 10 + d;
  }
  return v === seq;
}

/** The shape `compactSamplesText` writes, as an upstream reads it. */
export interface CompactSamplesJson {
  gateway: string;
  source: string;
  idBase: string;
  seq: number[];
  ts: number | number[];
  tag: string[];
  value: (number | boolean | string | null)[];
  quality?: Record<string, string>;
  reason?: Record<string, string>;
}

/** Back to one object per sample: the decoder the README shows, kept here so tests hold it to its word. */
export function decodeCompactSamples(m: CompactSamplesJson): { id: string; source: string; tag: string; ts: number; value: number | boolean | string | null; quality: string; reason?: string }[] {
  const out: { id: string; source: string; tag: string; ts: number; value: number | boolean | string | null; quality: string; reason?: string }[] = [];
  for (let k = 0, i = 0; k < m.seq.length; k += 2) {
    for (let j = 0; j < m.seq[k + 1]!; j++, i++) {
      const o: { id: string; source: string; tag: string; ts: number; value: number | boolean | string | null; quality: string; reason?: string } = {
        id: m.idBase + (m.seq[k]! + j), source: m.source, tag: m.tag[i]!,
        ts: Array.isArray(m.ts) ? m.ts[i]! : m.ts, value: m.value[i]!, quality: m.quality?.[i] ?? 'good',
      };
      const why = m.reason?.[i];
      if (why !== undefined) o.reason = why;
      out.push(o);
    }
  }
  return out;
}

/**
 * A run of one group's records that becomes one message: compact samples of one id prefix, or records.
 * `ts0`/`uniform`: the first sample's timestamp and whether every sample so far shares it.
 */
interface Segment { compact: boolean; source: string; idBase: string; records: OutboxRecord[]; ts0: number; uniform: boolean }

/**
 * Whether a sample at `ts` starts a new compact message: when the message so far is a poll (two or
 * more samples, one timestamp) and this one has another timestamp, i.e. the next poll of the same
 * source in the chunk. One message per poll keeps `ts` one number (a `ts` array costs ~14 bytes a
 * sample); samples that each have their own time (OPC UA source timestamps) stay in one message.
 */
export function startsNextPoll(count: number, uniform: boolean, ts0: number, ts: number): boolean {
  return uniform && count >= 2 && ts !== ts0;
}

/**
 * The `batch` JSON messages of a chunk, one or more per group (`groupOf(kind, source)`: the MQTT
 * topic, or one key for every source in an HTTP body or a file): with `compact`, the samples of one
 * source and id prefix as one columnar message (`compactSamplesText`), predictions and events as
 * `{"gateway","records":[...]}`; without, everything as `records`. Groups in order of first
 * appearance, records in chunk order within each: per-source order is kept.
 */
export function batchTexts(records: readonly OutboxRecord[], gateway: string, compact: boolean, groupOf: (kind: string, source: string) => string, seen: JsonStrings = new Map()): { group: string; text: string }[] {
  const groups = new Map<string, Segment[]>(); // group -> its segments in order
  const byKind = new Map<string, Map<string, Segment[]>>(); // kind -> source -> its group's segments: groupOf once per chunk
  let lastKind = '';
  let lastSource = '';
  let last: Segment[] | undefined;
  let lastIdBase = '';
  for (const r of records) {
    const source = recordSource(r);
    let g = last;
    // records come in runs of one source: skip the lookups while the run lasts
    if (g === undefined || r.kind !== lastKind || source !== lastSource) {
      let bySource = byKind.get(r.kind);
      if (!bySource) byKind.set(r.kind, (bySource = new Map<string, Segment[]>()));
      g = bySource.get(source);
      if (!g) {
        const key = groupOf(r.kind, source);
        g = groups.get(key);
        if (!g) groups.set(key, (g = []));
        bySource.set(source, g);
      }
      last = g;
      lastKind = r.kind;
      lastSource = source;
    }
    const isCompact = compact && r.kind === 'sample';
    const idBase = isCompact ? (lastIdBase = samePrefix(r, lastIdBase)) : '';
    const ts = r.kind === 'sample' ? r.sample.ts : 0;
    const seg = g[g.length - 1];
    // a compact message holds one source and one id prefix (a group of several sources mixes them), and one poll
    if (seg !== undefined && seg.compact === isCompact && (!isCompact || (seg.source === source && seg.idBase === idBase && !startsNextPoll(seg.records.length, seg.uniform, seg.ts0, ts)))) {
      seg.records.push(r);
      if (ts !== seg.ts0) seg.uniform = false;
    } else g.push({ compact: isCompact, source, idBase, records: [r], ts0: ts, uniform: true });
  }
  // the same text as JSON.stringify({ gateway, records }) would give
  const head = `{"gateway":${JSON.stringify(gateway)},"records":[`;
  const out: { group: string; text: string }[] = [];
  for (const [group, segs] of groups) {
    for (const seg of segs) {
      const text = seg.compact
        ? compactSamplesText(gateway, seg.source, seg.idBase, seg.records, seen)
        : `${head}${seg.records.map((r) => recordJsonText(r, seen)).join(',')}]}`;
      out.push({ group, text });
    }
  }
  return out;
}

/**
 * A chunk as newline-delimited compact messages (the HTTP and file sinks' `format: compact`): the
 * shapes MQTT's `format: compact` sends, one per line, every source's samples in one line per id prefix.
 */
export function compactLines(records: readonly OutboxRecord[], gateway: string): string {
  let text = '';
  for (const m of batchTexts(records, gateway, true, () => '')) text += m.text + '\n';
  return text;
}
