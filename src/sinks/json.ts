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
