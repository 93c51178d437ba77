import type { OutboxRecord } from '../../outbox/index.ts';
import { recordSource } from '../../outbox/records.ts';
import { type JsonStrings, batchTexts, recordJsonText } from '../json.ts';

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
  for (const m of batchTexts(records, o.gateway, o.format === 'compact', (kind, source) => renderTopic(o.template, { gateway: o.gateway, kind, source }), seen)) {
    // a Buffer, not a string: the client keeps each message until its PUBACK, and off-heap bytes are
    // not copied by every young-generation GC meanwhile
    out.push({ topic: m.group, payload: Buffer.from(m.text), qos: o.qos });
  }
  return out;
}
