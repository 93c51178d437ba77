// The fieldgate dashboard: polls /api/status once a second and redraws. Plain browser JS, no build.
/* global uPlot */
'use strict';

const POLL_MS = 1000;
const BACKLOG_POINTS = 600; // ten minutes at one poll a second
const COLUMNS = [
  ['simulator', 'Simulators'], ['source', 'Sources'], ['router', 'Router'], ['model', 'Models'],
  ['outbox', 'Outbox'], ['sink', 'Sinks'], ['health', 'Health'],
];
const COLORS = ['#4a7bd0', '#d0644a', '#2e9d4f', '#9b59b6', '#d9a300', '#16a0a8', '#7f8c8d', '#c0392b'];

const $ = (id) => document.getElementById(id);
const backlog = { t: [], v: [] };
let predChart = null;
let predKeys = '';
let backlogChart = null;

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

function stageCard(s) {
  const tags = el('div', { class: 'tags' });
  if (s.breaker) tags.append(el('span', { class: s.breaker === 'closed' ? '' : 'open', title: 'circuit breaker' }, 'breaker ' + s.breaker));
  if (s.restarts) tags.append(el('span', { title: 'supervisor restarts' }, s.restarts + ' restarts'));
  if (s.channel && s.channel.dropped) tags.append(el('span', { class: 'open', title: 'dropped by the channel' }, fmt(s.channel.dropped) + ' dropped'));
  if (s.kind === 'outbox' && s.details) {
    if (typeof s.details.rows === 'number') tags.append(el('span', {}, fmt(s.details.rows) + ' rows'));
    if (typeof s.details.usedBytes === 'number' && typeof s.details.maxBytes === 'number' && s.details.maxBytes > 0) {
      tags.append(el('span', {}, Math.round(100 * s.details.usedBytes / s.details.maxBytes) + '% full'));
    }
  }
  const card = el('div', { class: 'stage', 'data-stage': s.name, 'data-state': s.state, title: 'since ' + new Date(s.since).toLocaleString() },
    el('span', { class: 'state' }, s.state),
    el('div', { class: 'name' }, s.name),
    s.reason ? el('div', { class: 'reason' }, s.reason) : undefined,
    el('div', { class: 'rates' }, 'in ' + fmt(s.rates.in) + '/s · out ' + fmt(s.rates.out) + '/s'),
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
  for (const [kind, title] of COLUMNS) {
    const list = stages.filter((s) => s.kind === kind);
    if (list.length === 0) continue;
    if (cols.length > 0 && kind !== 'health') cols.push(el('div', { class: 'arrow' }, '→'));
    cols.push(el('div', { class: 'column', 'data-kind': kind }, el('h3', {}, title), ...list.map(stageCard)));
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

function drawPredictions(preds) {
  const node = $('predictions');
  if (typeof uPlot === 'undefined' || preds.length === 0) return;
  // one series per model output, on a shared time axis
  const keys = [];
  for (const p of preds) for (const k of Object.keys(p.outputs)) { const key = p.model + '.' + k; if (!keys.includes(key)) keys.push(key); }
  const times = [...new Set(preds.map((p) => p.ts / 1000))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const data = [times, ...keys.map(() => new Array(times.length).fill(null))];
  for (const p of preds) {
    const i = index.get(p.ts / 1000);
    for (const [k, v] of Object.entries(p.outputs)) data[1 + keys.indexOf(p.model + '.' + k)][i] = v;
  }
  const sig = keys.join('|');
  if (!predChart || sig !== predKeys) {
    predChart?.destroy();
    node.replaceChildren();
    predKeys = sig;
    predChart = new uPlot({
      width: chartWidth(node), height: 240,
      series: [{}, ...keys.map((k, i) => ({ label: k, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true }))],
      axes: [{}, { size: 60 }],
    }, data, node);
  } else {
    predChart.setData(data);
  }
}

function drawBacklog(value) {
  const node = $('backlog-chart');
  if (typeof uPlot === 'undefined' || value === undefined) return;
  backlog.t.push(Date.now() / 1000);
  backlog.v.push(value);
  if (backlog.t.length > BACKLOG_POINTS) { backlog.t.shift(); backlog.v.shift(); }
  const data = [backlog.t, backlog.v];
  if (!backlogChart) {
    backlogChart = new uPlot({
      width: chartWidth(node), height: 240,
      series: [{}, { label: 'records', stroke: '#4a7bd0', fill: 'rgba(74,123,208,.15)', width: 1.5 }],
      axes: [{}, { size: 60 }],
    }, data, node);
  } else {
    backlogChart.setData(data);
  }
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
  drawPipeline(st.stages);
  drawEvents(st.events);
  drawPredictions(st.predictions);
  drawBacklog(st.totals.backlog);
  $('updated').textContent = new Date(st.time).toLocaleTimeString();
}

async function poll() {
  try {
    const res = await fetch('/api/status', { credentials: 'same-origin', cache: 'no-store' });
    if (res.status === 401) throw new Error('this gateway needs its health token: open /?token=YOUR_TOKEN once');
    if (!res.ok) throw new Error('/api/status answered ' + res.status);
    render(await res.json());
    document.body.dataset.connected = 'true';
  } catch (e) {
    document.body.dataset.connected = 'false';
    const overall = $('overall');
    overall.dataset.state = 'down';
    overall.textContent = 'no connection';
    const problem = $('problem');
    problem.hidden = false;
    problem.textContent = String(e.message || e);
  }
  setTimeout(poll, POLL_MS);
}

window.addEventListener('resize', () => {
  for (const [chart, id] of [[predChart, 'predictions'], [backlogChart, 'backlog-chart']]) {
    if (chart) chart.setSize({ width: chartWidth($(id)), height: 240 });
  }
});

poll();
