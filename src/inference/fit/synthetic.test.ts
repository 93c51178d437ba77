import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Table } from './csv.ts';
import { CLEAR, RAISE, fit } from './fit.ts';

/**
 * The fit's defaults on synthetic series it was not designed on: 5-minute data with a daily cycle
 * (or none), noise, slow drift, a sustained level shift after the normal period, and injected
 * anomalies (a dip, a spike of noise, a stuck sensor). Scored with the fit's own window scores
 * (fit.test.ts checks that the ONNX graph computes the same) and the stage's event rule.
 */
const MIN = 60_000;
const DAY = 1440 * MIN;
const T0 = Date.parse('2024-01-01T00:00:00Z');

interface Case { name: string; days: number; normalDays: number; cycle: number; drift?: number; shift?: { at: number; by: number }; anomalies: { at: number; hours: number; kind: 'dip' | 'noise' | 'stuck' }[] }

function series(c: Case, seed: number): Table {
  const n = c.days * 288;
  const ts = new Float64Array(n);
  const v = new Float64Array(n);
  let s = seed;
  const rnd = (): number => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const gauss = (): number => Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
  let ar = 0;
  for (let i = 0; i < n; i++) {
    const t = T0 + i * 5 * MIN;
    ts[i] = t;
    const d = (t - T0) / DAY;
    ar = 0.95 * ar + 0.3 * gauss(); // correlated noise, sd about 1
    let x = 60 + c.cycle * Math.sin(2 * Math.PI * d) + (c.drift ?? 0) * d + ar;
    if (c.shift && d >= c.shift.at) x += c.shift.by;
    for (const a of c.anomalies) {
      const into = (d - a.at) * 24;
      if (into < 0 || into >= a.hours) continue;
      if (a.kind === 'dip') x -= 12 * Math.sin((Math.PI * into) / a.hours);
      if (a.kind === 'noise') x += 6 * gauss();
      if (a.kind === 'stuck') x = 60 + c.cycle * Math.sin(2 * Math.PI * a.at);
    }
    v[i] = x;
  }
  return { file: `${c.name}.csv`, timeColumn: 'time', columns: ['value'], ts, values: [v], lines: new Int32Array(n) };
}

/** events as the stage raises them; each with whether it starts within an anomaly (or one window after) */
function score(c: Case, table: Table): { hit: number; outside: number; limit: number; window: number } {
  const r = fit(table, { name: c.name, normalTo: T0 + c.normalDays * DAY, keepScores: true });
  const { ts, score: sc } = r.all!;
  const span = r.report.window * r.report.period;
  const which = (t: number): number => c.anomalies.findIndex((a) => t >= T0 + a.at * DAY && t <= T0 + a.at * DAY + a.hours * 3_600_000 + span);
  const hits = new Set<number>();
  let outside = 0;
  let on = false;
  let below = NaN;
  for (let i = 0; i < sc.length; i++) {
    const s = sc[i]!;
    if (!on) {
      if (s > RAISE) {
        on = true;
        below = NaN;
        const k = which(ts[i]!);
        if (k >= 0) hits.add(k); else outside++;
      }
    } else if (s < CLEAR) {
      if (Number.isNaN(below)) below = ts[i]!;
      if (ts[i]! - below >= r.report.clearAfterMs) on = false;
    } else if (s > CLEAR) below = NaN;
  }
  return { hit: hits.size, outside, limit: r.report.limit, window: r.report.window };
}

const anomalies: Case['anomalies'] = [
  { at: 40.3, hours: 6, kind: 'dip' }, { at: 55.6, hours: 4, kind: 'noise' }, { at: 70.1, hours: 8, kind: 'stuck' }, { at: 85.5, hours: 3, kind: 'dip' },
];
const CASES: Case[] = [
  { name: 'daily cycle, 4 weeks normal', days: 100, normalDays: 28, cycle: 5, anomalies },
  { name: 'daily cycle, 8 days normal', days: 100, normalDays: 8, cycle: 5, anomalies },
  { name: 'no cycle, 8 days normal', days: 100, normalDays: 8, cycle: 0, anomalies },
  { name: 'no cycle, 4 weeks normal', days: 100, normalDays: 28, cycle: 0, anomalies },
  { name: 'daily cycle, 4 weeks normal, drift +1 sd a month', days: 100, normalDays: 28, cycle: 5, drift: 1 / 30, anomalies },
  { name: 'level shift +2 sd after the normal period', days: 100, normalDays: 8, cycle: 0, shift: { at: 20, by: 2 }, anomalies },
];

describe('model fit defaults on synthetic series (injected anomalies, daily cycles, a level shift)', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const results = [1, 2, 3].map((seed) => score(c, series(c, seed)));
      // printed for the README's table; the assertions are the issue's bar on these 3 seeds
      console.log(`${c.name}: ${results.map((r) => `window ${r.window}, limit ${r.limit.toFixed(3)}: ${r.hit}/${c.anomalies.length} hit, ${r.outside} outside`).join('; ')}`);
      for (const r of results) {
        assert.ok(r.hit >= c.anomalies.length - 1, `${c.name}: ${r.hit} of ${c.anomalies.length} anomalies raised an event`);
        assert.ok(r.outside <= 3, `${c.name}: ${r.outside} events outside the anomalies`);
      }
    });
  }
});
if (process.env.FG_DUMP) {
  const c = CASES[Number(process.env.FG_DUMP)]!;
  const r = fit(series(c, Number(process.env.FG_SEED ?? 1)), { name: c.name, normalTo: T0 + c.normalDays * DAY, keepScores: true });
  const { ts, score: sc } = r.all!;
  let on = false; let below = NaN;
  for (let i = 0; i < sc.length; i++) {
    const s = sc[i]!;
    if (!on) { if (s > RAISE) { on = true; below = NaN; console.log(`raise day ${((ts[i]! - T0) / DAY).toFixed(2)} ${s.toFixed(2)}`); } }
    else if (s < CLEAR) { if (Number.isNaN(below)) below = ts[i]!; if (ts[i]! - below >= r.report.clearAfterMs) { on = false; console.log(`  clear day ${((ts[i]! - T0) / DAY).toFixed(2)}`); } }
    else if (s > CLEAR) below = NaN;
  }
}
