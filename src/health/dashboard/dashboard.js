// The fieldgate dashboard: polls /api/status and /api/tags once a second, /api/series every five
// seconds, and redraws. Plain browser JS, no build.
/* global uPlot */
'use strict';

const POLL_MS = 1000;
const COLUMNS = [
  ['simulator', 'Simulators'], ['source', 'Sources'], ['router', 'Router'], ['model', 'Models'],
  ['outbox', 'Outbox'], ['sink', 'Sinks'], ['health', 'Health'],
];
const COLORS = ['#4a7bd0', '#d0644a', '#2e9d4f', '#9b59b6', '#d9a300', '#16a0a8', '#7f8c8d', '#c0392b'];

const $ = (id) => document.getElementById(id);

function fmt(n) {
  if (n === undefined || n === null || Number.isNaN(n)) return '–';
  if (n >= 1e6) return (n / 1e6).toFixed(1) + 'M';
  if (n >= 1e4) return (n / 1e3).toFixed(1) + 'k';
  if (n >= 100 || Number.isInteger(n)) return String(Math.round(n));
  return n.toFixed(1);
}

function duration(s) {
  if (s < 60) return s + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min';
  if (s < 86400) return (s / 3600).toFixed(1) + ' h';
  return (s / 86400).toFixed(1) + ' d';
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined) continue;
    if (k === 'class') e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== undefined && c !== null) e.append(c);
  return e;
}

function stageCard(s, ctx) {
  const tags = el('div', { class: 'tags' });
  if (s.raised && s.raised.length) tags.append(el('span', { class: 'open', title: 'model thresholds raised now' }, 'anomaly: ' + s.raised.join(', ')));
  const alarm = alarmsBySource.get(s.name);
  if (alarm) tags.append(el('span', { class: 'open', title: 'active alarms on its tags' }, 'alarm'));
  if (s.breaker) tags.append(el('span', { class: s.breaker === 'closed' ? '' : 'open', title: 'circuit breaker' }, 'breaker ' + s.breaker));
  if (s.restarts) tags.append(el('span', { title: 'supervisor restarts' }, s.restarts + ' restarts'));
  if (s.channel && s.channel.dropped) tags.append(el('span', { class: 'open', title: 'dropped by the channel' }, fmt(s.channel.dropped) + ' dropped'));
  if (s.kind === 'outbox' && s.details) {
    if (typeof s.details.rows === 'number') tags.append(el('span', {}, fmt(s.details.rows) + ' rows'));
    if (typeof s.details.usedBytes === 'number' && typeof s.details.maxBytes === 'number' && s.details.maxBytes > 0) {
      tags.append(el('span', {}, Math.round(100 * s.details.usedBytes / s.details.maxBytes) + '% full'));
    }
  }
  const state = s.planned ? 'restarting' : s.state;
  // the outbox passes records on through the sinks: its "out" is what they delivered
  const rates = s.kind === 'outbox'
    ? 'in ' + fmt(s.rates.in) + '/s · to sinks ' + fmt(ctx.sinkOut) + '/s'
    : 'in ' + fmt(s.rates.in) + '/s · out ' + fmt(s.rates.out) + '/s';
  const card = el('div', {
    class: 'stage', 'data-stage': s.name, 'data-state': state, 'data-alarm': alarm,
    'data-anomaly': s.raised && s.raised.length ? 'raised' : undefined, title: 'since ' + new Date(s.since).toLocaleString(),
  },
    el('span', { class: 'state' }, state),
    el('div', { class: 'name' }, s.name),
    s.reason ? el('div', { class: 'reason' }, s.reason) : undefined,
    el('div', { class: 'rates' }, rates),
    tags);
  if (s.channel) {
    const pct = s.channel.capacity > 0 ? Math.min(100, 100 * s.channel.depth / s.channel.capacity) : 0;
    const fill = el('div', { class: 'fill' + (pct >= 80 ? ' high' : ''), title: 'channel ' + s.channel.depth + ' / ' + s.channel.capacity });
    const bar = el('div');
    bar.style.width = pct + '%';
    fill.append(bar);
    card.append(fill);
  }
  return card;
}

function drawPipeline(stages) {
  const root = $('pipeline');
  const cols = [];
  const ctx = { sinkOut: stages.filter((s) => s.kind === 'sink').reduce((a, s) => a + s.rates.out, 0) };
  for (const [kind, title] of COLUMNS) {
    const list = stages.filter((s) => s.kind === kind);
    if (list.length === 0) continue;
    if (cols.length > 0 && kind !== 'health') cols.push(el('div', { class: 'arrow' }, '→'));
    cols.push(el('div', { class: 'column', 'data-kind': kind }, el('h3', {}, title), ...list.map((s) => stageCard(s, ctx))));
  }
  root.replaceChildren(...cols);
}

function drawEvents(events) {
  const items = events.slice(-50).reverse().map((e) =>
    el('li', { class: e.severity },
      el('time', {}, new Date(e.ts).toLocaleTimeString()),
      el('span', { class: 'sev' }, e.severity),
      el('span', {}, e.message)));
  $('events').replaceChildren(...(items.length ? items : [el('li', {}, el('span', { class: 'empty' }, 'no events yet'))]));
}

function chartWidth(node) {
  return Math.max(280, node.clientWidth - 8);
}

// ---- charts from server-side history (/api/series): a page opened late still shows the last hour

const charts = new Map(); // node id -> { chart, sig }

function chart(id, sig, opts, data) {
  const node = $(id);
  let c = charts.get(id);
  if (!c || c.sig !== sig) {
    c?.chart.destroy();
    node.replaceChildren();
    c = { sig, chart: new uPlot({ width: chartWidth(node), height: opts.height || 220, ...opts }, data, node) };
    charts.set(id, c);
  } else {
    c.chart.setData(data);
  }
}

/** Joins series with their own time columns onto one sorted time axis (uPlot wants one). */
function align(list) {
  const times = [...new Set(list.flatMap((s) => s.t))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const cols = list.map((s) => {
    const col = new Array(times.length).fill(null);
    s.t.forEach((t, i) => { col[index.get(t)] = s.v[i]; });
    return col;
  });
  return [times.map((t) => t / 1000), ...cols];
}

function drawSeries(doc) {
  if (typeof uPlot === 'undefined') return;
  const scored = doc.models.filter((m) => m.threshold !== undefined && m.threshold !== null);
  const others = doc.models.filter((m) => m.threshold === undefined || m.threshold === null);
  if (scored.length > 0 && scored.some((m) => m.t.length > 0)) {
    // each thresholded output against its threshold line, on an axis of its own
    const list = [];
    const series = [{}];
    scored.forEach((m, i) => {
      const color = COLORS[i % COLORS.length];
      list.push({ t: m.t, v: m.max });
      series.push({ label: m.model + '.' + m.output + ' (max per bucket)', stroke: color, width: 1.5, spanGaps: true });
      list.push({ t: m.t, v: m.t.map(() => m.threshold) });
      series.push({ label: 'threshold ' + m.threshold, stroke: '#c8372d', width: 1.5, dash: [6, 4], spanGaps: true, points: { show: false } });
    });
    chart('scores', series.map((x) => x.label).join('|'), { series, axes: [{}, { size: 50, label: 'score' }] }, align(list));
  }
  if (others.length > 0 && others.some((m) => m.t.length > 0)) {
    const series = [{}, ...others.map((m, i) => ({ label: m.model + '.' + m.output, stroke: COLORS[(i + 2) % COLORS.length], width: 1.5, spanGaps: true }))];
    chart('outputs', series.map((x) => x.label).join('|'), { series, axes: [{}, { size: 60 }] }, align(others.map((m) => ({ t: m.t, v: m.last }))));
  }
  if (doc.backlog.t.length > 0) {
    chart('backlog-chart', 'backlog', {
      series: [{}, { label: 'records waiting', stroke: '#4a7bd0', fill: 'rgba(74,123,208,.15)', width: 1.5 }],
      axes: [{}, { size: 60 }],
    }, [doc.backlog.t.map((t) => t / 1000), doc.backlog.last]);
  }
  if (!doc.history) $('scores').replaceChildren(el('p', { class: 'empty' }, 'history is off (health.history.enabled: false)'));
}

// ---- alarms

let alarmsBySource = new Map();
let alarmsByTag = new Map();

function drawAlarms(list) {
  alarmsBySource = new Map();
  alarmsByTag = new Map();
  const rank = { critical: 3, warning: 2, info: 1 };
  for (const a of list) {
    const s = 'source.' + a.source;
    if (!alarmsBySource.has(s) || rank[a.severity] > rank[alarmsBySource.get(s)]) alarmsBySource.set(s, a.severity);
    const k = a.source + '/' + a.tag;
    if (!alarmsByTag.has(k) || rank[a.severity] > rank[alarmsByTag.get(k)]) alarmsByTag.set(k, a.severity);
  }
  const badge = $('alarm-count');
  const unacked = list.filter((a) => !a.acknowledged).length;
  badge.dataset.state = list.length === 0 ? 'up' : list.some((a) => a.severity === 'critical') ? 'down' : 'degraded';
  badge.textContent = list.length === 0 ? 'no alarms' : list.length + ' alarm' + (list.length === 1 ? '' : 's') + (unacked ? ' (' + unacked + ' new)' : '');
  const rows = list.map((a) => el('tr', { class: 'sev-' + a.severity, 'data-alarm': a.id },
    el('td', {}, el('span', { class: 'sev' }, a.severity)),
    el('td', {}, a.id),
    el('td', {}, a.message),
    el('td', { title: new Date(a.since).toLocaleString() }, new Date(a.since).toLocaleTimeString() + ' (' + duration(Math.round((Date.now() - a.since) / 1000)) + ')'),
    el('td', { class: 'num' }, value(a.value)),
    el('td', {}, a.acknowledged
      ? 'by ' + a.acknowledged.by + ' at ' + new Date(a.acknowledged.at).toLocaleTimeString()
      : el('button', { class: 'ack', 'data-ack': a.id, title: 'acknowledge here (nothing is written to the device)' }, 'acknowledge'))));
  $('alarms').tBodies[0].replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: '6', class: 'empty' }, 'no active alarms'))]));
}

$('alarms').addEventListener('click', async (ev) => {
  const id = ev.target && ev.target.dataset && ev.target.dataset.ack;
  if (!id) return;
  ev.target.disabled = true;
  await fetch('/api/alarms/' + encodeURIComponent(id) + '/ack', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}', credentials: 'same-origin' });
  pollStatus(true);
});

// ---- tags

const TAG_LIMIT = 300;
let trendKey = null;
let trendRange = '15m';

function value(v) {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'number') return Math.abs(v) >= 1e6 || Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(5)));
  return String(v);
}

function age(ms) {
  if (ms === null || ms === undefined) return '–';
  if (ms < 1000) return ms + ' ms';
  return duration(Math.round(ms / 1000));
}

function sparkline(points) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('viewBox', '0 0 100 20');
  svg.setAttribute('preserveAspectRatio', 'none');
  if (!points || points.length < 2) return svg;
  let lo = Infinity; let hi = -Infinity;
  for (const p of points) { if (p < lo) lo = p; if (p > hi) hi = p; }
  const span = hi - lo || 1;
  const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  line.setAttribute('points', points.map((p, i) => (100 * i / (points.length - 1)).toFixed(1) + ',' + (19 - 18 * (p - lo) / span).toFixed(1)).join(' '));
  svg.append(line);
  return svg;
}

function drawTags(doc) {
  const rows = [];
  for (const src of doc.sources) {
    const sev = alarmsBySource.get('source.' + src.source);
    rows.push(el('tr', { class: 'group source', 'data-alarm': sev }, el('td', { colspan: '7' }, src.source)));
    for (const dev of src.devices) {
      if (dev.device !== null && dev.device !== undefined) rows.push(el('tr', { class: 'group device' }, el('td', { colspan: '7' }, dev.device)));
      for (const t of dev.tags) {
        const key = src.source + '/' + t.tag;
        const tr = el('tr', { class: 'tag' + (key === trendKey ? ' selected' : ''), 'data-source': src.source, 'data-tag': t.tag, 'data-quality': t.quality, 'data-alarm': alarmsByTag.get(key), title: 'click for the trend' },
          el('td', { class: 'name' }, t.tag),
          el('td', { class: 'num value' }, value(t.value) + (t.unit ? ' ' + t.unit : '')),
          el('td', {}, el('span', { class: 'q q-' + t.quality }, t.quality === 'none' ? 'no data' : t.quality)),
          el('td', {}, sparkline(t.spark)),
          el('td', { class: 'ts' }, t.ts ? new Date(t.ts).toLocaleTimeString() : '–'),
          el('td', { class: 'num' }, age(t.ageMs)),
          el('td', { class: 'reason' }, t.reason || ''));
        rows.push(tr);
      }
    }
  }
  $('tags').tBodies[0].replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: '7', class: 'empty' }, doc.total ? 'no tag matches' : 'no tags yet'))]));
  $('tag-count').textContent = doc.shown < doc.total ? doc.shown + ' of ' + doc.total : String(doc.total);
  $('tag-note').textContent = doc.shown >= TAG_LIMIT ? 'showing the first ' + TAG_LIMIT + '; search to narrow' : '';
}

$('tags').addEventListener('click', (ev) => {
  const tr = ev.target.closest('tr.tag');
  if (!tr) return;
  trendKey = tr.dataset.source + '/' + tr.dataset.tag;
  $('trend').hidden = false;
  $('trend-title').textContent = trendKey;
  charts.get('trend-chart')?.chart.destroy();
  charts.delete('trend-chart');
  $('trend-chart').replaceChildren();
  pollTrend();
});
$('trend-close').addEventListener('click', () => { trendKey = null; $('trend').hidden = true; });
for (const b of document.querySelectorAll('[data-range]')) {
  b.addEventListener('click', () => { trendRange = b.dataset.range; pollTrend(); });
}
let searchTimer;
$('tag-search').addEventListener('input', () => { clearTimeout(searchTimer); searchTimer = setTimeout(() => pollTags(), 150); });

async function pollTrend() {
  if (!trendKey) return;
  const i = trendKey.indexOf('/');
  const url = '/api/tags/' + encodeURIComponent(trendKey.slice(0, i)) + '/' + encodeURIComponent(trendKey.slice(i + 1)) + '/history?since=' + trendRange;
  try {
    const h = await getJson(url);
    for (const b of document.querySelectorAll('[data-range]')) b.classList.toggle('on', b.dataset.range === trendRange);
    $('trend-note').textContent = h.t.length === 0
      ? 'no numeric values in this range yet'
      : h.t.length + ' buckets of up to ' + (h.resolutionMs / 1000) + ' s (min, max and last of each; the last two minutes in 1 s buckets)' + (h.unit ? ' · ' + h.unit : '');
    if (typeof uPlot === 'undefined' || h.t.length === 0) return;
    const t = h.t.map((x) => x / 1000);
    chart('trend-chart', trendKey + '|' + h.resolutionMs, {
      height: 240,
      series: [{}, { label: 'min', stroke: 'rgba(74,123,208,.45)', width: 1 }, { label: 'max', stroke: 'rgba(208,100,74,.45)', width: 1 },
        { label: 'last', stroke: '#1d2430', width: 2 }],
      axes: [{}, { size: 60, label: h.unit || '' }],
    }, [t, h.min, h.max, h.last]);
  } catch (e) {
    $('trend-note').textContent = String(e.message || e);
  }
}

async function getJson(url) {
  const res = await fetch(url, { credentials: 'same-origin', cache: 'no-store' });
  if (res.status === 401) throw new Error('this gateway needs its health token: open /?token=YOUR_TOKEN once');
  if (!res.ok) throw new Error(url + ' answered ' + res.status);
  return res.json();
}

function render(st) {
  $('gw').textContent = st.gateway.id;
  document.title = 'fieldgate ' + st.gateway.id + ' · ' + st.totals.state;
  const overall = $('overall');
  overall.dataset.state = st.totals.state;
  overall.textContent = st.live.ok ? st.totals.state : 'wedged';
  const ready = $('ready');
  ready.dataset.state = st.ready.ok ? 'up' : 'down';
  ready.textContent = st.ready.ok ? 'ready' : 'not ready';
  ready.title = st.ready.reasons.join('\n');
  $('sps').textContent = fmt(st.totals.samplesPerS);
  $('pps').textContent = fmt(st.totals.predictionsPerS);
  $('backlog').textContent = fmt(st.totals.backlog);
  $('uptime').textContent = duration(st.gateway.uptimeS);
  const problems = [...st.live.reasons, ...st.ready.reasons];
  const problem = $('problem');
  problem.hidden = problems.length === 0;
  problem.textContent = problems.join(' · ');
  drawAlarms(st.alarms || []);
  drawPipeline(st.stages);
  drawEvents(st.events);
  $('updated').textContent = new Date(st.time).toLocaleTimeString();
}

function disconnected(e) {
  document.body.dataset.connected = 'false';
  const overall = $('overall');
  overall.dataset.state = 'down';
  overall.textContent = 'no connection';
  const problem = $('problem');
  problem.hidden = false;
  problem.textContent = String(e.message || e);
}

async function pollStatus() {
  try {
    render(await getJson('/api/status'));
    document.body.dataset.connected = 'true';
  } catch (e) {
    disconnected(e);
  }
}

async function pollTags() {
  try {
    const q = $('tag-search').value.trim();
    drawTags(await getJson('/api/tags?limit=' + TAG_LIMIT + '&spark=60' + (q ? '&q=' + encodeURIComponent(q) : '')));
  } catch (e) {
    $('tag-note').textContent = String(e.message || e);
  }
}

async function pollSeries() {
  try {
    drawSeries(await getJson('/api/series?since=1h'));
  } catch {
    // the status poll reports the connection
  }
}

let ticks = 0;
async function poll() {
  // status first: tag rows and source cards are coloured by its alarms
  await pollStatus();
  await pollTags();
  if (ticks % 5 === 0) await pollSeries();
  if (trendKey && ticks % 2 === 0) await pollTrend();
  ticks++;
  setTimeout(poll, POLL_MS);
}

window.addEventListener('resize', () => {
  for (const [id, c] of charts) c.chart.setSize({ width: chartWidth($(id)), height: c.chart.height });
});

poll();
