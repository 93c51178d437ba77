/**
 * A family of synthetic single-tag series for judging `model fit`'s defaults without real labels
 * (`npm run bench:fit-defaults`, and a slice of it in src/inference/fit/synthetic.test.ts).
 *
 * Generic industrial shapes, written from first principles and not fitted to any real data set:
 * a controlled process (correlated noise around a setpoint), a day/night cycle, a production-shift
 * pattern (weekdays on 06-22, weekends low: a weekly cycle), a compressor's on/off duty cycle, a
 * batch process (fill, hold, empty). Sample periods 1 s to 15 min; normal periods of different
 * lengths; per series, drawn from its seed: noise level, drift, benign single-sample glitches,
 * quantisation, a benign setpoint change after the normal period. Five anomalies in the part after
 * the normal period: a burst of spikes, a level step, a slow ramp (then repaired), a stuck sensor,
 * a burst of noise, a dip; sizes in units of the noise and durations in units of U, the default
 * full window (one day, or 2048 samples when the period is above 42 s).
 */
import type { Table } from '../../src/inference/fit/csv.ts';
import { CLEAR, RAISE, type FitResult } from '../../src/inference/fit/fit.ts';
import { mulberry32 } from '../../src/sim/generators.ts';

const S = 1000;
const MIN = 60 * S;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
/** a Monday, 00:00 UTC */
export const T0 = Date.parse('2024-01-01T00:00:00Z');

export type Shape = 'flat' | 'daily' | 'shifts' | 'duty' | 'batch';
export type AnomalyKind = 'spikes' | 'step' | 'ramp' | 'stuck' | 'noise' | 'dip';

export interface Scenario {
  name: string;
  /** sample period, ms */
  period: number;
  /** declared-normal span at the start, ms */
  normal: number;
  /** span after the normal period, ms (holds the anomalies) */
  test: number;
  shape: Shape;
}

export interface Anomaly { kind: AnomalyKind; from: number; to: number; size: number }

export interface FamilySeries {
  scenario: Scenario;
  seed: number;
  table: Table;
  normalTo: number;
  anomalies: Anomaly[];
  /** what the seed drew, for the report */
  nuisance: string;
}

/** mulberry32 (the simulator's): small, fast, good enough for noise */
const rng = mulberry32;

export const unitOf = (period: number): number => Math.min(DAY, 2048 * period);

export function generate(sc: Scenario, seed: number): FamilySeries {
  const rnd = rng(seed * 7919 + Math.round(sc.period / 100) * 31 + Math.round(sc.normal / MIN));
  const gauss = (): number => Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const P = sc.period;
  const U = unitOf(P);
  const n = Math.round((sc.normal + sc.test) / P);
  const normalTo = T0 + sc.normal;

  // nuisances, drawn from the seed
  const loud = rnd() < 0.5; // a weak cycle in strong noise, or the other way round
  const amp = loud ? 1.5 : 4; // cycle amplitude, in noise sd
  const white = loud ? 0.8 : 0.2; // measurement noise, sd
  const tau = pick([U / 100, U / 20]); // correlation time of the process noise
  const drift = pick([0, 0, 0.5, 1.5]); // total drift over the series, noise sd
  const glitches = pick([0, 0, 0, 0.2]); // benign single-sample glitches per U, in the normal period too
  const quantum = pick([0, 0, 0.25]);
  const setpoint = pick([0, 0, 0, 0, 1.5]) * (rnd() < 0.5 ? -1 : 1); // a benign change after the normal period
  const setpointAt = normalTo + sc.test * (0.05 + 0.1 * rnd());
  const nuisance = `${loud ? 'loud' : 'quiet'}, tau ${(tau / U).toFixed(2)} U, drift ${drift}, glitches ${glitches}/U, quantum ${quantum}, setpoint ${setpoint}`;

  // five anomalies, evenly spread over the test part with jitter, kinds shuffled by the seed
  const kinds: AnomalyKind[] = ['spikes', 'step', 'ramp', 'stuck', 'noise', 'dip'];
  for (let i = kinds.length - 1; i > 0; i--) { const j = Math.floor(rnd() * (i + 1)); [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!]; }
  const slot = sc.test / 5;
  const anomalies: Anomaly[] = [];
  for (let k = 0; k < 5; k++) {
    const kind = kinds[k]!;
    const units = kind === 'ramp' ? pick([1, 2, 3]) : pick([0.25, 0.5, 1, 2]);
    const dur = Math.min(units * U, slot * 0.4);
    const from = normalTo + slot * k + slot * (0.3 + 0.2 * rnd());
    const size = kind === 'spikes' ? pick([4, 6, 8]) : kind === 'noise' ? pick([2, 3]) : pick([2, 3, 4]);
    anomalies.push({ kind, from, to: from + dur, size: size * (kind === 'step' && rnd() < 0.5 ? -1 : 1) });
  }

  // the base signal, in noise-sd units
  const dutyOn = pick([10 * MIN, 20 * MIN, 45 * MIN]);
  const batchLen = pick([HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR]);
  let dutyState = 0, dutyNext = T0, dutyX = 0;
  let batchStart = T0, batchCur = batchLen;
  let lag = 0;
  const phi = Math.exp(-P / tau);
  const innov = Math.sqrt(1 - phi * phi);
  let ar = gauss();
  const ts = new Float64Array(n);
  const v = new Float64Array(n);
  let held = 0;
  for (let i = 0; i < n; i++) {
    const t = T0 + i * P;
    ts[i] = t;
    ar = phi * ar + innov * gauss();
    const hourOfDay = ((t - T0) % DAY) / HOUR;
    const dayOfWeek = Math.floor((t - T0) / DAY) % 7;
    let base = 0;
    switch (sc.shape) {
      case 'flat': break;
      case 'daily': base = amp * (Math.sin((2 * Math.PI * (hourOfDay - 9)) / 24) + 0.3 * Math.sin((4 * Math.PI * hourOfDay) / 24)); break;
      case 'shifts': {
        // the machine runs 06-22 on weekdays, the signal follows with a thermal lag of ~1 h
        const on = dayOfWeek < 5 && hourOfDay >= 6 && hourOfDay < 22 ? 1 : 0;
        lag += (on - lag) * (1 - Math.exp(-P / HOUR));
        base = amp * 1.5 * (lag - 0.5);
        break;
      }
      case 'duty': {
        // on/off with random lengths around dutyOn, an exponential approach with a 2 min time constant
        if (t >= dutyNext) { dutyState = 1 - dutyState; dutyNext = t + dutyOn * (0.6 + 0.8 * rnd()) * (dutyState ? 1 : 1.5); }
        dutyX += (dutyState - dutyX) * (1 - Math.exp(-P / (2 * MIN)));
        base = amp * 1.5 * (dutyX - 0.5);
        break;
      }
      case 'batch': {
        // fill (60 %), hold (25 %), empty (15 %), each batch 0.8-1.2 of its nominal length
        let ph = (t - batchStart) / batchCur;
        if (ph >= 1) { batchStart = t; batchCur = batchLen * (0.8 + 0.4 * rnd()); ph = 0; }
        const level = ph < 0.6 ? ph / 0.6 : ph < 0.85 ? 1 : 1 - (ph - 0.85) / 0.15;
        base = amp * 1.5 * (level - 0.5);
        break;
      }
    }
    let x = base + ar + white * gauss() + (drift * (t - T0)) / (sc.normal + sc.test);
    if (setpoint !== 0 && t >= setpointAt) x += setpoint;
    if (glitches > 0 && rnd() < (glitches * P) / U) x += (rnd() < 0.5 ? -1 : 1) * (5 + 5 * rnd());
    let stuck = false;
    for (const a of anomalies) {
      if (t < a.from || t >= a.to) continue;
      const into = (t - a.from) / (a.to - a.from);
      switch (a.kind) {
        case 'spikes': if (rnd() < Math.max(0.02, 4 / ((a.to - a.from) / P))) x += a.size * (rnd() < 0.5 ? -1 : 1); break;
        case 'step': x += a.size; break;
        case 'ramp': x += 1.5 * a.size * into; break;
        case 'stuck': stuck = true; break;
        case 'noise': x += a.size * gauss(); break;
        case 'dip': x -= a.size * Math.sin(Math.PI * into); break;
      }
    }
    if (stuck) x = held; else held = x;
    if (quantum > 0) x = Math.round(x / quantum) * quantum;
    v[i] = 50 + 2 * x; // engineering units: the fit normalises them away
  }
  return {
    scenario: sc, seed, normalTo, anomalies, nuisance,
    table: { file: `${sc.name}.csv`, timeColumn: 'time', columns: ['value'], ts, values: [v], lines: new Int32Array(n) },
  };
}

const normalsOf: Record<number, number[]> = {
  [15 * MIN]: [7 * DAY, 14 * DAY, 30 * DAY, 90 * DAY],
  [5 * MIN]: [4 * DAY, 8 * DAY, 16 * DAY, 42 * DAY],
  [MIN]: [2 * DAY, 4 * DAY, 8 * DAY],
  [10 * S]: [6 * HOUR, 12 * HOUR, DAY, 2 * DAY],
  [S]: [HOUR, 2 * HOUR, 4 * HOUR],
};
const testOf: Record<number, number> = { [15 * MIN]: 100 * DAY, [5 * MIN]: 60 * DAY, [MIN]: 15 * DAY, [10 * S]: 3 * DAY, [S]: 9 * HOUR };
/** shapes that make sense at each sample period (a daily cycle needs days of data) */
const shapesOf: Record<number, Shape[]> = {
  [15 * MIN]: ['flat', 'daily', 'shifts', 'batch'],
  [5 * MIN]: ['flat', 'daily', 'shifts', 'batch'],
  [MIN]: ['flat', 'daily', 'shifts', 'duty', 'batch'],
  [10 * S]: ['flat', 'daily', 'duty', 'batch'],
  [S]: ['flat', 'duty', 'batch'],
};

const label = (ms: number): string => (ms >= DAY ? `${ms / DAY} d` : ms >= HOUR ? `${ms / HOUR} h` : ms >= MIN ? `${ms / MIN} min` : `${ms / S} s`);

/** Every (sample period, normal length) pair with two shapes, rotating through the shapes that fit. */
export function family(): Scenario[] {
  const out: Scenario[] = [];
  let k = 0;
  for (const period of [15 * MIN, 5 * MIN, MIN, 10 * S, S]) {
    const shapes = shapesOf[period]!;
    for (const normal of normalsOf[period]!) {
      for (let j = 0; j < 2; j++) {
        const shape = shapes[(k + j) % shapes.length]!;
        out.push({ name: `${label(period)} ${shape}, ${label(normal)} normal`, period, normal, test: testOf[period]!, shape });
      }
      k++;
    }
  }
  return out;
}

export interface Outcome {
  /** anomalies with an event that started inside them or within one window after */
  hit: number;
  /** events that started outside every anomaly (whole series, as `model evaluate` counts) */
  outside: number;
  /** per anomaly, the highest score from its start to one window after its end */
  peaks: number[];
}

/**
 * Events as the stage's threshold tracker raises them, on the fit's own window scores
 * (`keepScores`; fit.test.ts checks the ONNX graph computes the same), divided by `scale` (a margin
 * applied after the fit).
 */
export function outcome(s: FamilySeries, r: FitResult, scale = 1): Outcome {
  const { ts, score } = r.all!;
  const span = r.report.window * r.report.period;
  const which = (t: number): number => s.anomalies.findIndex((a) => t >= a.from && t <= a.to + span);
  const hits = new Set<number>();
  const peaks = s.anomalies.map(() => 0);
  let outside = 0;
  let on = false;
  let below = NaN;
  for (let i = 0; i < score.length; i++) {
    const x = score[i]! / scale;
    const k = which(ts[i]!);
    if (k >= 0) peaks[k] = Math.max(peaks[k]!, x);
    if (!on) {
      if (x > RAISE) {
        on = true;
        below = NaN;
        if (k >= 0) hits.add(k); else outside++;
      }
    } else if (x < CLEAR) {
      if (Number.isNaN(below)) below = ts[i]!;
      if (ts[i]! - below >= r.report.clearAfterMs) on = false;
    } else if (x > CLEAR) below = NaN;
  }
  return { hit: hits.size, outside, peaks };
}
