import type { OutboxRecord } from '../../outbox/index.ts';
import { recordSource } from '../../outbox/records.ts';
import { type JsonStrings, compactSamplesText, idPrefix, recordJsonText } from '../json.ts';

export interface OutgoingMessage {
  topic: string;
  payload: Buffer | string;
  qos: 0 | 1;
}

const TOPIC_VARS = /\{(gateway|kind|source|tag)\}/g;

/** Fills a topic template; MQTT wildcards and separators in ids are replaced so a value cannot add levels. */
export function renderTopic(template: string, vars: { gateway: string; kind: string; source: string; tag?: string }): string {
  return template.replace(TOPIC_VARS, (_, k: string) => String(vars[k as keyof typeof vars] ?? '').replace(/[/+#]/g, '_'));
}

function tagOf(r: OutboxRecord): string {
  return r.kind === 'sample' ? r.sample.tag : r.kind === 'event' ? r.event.kind : r.prediction.model;
}

/** A run of one topic's records that becomes one message: compact samples of one id prefix, or records. */
interface Segment { compact: boolean; source: string; idBase: string; records: OutboxRecord[] }

/**
 * JSON messages for a chunk. `batch`: one message per topic in the chunk; with `format: records`
 * `{"gateway","records":[...]}`, with `format: compact` samples as one columnar message
 * (`compactSamplesText`) and predictions/events as `records`. `sample`: one message per record.
 * Order is kept per topic.
 */
export function jsonMessages(records: OutboxRecord[], o: { gateway: string; template: string; mode: 'batch' | 'sample'; qos: 0 | 1; format?: 'records' | 'compact' }): OutgoingMessage[] {
  const out: OutgoingMessage[] = [];
  const seen: JsonStrings = new Map();
  if (o.mode === 'sample') {
    for (const r of records) {
      const topic = renderTopic(o.template, { gateway: o.gateway, kind: r.kind, source: recordSource(r), tag: tagOf(r) });
      out.push({ topic, payload: recordJsonText(r, seen), qos: o.qos });
    }
    return out;
  }
  const compact = o.format === 'compact';
  // per-source order is the promise; one message per topic per chunk keeps messages large
  const groups = new Map<string, Segment[]>(); // topic -> its segments in order
  const byKind = new Map<string, Map<string, Segment[]>>(); // kind -> source -> its topic's segments: rendered once per chunk
  let lastKind = '';
  let lastSource = '';
  let last: Segment[] | undefined;
  for (const r of records) {
    const source = recordSource(r);
    let g = last;
    // records come in runs of one source: skip the lookups while the run lasts
    if (g === undefined || r.kind !== lastKind || source !== lastSource) {
      let bySource = byKind.get(r.kind);
      if (!bySource) byKind.set(r.kind, (bySource = new Map<string, Segment[]>()));
      g = bySource.get(source);
      if (!g) {
        const topic = renderTopic(o.template, { gateway: o.gateway, kind: r.kind, source });
        g = groups.get(topic);
        if (!g) groups.set(topic, (g = []));
        bySource.set(source, g);
      }
      last = g;
      lastKind = r.kind;
      lastSource = source;
    }
    const isCompact = compact && r.kind === 'sample';
    const idBase = isCompact ? idPrefix(r) : '';
    const seg = g[g.length - 1];
    // a compact message holds one source and one id prefix (a template without {source} or {kind} mixes them)
    if (seg !== undefined && seg.compact === isCompact && (!isCompact || (seg.source === source && seg.idBase === idBase))) seg.records.push(r);
    else g.push({ compact: isCompact, source, idBase, records: [r] });
  }
  // the same text as JSON.stringify({ gateway, records }) would give
  const head = `{"gateway":${JSON.stringify(o.gateway)},"records":[`;
  // a Buffer, not a string: the client keeps each message until its PUBACK, and off-heap bytes are
  // not copied by every young-generation GC meanwhile
  for (const [topic, segs] of groups) {
    for (const seg of segs) {
      const text = seg.compact
        ? compactSamplesText(o.gateway, seg.source, seg.idBase, seg.records, seen)
        : `${head}${seg.records.map((r) => recordJsonText(r, seen)).join(',')}]}`;
      out.push({ topic, payload: Buffer.from(text), qos: o.qos });
    }
  }
  return out;
}
