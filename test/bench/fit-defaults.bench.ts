/**
 * npm run bench:fit-defaults
 *
 * How `model fit`'s two default constants are chosen, without real labels: the window fraction
 * (without a clear cycle the window is one day but at most 1/K of the normal period, K =
 * `minWindows`) and the calibration horizon (the margin extrapolates the normal quantile to the
 * windows of H weeks, `horizon`).
 *
 * The procedure, fixed before any candidate was tried on real data (NAB serves once, afterwards,
 * as a held-out test, outside this file):
 * - Data: the synthetic family of test/support/fit-family.ts (sample periods 1 s to 15 min, flat /
 *   daily / shift-pattern (weekly) / duty-cycle / batch signals, normal periods of 1 h to 90 days,
 *   noise levels, drift, glitches, quantisation and setpoint changes drawn per seed; five anomalies
 *   per series: spike bursts, steps, slow ramps, stuck values, noise bursts, dips), seeds 1 and 2.
 * - Candidates: K in {8, 12, 16, 20, 24, 32} x H in {4, 8, 13, 26, 52} weeks; every other option at
 *   its default (clearAfter one window, quantile 0.999, calendar auto, fixed baseline).
 * - Scoring, per candidate, over every series: caught = anomalies with an event starting inside
 *   them or within one window after; outside = every other event (whole series, as `model evaluate`
 *   counts), with the stage's event rule (raise above 1, end once below 0.7 for one window). A fit
 *   that throws counts all its anomalies missed.
 * - Rule: admissible when outside <= 3 x the number of series (at most 3 false events per series on
 *   average, the issue's budget). Winner: the admissible candidate that catches the most anomalies;
 *   ties go to fewer events outside, then to the higher median peak score over all anomalies (the
 *   detection margin). If none is admissible, the fewest events outside wins.
 *
 * Cost: each (series, distinct window) is fitted once with margin 1 and every horizon is applied
 * afterwards with the fit's own autoMargin (checked below against a direct fit), so a run takes a
 * few minutes. Quick look: BENCH_SEEDS=1.
 */
import { loadavg } from 'node:os';
import { FgError } from '../../src/core/errors.ts';
import { autoMargin, fit, type FitResult } from '../../src/inference/fit/fit.ts';
import { family, generate, outcome, type FamilySeries } from '../support/fit-family.ts';

const WEEK = 7 * 86_400_000;
export const FRACTIONS = [8, 12, 16, 20, 24, 32] as const;
export const HORIZONS_WEEKS = [4, 8, 13, 26, 52] as const;
const SEEDS = Array.from({ length: Number(process.env.BENCH_SEEDS ?? 2) }, (_, i) => i + 1);
/** the defaults before this study, for comparison */
const CURRENT = { k: 12, h: 13 };

interface Cell { caught: number; outside: number; over3: number; failed: number; peaks: number[] }
const key = (k: number, h: number): string => `${k}/${h}`;
const cells = new Map<string, Cell>();
for (const k of FRACTIONS) for (const h of HORIZONS_WEEKS) cells.set(key(k, h), { caught: 0, outside: 0, over3: 0, failed: 0, peaks: [] });
/** per scenario group (sample period and shape), for the winner and the current defaults */
const groups = new Map<string, Map<string, { caught: number; total: number; outside: number; series: number }>>();

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2 : NaN;
};

const started = performance.now();
console.log(`bench:fit-defaults: load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
const scenarios = family();
let series = 0;
let fits = 0;
let rows = 0;
let fitMs = 0;
let checked = false;
for (const sc of scenarios) {
  for (const seed of SEEDS) {
    const s: FamilySeries = generate(sc, seed);
    series++;
    rows += s.table.ts.length;
    const byWindow = new Map<number, FitResult | Error>();
    const run = (k: number): FitResult | Error => {
      try {
        const t = performance.now();
        const r = fit(s.table, { name: sc.name, normalTo: s.normalTo, minWindows: k, margin: 1, keepScores: true });
        fitMs += performance.now() - t;
        fits++;
        return r;
      } catch (e) {
        if (e instanceof FgError) return e;
        throw e;
      }
    };
    // the window each K gives is known once one fit has reported the cycle and the normal rows
    const first = run(FRACTIONS[0]);
    for (const k of FRACTIONS) {
      let r: FitResult | Error;
      if (first instanceof Error) r = k === FRACTIONS[0] ? first : run(k);
      else {
        const rep = first.report;
        const rowsPerDay = Math.round(86_400_000 / rep.period);
        const w = rep.cycle ? rep.window : Math.max(8, Math.min(rowsPerDay, 2048, Math.floor(rep.rowsNormal / k)));
        r = byWindow.get(w) ?? (k === FRACTIONS[0] ? first : run(k));
        if (!(r instanceof Error) && r.report.window !== w) throw new Error(`${sc.name}: K ${k} predicted window ${w}, fit chose ${r.report.window}`);
        byWindow.set(w, r);
      }
      for (const h of HORIZONS_WEEKS) {
        const cell = cells.get(key(k, h))!;
        let hit = 0, outside = 0;
        let peaks = s.anomalies.map(() => 0);
        if (r instanceof Error) cell.failed++;
        else {
          const m = autoMargin(r.report.windowsNormal, r.report.stride, r.report.window, r.report.period, h * WEEK).margin;
          if (!checked) {
            // the margin applied afterwards is the one the fit applies itself
            const direct = fit(s.table, { name: sc.name, normalTo: s.normalTo, minWindows: k, horizon: h * WEEK });
            if (Math.abs(direct.report.limit - r.report.limit * m) > 1e-9 * direct.report.limit) {
              throw new Error(`margin check: direct limit ${direct.report.limit}, margin-1 limit x ${m} = ${r.report.limit * m}`);
            }
            checked = true;
          }
          ({ hit, outside, peaks } = outcome(s, r, m));
        }
        cell.caught += hit;
        cell.outside += outside;
        if (outside > 3) cell.over3++;
        cell.peaks.push(...peaks);
        const g = `${sc.name.split(',')[0]}`;
        if (!groups.has(key(k, h))) groups.set(key(k, h), new Map());
        const gm = groups.get(key(k, h))!;
        const row = gm.get(g) ?? { caught: 0, total: 0, outside: 0, series: 0 };
        row.caught += hit; row.total += s.anomalies.length; row.outside += outside; row.series++;
        gm.set(g, row);
      }
    }
  }
}
const anomalies = series * 5;

// the pre-declared rule
const ranked = [...cells.entries()].map(([k, c]) => ({ k, ...c, peak: median(c.peaks), admissible: c.outside <= 3 * series }));
const admissible = ranked.filter((c) => c.admissible);
const order = admissible.length > 0
  ? admissible.sort((a, b) => b.caught - a.caught || a.outside - b.outside || b.peak - a.peak)
  : ranked.sort((a, b) => a.outside - b.outside || b.caught - a.caught || b.peak - a.peak);
const winner = order[0]!;

console.log(`${scenarios.length} scenarios x ${SEEDS.length} seeds = ${series} series, ${anomalies} anomalies, ${rows} rows; ${fits} fits in ${(fitMs / 1000).toFixed(1)} s, run ${((performance.now() - started) / 1000).toFixed(1)} s`);
console.log(`admissible: at most ${3 * series} events outside in all (3 per series)\n`);
console.log('caught (of ' + anomalies + ') / events outside [series with more than 3 outside] median peak; * admissible');
console.log(['K \\ H weeks', ...HORIZONS_WEEKS.map(String)].join(' | '));
for (const k of FRACTIONS) {
  console.log([`1/${k}`, ...HORIZONS_WEEKS.map((h) => {
    const c = ranked.find((x) => x.k === key(k, h))!;
    return `${c.caught} / ${c.outside} [${c.over3}] ${c.peak.toFixed(2)}${c.admissible ? ' *' : ''}${c.failed ? ` (${c.failed} fits failed)` : ''}`;
  })].join(' | '));
}
const [wk, wh] = winner.k.split('/').map(Number);
console.log(`\nwinner by the rule: K = ${wk} (window at most 1/${wk} of the normal period), H = ${wh} weeks: ${winner.caught} caught, ${winner.outside} outside${admissible.length === 0 ? ' (none admissible: fewest outside)' : ''}`);
console.log(`runners-up: ${order.slice(1, 4).map((c) => `${c.k} (${c.caught} / ${c.outside})`).join(', ')}`);
for (const [name, kh] of [['winner', winner.k], ['current defaults', key(CURRENT.k, CURRENT.h)]] as const) {
  console.log(`\n${name} ${kh}, by sample period and shape: caught/anomalies, outside`);
  for (const [g, r] of groups.get(kh)!) console.log(`  ${g}: ${r.caught}/${r.total}, ${r.outside} outside (${r.series} series)`);
}
console.log(`\nload average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
