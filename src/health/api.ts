import { parseDuration } from '../core/units.ts';
import type { HealthView } from './view.ts';

type Reply = { status: number; body: unknown } | undefined;

const HOUR = 3_600_000;

/**
 * The JSON endpoints beside /api/status, for the dashboard and for scripts:
 *   GET  /api/tags[?q=text&limit=N&spark=SECONDS]      every tag, grouped by source and device
 *   GET  /api/tags/<source>/<tag>/history[?since=15m]  one tag's trend (min/max/last per bucket)
 *   GET  /api/series[?since=1h]                        model outputs with thresholds, outbox backlog
 *   GET  /api/alarms                                   the active alarms
 *   POST /api/alarms/<id>/ack                          acknowledge (local; never a device write)
 * `since` is a duration ago (15m, 1h) or ms since the epoch. Path parts are URL-encoded.
 */
export function healthApi(view: HealthView, req: { method: string; path: string; query: URLSearchParams; user: string }): Reply {
  const { path, query } = req;
  const now = Date.now();
  if (path === '/api/tags') {
    const limit = intParam(query.get('limit'));
    const spark = intParam(query.get('spark'));
    return { status: 200, body: view.taps.tags.list({ q: query.get('q') ?? undefined, limit, spark: spark && Math.min(spark, 3600), now }) };
  }
  if (path.startsWith('/api/tags/') && path.endsWith('/history')) {
    const rest = path.slice('/api/tags/'.length, -'/history'.length);
    const slash = rest.indexOf('/');
    if (slash <= 0) return { status: 404, body: { error: 'expected /api/tags/<source>/<tag>/history' } };
    const source = decodeURIComponent(rest.slice(0, slash));
    const tag = decodeURIComponent(rest.slice(slash + 1));
    const since = sinceParam(query.get('since'), now, HOUR);
    if (since === undefined) return { status: 400, body: { error: `since: expected a duration ago (15m, 1h) or ms since the epoch; got ${query.get('since')}` } };
    const h = view.taps.tags.history(source, tag, since, now);
    if (!h) return { status: 404, body: { error: `no tag "${tag}" in source "${source}"` } };
    const e = view.taps.tags.get(source, tag)!;
    return { status: 200, body: { source, tag, unit: e.unit, since, time: now, ...h } };
  }
  if (path === '/api/series') {
    const since = sinceParam(query.get('since'), now, HOUR);
    if (since === undefined) return { status: 400, body: { error: `since: expected a duration ago (15m, 1h) or ms since the epoch; got ${query.get('since')}` } };
    return { status: 200, body: series(view, since, now) };
  }
  if (path === '/api/alarms' && req.method !== 'POST') {
    return { status: 200, body: { time: now, rules: view.alarms?.count ?? 0, active: view.alarms?.active() ?? [] } };
  }
  const ack = /^\/api\/alarms\/([^/]+)\/ack$/.exec(path);
  if (ack && req.method === 'POST') {
    const id = decodeURIComponent(ack[1]!);
    const ok = view.alarms?.acknowledge(id, req.user) ?? false;
    return ok ? { status: 200, body: { acknowledged: id } } : { status: 404, body: { error: `no active alarm "${id}"` } };
  }
  return undefined;
}

function series(view: HealthView, since: number, now: number) {
  const store = view.taps.series;
  const thresholds = new Map((view.config?.models ?? []).map((m) => [`model.${m.id}`, m.thresholds ?? []]));
  const models: { model: string; output: string; threshold?: number; t: number[]; last: number[]; max: number[] }[] = [];
  let backlog: { t: number[]; last: number[] } | undefined;
  if (store) {
    for (const e of store.entries()) {
      const h = e.series?.read(since, now);
      if (!h) continue;
      if (e.source === 'gateway' && e.tag === 'outbox.backlog') {
        backlog = { t: h.t, last: h.last };
        continue;
      }
      const th = thresholds.get(e.source)?.find((t) => t.field === e.tag);
      models.push({ model: e.source.slice('model.'.length), output: e.tag, threshold: th?.above ?? th?.below, t: h.t, last: h.last, max: h.max });
    }
  }
  return { time: now, since, history: store !== undefined, models, backlog: backlog ?? { t: [], last: [] } };
}

function intParam(v: string | null): number | undefined {
  if (v === null || v === '') return undefined;
  const n = Number(v);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

/** "15m" (ago), "3600000" or a bare large number (ms since the epoch); default `dflt` ago. */
function sinceParam(v: string | null, now: number, dflt: number): number | undefined {
  if (v === null || v === '') return now - dflt;
  if (/^\d{12,}$/.test(v)) return Number(v);
  const d = parseDuration(v);
  return d === undefined ? undefined : now - d;
}
