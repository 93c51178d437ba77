import { FgError } from '../../core/errors.ts';
import { calendarOf } from '../window.ts';
import type { Table } from './csv.ts';
import { encodeProfileModel, STATS, type ProfileModel } from './graph.ts';
import { etaSquared, madScale, median, quantile } from './stats.ts';

/**
 * The fit behind `fieldgate model fit`: calendar-bucketed robust profiles of window statistics.
 *
 * Every window of W rows gives, per feature (tag), three statistics of its robustly normalised
 * values: level (mean), shift (mean of the last quarter minus the mean) and spread (standard
 * deviation). On the declared-normal period the fit learns, per calendar bucket (day of week
 * and/or 4-hour block, when the data shows such cycles), the median of each statistic, and one
 * robust scale per statistic of the deviations from it. A window's score is the largest absolute
 * robust z-score over all statistics, divided by a limit calibrated on the normal period, so a
 * score above 1 is unlike anything normal for that hour of the week.
 *
 * The written model takes its input in summary form by default (input.summary): the window assembler
 * keeps the three statistics per feature as running sums (src/inference/summary.ts) and the graph only
 * normalises and scores them, so its cost does not grow with the window; `form: 'window'` writes the
 * raw-window graph, which computes them from the W x F values (the same scores to float32 rounding).
 *
 * Why this method: it needs no labels, few normal days, no iterative optimisation (fits in
 * seconds on a year of data), it is expressible in a dozen ONNX ops, and its output explains
 * itself (the `z` output says which tag and which statistic moved).
 */

export interface FitOptions {
  name: string;
  /** declared-normal period [from, to) in ms; undefined ends are open */
  normalFrom?: number;
  normalTo?: number;
  /** rows per window (default: the dominant cycle, capped at one day) */
  window?: number;
  /** the window as a duration (rows = this / sample period) */
  windowMs?: number;
  stride?: number;
  /** sample period in ms (default: detected, the median spacing) */
  period?: number;
  /** score limit = this quantile of the normal scores (default 0.999) */
  quantile?: number;
  /** alternatively: the limit giving at most this many events per week on the normal fit part */
  eventsPerWeek?: number;
  /** limit multiplier (default: autoMargin, from the normal windows to those of `horizon`) */
  margin?: number;
  /** without a clear cycle the window is at most 1/minWindows of the normal period (default MIN_WINDOWS) */
  minWindows?: number;
  /** the span, in ms, the automatic margin extrapolates the normal scores to (default HORIZON) */
  horizon?: number;
  calendar?: 'auto' | 'on' | 'off';
  /** minutes added to the timestamps to get local time for the calendar (default 0) */
  utcOffset?: number;
  /** share of the normal period, at its end, held out to report the false-event rate (default 0.2) */
  holdout?: number;
  /** statistics scored (default: all); the others get weight 0 */
  stats?: readonly (typeof STATS[number])[];
  /** half-life of a slowly adapting baseline the level is measured against, in ms (default 0: fixed, the normal median) */
  baselineHalfLife?: number;
  /** an event ends once the score stayed below the clear level this long, in ms (default: one window) */
  clearAfter?: number;
  /**
   * the model's input: 'summary' (default) takes the window's statistics, computed by the window
   * assembler as running sums (input.summary), at a cost that does not grow with the window; 'window'
   * takes the raw window (W x F values) and computes them in the graph, as models did before
   */
  form?: 'summary' | 'window';
  /** keep every window's score (experiments, tests) */
  keepScores?: boolean;
  onProgress?: (phase: string, done: number) => void;
}

export interface FitReport {
  rows: number;
  rowsNormal: number;
  dropped: { outOfOrder: number; emptyDriver: number; beforeAllTags: number };
  period: number;
  periodDetected: boolean;
  gaps: { count: number; longest: number; missingRows: number };
  cycle?: { hours: number; strength: number };
  window: number;
  windowChosen: string;
  stride: number;
  calendar: { on: boolean; reason: string; buckets: number; weekly: number; daily: number };
  normalisation: { column: string; centre: number; scale: number }[];
  windowsNormal: number;
  heldOut: { from: number; to: number; windows: number; days: number; events: number; eventsPerWeek: number; maxScore: number };
  limit: number;
  limitRule: string;
  normalFrom: number;
  normalTo: number;
  /** an event ends once the score stayed below the clear level this long (ms) */
  clearAfterMs: number;
  /** baseline half-life in rows (0: none, the level is measured against the normal median) */
  baselineRows: number;
}

export interface FitResult {
  onnx: Uint8Array;
  model: ProfileModel;
  report: FitReport;
  columns: string[];
  /** the model's input config (what model.yaml and a pipeline config carry) */
  input: { window: number; stride: number; calendar?: { utcOffset: number }; baseline?: { halfLife: number }; summary?: { recent: number } };
  /** with keepScores: every window's end timestamp and score (score > 1: above the limit) */
  all?: { ts: Float64Array; score: Float64Array };
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
/** event rule of the written thresholds: raise above 1, clear below 0.7 */
export const RAISE = 1;
export const CLEAR = 0.7;
/**
 * non-overlapping windows the normal period must hold when the window is chosen automatically.
 * 12 and the 13 weeks of HORIZON were picked with NAB's labels in view; the label-free study
 * (npm run bench:fit-defaults) prefers 16 and 13 weeks, which failed NAB held out: README, defaults
 */
const MIN_WINDOWS = 12;
/** the limit is extrapolated to the largest normal score expected over this long (see autoMargin) */
const HORIZON = 13 * WEEK;
/** the least margin over the normal quantile: room for what the normal period did not show */
const MIN_MARGIN = 1.2;
const CANDIDATE_CYCLES_H = [1, 2, 4, 6, 8, 12, 24, 168];

/**
 * The automatic margin: the normal quantile is about the largest of n independent (non-overlapping)
 * normal windows; for a Gaussian tail the largest of N draws grows as sqrt(2 ln N), so the limit is
 * extrapolated to the N windows of `horizonMs` by sqrt(ln N / ln n), and never below MIN_MARGIN.
 * Rounded to 3 decimals, as the report prints it.
 */
export function autoMargin(windows: number, stride: number, window: number, period: number, horizonMs: number = HORIZON): { margin: number; n: number; N: number } {
  const n = Math.max(2, (windows * stride) / window);
  const N = horizonMs / (window * period);
  const m = Math.sqrt(Math.log(N) / Math.log(n));
  return { margin: m > MIN_MARGIN ? Number(m.toFixed(3)) : MIN_MARGIN, n, N };
}

/** A clean series: rows driven by the first column, other columns sampled-and-held (as the window assembler does). */
interface Series {
  ts: Float64Array;
  /** [feature][row], raw */
  x: Float64Array[];
  dropped: FitReport['dropped'];
}

function clean(t: Table): Series {
  const n = t.ts.length;
  const F = t.columns.length;
  const held = new Float64Array(F).fill(NaN);
  const rowsVals: Float64Array[] = t.columns.map(() => new Float64Array(n));
  const ts = new Float64Array(n);
  let m = 0;
  let last = -Infinity;
  const dropped = { outOfOrder: 0, emptyDriver: 0, beforeAllTags: 0 };
  for (let i = 0; i < n; i++) {
    for (let f = 1; f < F; f++) if (!Number.isNaN(t.values[f]![i]!)) held[f] = t.values[f]![i]!;
    const v0 = t.values[0]![i]!;
    if (Number.isNaN(v0)) { dropped.emptyDriver++; continue; }
    if (t.ts[i]! <= last) { dropped.outOfOrder++; continue; }
    last = t.ts[i]!;
    let ok = true;
    for (let f = 1; f < F; f++) if (Number.isNaN(held[f]!)) ok = false;
    if (!ok) { dropped.beforeAllTags++; continue; }
    ts[m] = t.ts[i]!;
    rowsVals[0]![m] = v0;
    for (let f = 1; f < F; f++) rowsVals[f]![m] = held[f]!;
    m++;
  }
  return { ts: ts.slice(0, m), x: rowsVals.map((v) => v.slice(0, m)), dropped };
}

function detectPeriod(ts: Float64Array): number {
  const d = new Float64Array(Math.max(0, ts.length - 1));
  for (let i = 1; i < ts.length; i++) d[i - 1] = ts[i]! - ts[i - 1]!;
  return median(d);
}

/** autocorrelation of z at a lag (rows), over the index range [a, b) */
function acf(z: Float64Array, a: number, b: number, lag: number): number {
  let s = 0, s0 = 0, s1 = 0, q0 = 0, q1 = 0;
  const n = b - a - lag;
  if (n < 10) return 0;
  for (let i = a; i < b - lag; i++) {
    const u = z[i]!, v = z[i + lag]!;
    s += u * v; s0 += u; s1 += v; q0 += u * u; q1 += v * v;
  }
  const cov = s / n - (s0 / n) * (s1 / n);
  const d = Math.sqrt(Math.max(0, q0 / n - (s0 / n) ** 2) * Math.max(0, q1 / n - (s1 / n) ** 2));
  return d > 0 ? cov / d : 0;
}

/** Prefix sums of z and z^2 per feature, for O(1) window statistics. */
function prefix(z: Float64Array): { s: Float64Array; q: Float64Array } {
  const s = new Float64Array(z.length + 1);
  const q = new Float64Array(z.length + 1);
  for (let i = 0; i < z.length; i++) { s[i + 1] = s[i]! + z[i]!; q[i + 1] = q[i]! + z[i]! * z[i]!; }
  return { s, q };
}

function maxOf(xs: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < xs.length; i++) if (xs[i]! > m) m = xs[i]!;
  return m;
}

function hourOfWeek(ts: number, utcOffset: number): number {
  const [h, d] = calendarOf(ts, utcOffset);
  return d * 24 + h;
}

/**
 * Counts events as the stage's threshold tracker raises them: score > RAISE raises one; it ends
 * once the score has stayed below CLEAR for `clearAfter` ms (source time), so one anomaly whose
 * score dips for a moment is one event. `breaks` (indices) end any event (gaps between parts).
 */
export function countEvents(scores: ArrayLike<number>, limit: number, ts?: ArrayLike<number>, clearAfter = 0, breaks?: Set<number>): number {
  let on = false;
  let below = NaN; // when the score went below CLEAR during an event
  let n = 0;
  for (let i = 0; i < scores.length; i++) {
    if (breaks?.has(i)) on = false;
    const s = scores[i]! / limit;
    const t = ts ? ts[i]! : i;
    if (!on) {
      if (s > RAISE) { on = true; n++; below = NaN; }
    } else if (s < CLEAR) {
      if (Number.isNaN(below)) below = t;
      if (t - below >= clearAfter) on = false;
    } else if (s > CLEAR) below = NaN;
  }
  return n;
}

export function fit(table: Table, opts: FitOptions): FitResult {
  const progress = opts.onProgress ?? (() => undefined);
  const F = table.columns.length;
  const series = clean(table);
  const { ts } = series;
  const N = ts.length;
  if (N < 3) throw new FgError('FG_E_FIT_DATA', `${table.file}: only ${N} usable rows`);
  progress('series', 1);

  const periodDetected = opts.period === undefined;
  const period = opts.period ?? detectPeriod(ts);
  if (!(period > 0)) throw new FgError('FG_E_FIT_DATA', `${table.file}: cannot detect the sample period (timestamps all equal?)`);
  let gapCount = 0, longest = 0, missing = 0;
  for (let i = 1; i < N; i++) {
    const d = ts[i]! - ts[i - 1]!;
    if (d > 1.5 * period) { gapCount++; longest = Math.max(longest, d); missing += Math.round(d / period) - 1; }
  }

  // the declared-normal rows
  const from = opts.normalFrom ?? -Infinity;
  const to = opts.normalTo ?? Infinity;
  let a = 0;
  while (a < N && ts[a]! < from) a++;
  let b = a;
  while (b < N && ts[b]! < to) b++;
  const nNormal = b - a;
  const describe = `${Number.isFinite(from) ? new Date(from).toISOString() : 'the start'} to ${Number.isFinite(to) ? new Date(to).toISOString() : 'the end'}`;
  if (nNormal < 10) {
    throw new FgError('FG_E_FIT_NORMAL', `${table.file}: the normal period (${describe}) holds ${nNormal} usable rows; the data runs from ${new Date(ts[0]!).toISOString()} to ${new Date(ts[N - 1]!).toISOString()}`);
  }

  // robust normalisation per feature, on the normal rows
  const normalisation = table.columns.map((column, f) => {
    const xs = series.x[f]!.subarray(a, b);
    const centre = median(xs);
    let scale = madScale(xs, centre);
    if (!(scale > 1e-9)) {
      let m = 0, v = 0;
      for (const x of xs) m += x / xs.length;
      for (const x of xs) v += (x - m) ** 2 / xs.length;
      scale = Math.sqrt(v) > 1e-9 ? Math.sqrt(v) : 1;
    }
    return { column, centre, scale };
  });
  const z = series.x.map((xs, f) => {
    const { centre, scale } = normalisation[f]!;
    return Float64Array.from(xs, (x) => (x - centre) / scale);
  });
  progress('normalise', 1);

  // the dominant cycle: a lag L whose autocorrelation beats that at L/2 clearly
  let cycle: FitReport['cycle'];
  for (const h of CANDIDATE_CYCLES_H) {
    const lag = Math.round((h * HOUR) / period);
    if (lag < 4 || lag * 3 > nNormal) continue;
    let strength = 0;
    for (let f = 0; f < F; f++) strength += (acf(z[f]!, a, b, lag) - acf(z[f]!, a, b, Math.round(lag / 2))) / F;
    if (strength > 0.2 && (!cycle || strength > cycle.strength)) cycle = { hours: h, strength };
  }
  progress('cycle', 1);

  const rowsPerDay = Math.round(DAY / period);
  let window: number;
  let windowChosen: string;
  if (opts.window !== undefined || opts.windowMs !== undefined) {
    window = opts.window ?? Math.max(2, Math.round(opts.windowMs! / period));
    windowChosen = 'set by --window';
  } else if (cycle) {
    window = Math.max(8, Math.min(Math.round((Math.min(cycle.hours, 24) * HOUR) / period), 2048));
    windowChosen = `the dominant cycle (${cycle.hours} h${cycle.hours > 24 ? ', capped at one day: the calendar covers the week' : ''})`;
  } else {
    // one day, but short enough that the normal period holds MIN_WINDOWS non-overlapping windows:
    // the scales and the quantile need that many independent looks at normal behaviour
    const minWindows = opts.minWindows ?? MIN_WINDOWS;
    const fitRows = Math.floor(nNormal / minWindows);
    window = Math.max(8, Math.min(rowsPerDay, 2048, fitRows));
    windowChosen = window < Math.min(rowsPerDay, 2048) ? `no clear cycle: one day, shortened to 1/${minWindows} of the normal period` : 'no clear cycle: one day';
  }
  if (window * 4 > nNormal) {
    throw new FgError('FG_E_FIT_NORMAL', `${table.file}: the normal period (${describe}) holds ${nNormal} rows, fewer than 4 windows of ${window}; declare a longer normal period or a smaller --window`);
  }
  const stride = opts.stride ?? Math.max(1, Math.ceil(window / 512));
  const recent = Math.max(1, Math.round(window / 4));

  // calendar: weekly (daily means by weekday) and daily (hour-of-day means) rhythm on the normal rows
  const utcOffset = opts.utcOffset ?? 0;
  const spanDays = (ts[b - 1]! - ts[a]!) / DAY;
  let weekly = 0;
  let daily = 0;
  {
    // residuals from the day's mean (daily rhythm) and day means from a 7-day centred mean (weekly)
    const dayIdx = new Int32Array(nNormal);
    const hourIdx = new Int32Array(nNormal);
    const t0 = Math.floor((ts[a]! + utcOffset * 60_000) / DAY);
    for (let i = 0; i < nNormal; i++) {
      const local = ts[a + i]! + utcOffset * 60_000;
      dayIdx[i] = Math.floor(local / DAY) - t0;
      hourIdx[i] = calendarOf(ts[a + i]!, utcOffset)[0];
    }
    const days = dayIdx[nNormal - 1]! + 1;
    const dSum = new Float64Array(days * F);
    const dCnt = new Float64Array(days);
    for (let i = 0; i < nNormal; i++) {
      dCnt[dayIdx[i]!]!++;
      for (let f = 0; f < F; f++) dSum[dayIdx[i]! * F + f]! += z[f]![a + i]!;
    }
    if (rowsPerDay >= 4 && spanDays >= 3) {
      for (let f = 0; f < F; f++) {
        const r = new Float64Array(nNormal);
        for (let i = 0; i < nNormal; i++) r[i] = z[f]![a + i]! - dSum[dayIdx[i]! * F + f]! / dCnt[dayIdx[i]!]!;
        daily += etaSquared(r, hourIdx, 24) / F;
      }
    }
    if (spanDays >= 21) {
      const full: number[] = [];
      for (let d = 0; d < days; d++) if (dCnt[d]! >= 0.5 * Math.max(1, rowsPerDay)) full.push(d);
      const resid: number[] = [];
      const dow: number[] = [];
      for (let f = 0; f < F; f++) {
        for (const d of full) {
          let s = 0, c = 0;
          for (let k = d - 3; k <= d + 3; k++) if (k >= 0 && k < days && dCnt[k]! > 0) { s += dSum[k * F + f]! / dCnt[k]!; c++; }
          if (c < 7) continue;
          resid.push(dSum[d * F + f]! / dCnt[d]! - s / c);
          dow.push((((d + t0 + 3) % 7) + 7) % 7);
        }
      }
      weekly = etaSquared(resid, dow, 7);
    }
  }
  const wantCalendar = opts.calendar ?? 'auto';
  const isWeekly = wantCalendar === 'on' ? spanDays >= 14 : weekly > 0.3;
  const isDaily = wantCalendar === 'on' ? true : daily > 0.3;
  const calendarOn = wantCalendar !== 'off' && (isWeekly || isDaily) && spanDays >= 3;
  const blocksPerDay = isDaily ? 6 : 1;
  const bucketOfHour = Array.from({ length: 168 }, (_, how) => {
    const d = Math.floor(how / 24);
    const block = Math.floor((how % 24) / (24 / blocksPerDay));
    return (isWeekly ? d * blocksPerDay : 0) + block;
  });
  const buckets = calendarOn ? (isWeekly ? 7 : 1) * blocksPerDay : 1;
  const calReason = wantCalendar === 'off' ? 'off (--calendar off)'
    : calendarOn ? `on: ${[isWeekly ? `weekly rhythm (eta² ${weekly.toFixed(2)})` : '', isDaily ? `daily rhythm (eta² ${daily.toFixed(2)})` : ''].filter(Boolean).join(', ')}${wantCalendar === 'on' ? ' (--calendar on)' : ''}`
    : `off: no weekly (eta² ${weekly.toFixed(2)}${spanDays < 21 ? ', needs 3 weeks of normal data' : ''}) or daily (eta² ${daily.toFixed(2)}) rhythm above 0.3`;
  progress('calendar', 1);

  // window statistics at every window end the runtime would emit (stride from the first full window)
  const S = F * STATS.length;
  const pre = z.map(prefix);
  const ends: number[] = [];
  for (let e = window - 1; e < N; e += stride) ends.push(e);
  const nw = ends.length;
  const stats = new Float64Array(nw * S);
  const bucketOf = new Int32Array(nw);
  // the baseline the level is measured against: an exponential moving average of the rows that have
  // left the window (an anomaly inside the window does not pull its own baseline), starting at the
  // normal median (z = 0); the window assembler computes the same (input.baseline)
  const halfLifeMs = opts.baselineHalfLife ?? 0;
  const halfLifeRows = halfLifeMs > 0 ? Math.max(1, Math.round(halfLifeMs / period)) : 0;
  const alpha = halfLifeRows > 0 ? 1 - 2 ** (-1 / halfLifeRows) : 0;
  const base = new Float64Array(F);
  let absorbed = 0; // rows [0, absorbed) are in the baseline
  for (let w = 0; w < nw; w++) {
    const e = ends[w]!;
    const s0 = e + 1 - window;
    if (alpha > 0) {
      for (; absorbed < s0; absorbed++) for (let f = 0; f < F; f++) base[f]! += alpha * (z[f]![absorbed]! - base[f]!);
    }
    for (let f = 0; f < F; f++) {
      const { s, q } = pre[f]!;
      const mean = (s[e + 1]! - s[s0]!) / window;
      const recentMean = (s[e + 1]! - s[e + 1 - recent]!) / recent;
      const msq = (q[e + 1]! - q[s0]!) / window;
      // statistic-major, as the graph lays them out: level of every feature, then shift, then spread
      stats[w * S + f] = mean - base[f]!;
      stats[w * S + F + f] = recentMean - mean;
      stats[w * S + 2 * F + f] = Math.sqrt(Math.max(0, msq - mean * mean));
    }
    bucketOf[w] = calendarOn ? bucketOfHour[hourOfWeek(ts[e]!, utcOffset)]! : 0;
  }
  progress('statistics', 1);

  // windows wholly inside the normal period, split in time: fit part, then held-out part
  const normalW: number[] = [];
  for (let w = 0; w < nw; w++) if (ends[w]! + 1 - window >= a && ends[w]! < b) normalW.push(w);
  if (normalW.length < 20) {
    throw new FgError('FG_E_FIT_NORMAL', `${table.file}: the normal period (${describe}) holds ${normalW.length} whole windows of ${window} rows; need 20 at least`);
  }
  const holdout = opts.holdout ?? 0.2;
  const cut = Math.floor(normalW.length * (1 - holdout));
  // the held-out part starts one window after the fit part ends, so no row is in both
  const fitW = normalW.slice(0, cut);
  const heldW = normalW.filter((w, i) => i >= cut && ends[w]! + 1 - window > ends[fitW[fitW.length - 1]!]!);

  const q = opts.quantile ?? 0.999;
  const useStat = STATS.map((st) => (opts.stats ?? STATS).includes(st));
  // the quantile of the normal scores estimates the largest of about n independent draws, n the
  // non-overlapping windows it was taken over; the model then runs for months. For a Gaussian tail the
  // largest of n draws grows as sqrt(2 ln n): extrapolate from n to the windows of HORIZON, so a
  // short normal period gets a wider threshold (never below MIN_MARGIN)
  const marginFor = (windows: number): { margin: number; why: string } => {
    if (opts.margin !== undefined) return { margin: opts.margin, why: '--margin' };
    const horizonMs = opts.horizon ?? HORIZON;
    const { margin, n, N } = autoMargin(windows, stride, window, period, horizonMs);
    const span = horizonMs % WEEK === 0 ? `${horizonMs / WEEK} weeks` : `${(horizonMs / DAY).toFixed(1)} days`;
    return margin > MIN_MARGIN
      ? { margin, why: `sqrt(ln ${Math.round(N)} / ln ${n.toFixed(1)}): from the normal period's ${n.toFixed(1)} independent windows to the ${Math.round(N)} of ${span}` }
      : { margin, why: `the least margin; ${n.toFixed(0)} independent normal windows need no more` };
  };
  // windows one calendar bucket gets per day: a bucket seen on one day only is half its own median, half the global one
  const perBucketDay = Math.max(1, (DAY / blocksPerDay) / period / stride);
  const clearAfter = opts.clearAfter ?? window * period;
  const tsOf = (ws: number[]): Float64Array => Float64Array.from(ws, (w) => ts[ends[w]!]!);
  const learn = (ws: number[]): { profile: number[][]; sigma: number[]; scores: Float64Array; limit: number; rule: string } => {
    const profile: number[][] = [];
    const global = Array.from({ length: S }, (_, s) => median(ws.map((w) => stats[w * S + s]!)));
    for (let k = 0; k < buckets; k++) {
      const mine = ws.filter((w) => bucketOf[w] === k);
      // a bucket with few windows leans on the global median (shrinkage by count)
      profile.push(Array.from({ length: S }, (_, s) => {
        if (mine.length === 0) return global[s]!;
        const m = median(mine.map((w) => stats[w * S + s]!));
        const weight = mine.length / (mine.length + perBucketDay);
        return weight * m + (1 - weight) * global[s]!;
      }));
    }
    // one scale per statistic: the robust spread of its deviations, then stretched so that its own
    // q-quantile is 1 (a heavy-tailed statistic, e.g. a level that drifts, does not drown the others)
    const sigma = Array.from({ length: S }, (_, s) => {
      if (!useStat[Math.floor(s / F)]) return Infinity;
      const dev = ws.map((w) => stats[w * S + s]! - profile[bucketOf[w]!]![s]!);
      const sc = Math.max(madScale(dev, 0), 0.05);
      const tail = quantile(dev.map((d) => Math.abs(d) / sc), q);
      return sc * Math.max(1, tail);
    });
    const scores = Float64Array.from(ws, (w) => {
      let m = 0;
      for (let s = 0; s < S; s++) m = Math.max(m, Math.abs(stats[w * S + s]! - profile[bucketOf[w]!]![s]!) / sigma[s]!);
      return m;
    });
    let limit: number;
    let rule: string;
    const { margin, why } = marginFor(ws.length);
    if (opts.eventsPerWeek !== undefined) {
      const weeks = Math.max(1e-9, (ws.length * stride * period) / WEEK);
      const wts = tsOf(ws);
      let lo = 1e-6, hi = maxOf(scores) * 1.01 + 1e-6;
      for (let it = 0; it < 50; it++) {
        const mid = (lo + hi) / 2;
        if (countEvents(scores, mid, wts, clearAfter) / weeks <= opts.eventsPerWeek) hi = mid; else lo = mid;
      }
      limit = hi * margin;
      rule = `lowest limit with at most ${opts.eventsPerWeek} events/week on the normal fit windows${margin !== 1 ? `, x${margin} (${why})` : ''}`;
    } else {
      limit = quantile(scores, q) * margin;
      rule = `${q} quantile of the normal scores${margin !== 1 ? ` x${margin} (${why})` : ''}`;
    }
    return { profile, sigma, scores, limit: Math.max(limit, 1e-6), rule };
  };

  // 1. fit on the fit part, measure on the held-out part
  const trial = learn(fitW);
  const heldScores = Float64Array.from(heldW, (w) => {
    let m = 0;
    for (let s = 0; s < S; s++) m = Math.max(m, Math.abs(stats[w * S + s]! - trial.profile[bucketOf[w]!]![s]!) / trial.sigma[s]!);
    return m;
  });
  const heldEvents = countEvents(heldScores, trial.limit, tsOf(heldW), clearAfter);
  const heldDays = heldW.length > 0 ? (ts[ends[heldW[heldW.length - 1]!]!]! - ts[ends[heldW[0]!]!]! + period) / DAY : 0;
  progress('calibrate', 0.5);
  // 2. the model written: everything normal, same rule
  const final = learn(normalW);
  progress('calibrate', 1);

  const summary = (opts.form ?? 'summary') === 'summary';
  const model: ProfileModel = {
    name: opts.name,
    doc: `fieldgate model fit: robust z-scores of window statistics (${STATS.join(', ')}) of ${table.columns.join(', ')} against ${calendarOn ? `${buckets} calendar-bucketed` : 'one'} normal profile${buckets === 1 ? '' : 's'}; score >= 1 is anomalous.`,
    window, features: F, recent,
    ...(summary ? { summary: true } : {}),
    ...(halfLifeRows > 0 ? { baseline: true } : {}),
    centre: normalisation.map((n) => n.centre),
    invScale: normalisation.map((n) => 1 / n.scale),
    bucketOfHour: calendarOn ? bucketOfHour : undefined,
    profile: final.profile,
    invSigma: final.sigma.map((s) => 1 / s),
    limit: final.limit,
    metadata: { producer: 'fieldgate model fit', data: table.file.split('/').pop() ?? table.file, columns: table.columns.join(',') },
  };
  const onnx = encodeProfileModel(model);
  let all: FitResult['all'];
  if (opts.keepScores) {
    all = { ts: Float64Array.from(ends, (e) => ts[e]!), score: new Float64Array(nw) };
    for (let w = 0; w < nw; w++) {
      let m = 0;
      for (let s = 0; s < S; s++) m = Math.max(m, Math.abs(stats[w * S + s]! - final.profile[bucketOf[w]!]![s]!) / final.sigma[s]!);
      all.score[w] = m / final.limit;
    }
  }
  progress('write', 1);

  const report: FitReport = {
    rows: table.ts.length,
    rowsNormal: nNormal,
    dropped: series.dropped,
    period, periodDetected,
    gaps: { count: gapCount, longest, missingRows: missing },
    cycle, window, windowChosen, stride,
    calendar: { on: calendarOn, reason: calReason, buckets, weekly, daily },
    normalisation,
    windowsNormal: normalW.length,
    heldOut: {
      from: heldW.length ? ts[ends[heldW[0]!]!]! : NaN,
      to: heldW.length ? ts[ends[heldW[heldW.length - 1]!]!]! : NaN,
      windows: heldW.length,
      days: heldDays,
      events: heldEvents,
      eventsPerWeek: heldDays > 0 ? (heldEvents / heldDays) * 7 : NaN,
      maxScore: heldScores.length ? maxOf(heldScores) / trial.limit : NaN,
    },
    limit: final.limit,
    limitRule: final.rule,
    normalFrom: ts[a]!,
    normalTo: ts[b - 1]!,
    clearAfterMs: clearAfter,
    baselineRows: halfLifeRows,
  };
  return { onnx, model, report, columns: table.columns, input: { window, stride, ...(calendarOn ? { calendar: { utcOffset } } : {}), ...(halfLifeRows > 0 ? { baseline: { halfLife: halfLifeRows } } : {}), ...(summary ? { summary: { recent } } : {}) }, all };
}
