import type { OutboxRecord } from '../../outbox/index.ts';
import { recordSource } from '../../outbox/records.ts';
import { type JsonStrings, recordJsonText } from '../json.ts';

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

/**
 * JSON messages for a chunk. `batch`: one message per topic in the chunk, `{"gateway","records":[...]}`; `sample`: one message per record. Order is kept per topic.
 */
export function jsonMessages(records: OutboxRecord[], o: { gateway: string; template: string; mode: 'batch' | 'sample'; qos: 0 | 1 }): OutgoingMessage[] {
  const out: OutgoingMessage[] = [];
  const seen: JsonStrings = new Map();
  if (o.mode === 'sample') {
    for (const r of records) {
      const topic = renderTopic(o.template, { gateway: o.gateway, kind: r.kind, source: recordSource(r), tag: tagOf(r) });
      out.push({ topic, payload: recordJsonText(r, seen), qos: o.qos });
    }
    return out;
  }
  // per-source order is the promise; one message per topic per chunk keeps messages large
  const groups = new Map<string, string[]>(); // topic -> record texts
  const byKind = new Map<string, Map<string, string[]>>(); // kind -> source -> its topic's group: rendered once per chunk
  let lastKind = '';
  let lastSource = '';
  let last: string[] | undefined;
  for (const r of records) {
    const source = recordSource(r);
    let g = last;
    // records come in runs of one source: skip the lookups while the run lasts
    if (g === undefined || r.kind !== lastKind || source !== lastSource) {
      let bySource = byKind.get(r.kind);
      if (!bySource) byKind.set(r.kind, (bySource = new Map()));
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
    g.push(recordJsonText(r, seen));
  }
  // the same text as JSON.stringify({ gateway, records }) would give
  const head = `{"gateway":${JSON.stringify(o.gateway)},"records":[`;
  // a Buffer, not a string: the client keeps each message until its PUBACK, and off-heap bytes are
  // not copied by every young-generation GC meanwhile
  for (const [topic, group] of groups) out.push({ topic, payload: Buffer.from(`${head}${group.join(',')}]}`), qos: o.qos });
  return out;
}
