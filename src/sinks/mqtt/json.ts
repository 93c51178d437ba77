import type { OutboxRecord } from '../../outbox/index.ts';
import { recordSource } from '../../outbox/records.ts';
import { type RecordJson, recordJson } from '../json.ts';

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
  if (o.mode === 'sample') {
    for (const r of records) {
      const topic = renderTopic(o.template, { gateway: o.gateway, kind: r.kind, source: recordSource(r), tag: tagOf(r) });
      out.push({ topic, payload: JSON.stringify(recordJson(r)), qos: o.qos });
    }
    return out;
  }
  // per-source order is the promise; one message per topic per chunk keeps messages large
  const groups = new Map<string, RecordJson[]>();
  const topics = new Map<string, string>(); // kind+source -> topic: render once per chunk, not per record
  for (const r of records) {
    const source = recordSource(r);
    const key = `${r.kind}\u0000${source}`;
    let t = topics.get(key);
    if (t === undefined) topics.set(key, (t = renderTopic(o.template, { gateway: o.gateway, kind: r.kind, source })));
    let g = groups.get(t);
    if (!g) groups.set(t, (g = []));
    g.push(recordJson(r));
  }
  for (const [topic, group] of groups) out.push({ topic, payload: JSON.stringify({ gateway: o.gateway, records: group }), qos: o.qos });
  return out;
}
