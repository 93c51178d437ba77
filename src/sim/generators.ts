import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { duration } from '../core/units.ts';

/**
 * Value generators shared by the Modbus and OPC UA simulators. A generator is a pure
 * function of time (ms since the simulator started) except the random walk, which keeps
 * its own state and is advanced lazily, so reading a value costs nothing when idle.
 */
export type Generator = (tMs: number) => number;

export const generatorSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('constant'), value: z.number().describe('the value') }),
  z.strictObject({
    kind: z.literal('sine'),
    amplitude: z.number().default(1).describe('value = offset + amplitude * sin(2*pi*t/period + phase)'),
    offset: z.number().default(0).describe('the middle of the wave'),
    period: duration().prefault(60_000).describe('one full cycle'),
    phase: z.number().default(0).describe('radians'),
  }),
  z.strictObject({
    kind: z.literal('ramp'),
    min: z.number().default(0).describe('value at the start of each period'),
    max: z.number().default(100).describe('value reached at the end of each period'),
    period: duration().prefault(60_000).describe('time from min to max, then it starts again'),
  }),
  z.strictObject({
    kind: z.literal('random-walk'),
    start: z.number().default(0).describe('the first value'),
    step: z.number().positive().default(1).describe('largest change per interval'),
    interval: duration().prefault(1_000),
    min: z.number().default(-Infinity).describe('lower bound of the walk (default: none)'),
    max: z.number().default(Infinity).describe('upper bound of the walk (default: none)'),
    seed: z.number().int().default(1).describe('same seed, same walk'),
  }),
  z.strictObject({
    kind: z.literal('csv'),
    file: z.string().describe('CSV with a header line; relative to the config file'),
    column: z.union([z.string(), z.number().int().nonnegative()]).default(1).describe('column name or 0-based index of the value'),
    timeColumn: z.union([z.string(), z.number().int().nonnegative()]).default(0).describe('column of the timestamps'),
    speed: z.number().positive().default(1).describe('time compression: 300 plays 5-minute data at one row a second'),
    loop: z.boolean().default(true).describe('start again at the end'),
  }),
]).describe('where a simulated value comes from');

export type GeneratorConfig = z.output<typeof generatorSchema>;

/** A small deterministic PRNG (mulberry32), so a seeded walk replays identically. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface CsvSeries {
  /** ms offsets from the first row */
  offsets: Float64Array;
  values: Float64Array;
  /** absolute timestamp of the first row (ms since epoch; NaN when the column is not a time) */
  start: number;
}

const csvCache = new Map<string, CsvSeries>();

/** Reads a timestamp,value CSV once (cached per file and columns). */
export function loadCsvSeries(file: string, column: string | number = 1, timeColumn: string | number = 0): CsvSeries {
  const key = `${file}\0${column}\0${timeColumn}`;
  const hit = csvCache.get(key);
  if (hit) return hit;
  const lines = readFileSync(file, 'utf8').split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = lines[0]!.split(',').map((h) => h.trim());
  const col = typeof column === 'number' ? column : header.indexOf(column);
  const tcol = typeof timeColumn === 'number' ? timeColumn : header.indexOf(timeColumn);
  if (col < 0) throw new Error(`${file}: no column "${column}" (columns: ${header.join(', ')})`);
  if (tcol < 0) throw new Error(`${file}: no column "${timeColumn}" (columns: ${header.join(', ')})`);
  const n = lines.length - 1;
  const offsets = new Float64Array(n);
  const values = new Float64Array(n);
  let start = Number.NaN;
  for (let i = 0; i < n; i++) {
    const cells = lines[i + 1]!.split(',');
    const ts = parseCsvTime(cells[tcol]!);
    if (i === 0) start = ts;
    offsets[i] = Number.isFinite(ts) ? ts - start : i * 1000;
    values[i] = Number(cells[col]);
  }
  const series = { offsets, values, start };
  csvCache.set(key, series);
  return series;
}

/** 'YYYY-MM-DD HH:MM:SS' (NAB) is read as UTC; ISO strings and epoch numbers also work. */
export function parseCsvTime(s: string): number {
  const t = s.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  return Date.parse(t.includes('T') ? t : t.replace(' ', 'T') + (/[Zz+]/.test(t.slice(10)) ? '' : 'Z'));
}

/** Index of the last row whose offset is <= t (binary search). */
function rowAt(offsets: Float64Array, t: number): number {
  let lo = 0;
  let hi = offsets.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (offsets[mid]! <= t) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Builds a generator; `resolvePath` turns a CSV file name into a path. */
export function createGenerator(cfg: GeneratorConfig, resolvePath: (p: string) => string = (p) => p): Generator {
  switch (cfg.kind) {
    case 'constant':
      return () => cfg.value;
    case 'sine':
      return (t) => cfg.offset + cfg.amplitude * Math.sin((2 * Math.PI * t) / cfg.period + cfg.phase);
    case 'ramp':
      return (t) => cfg.min + ((cfg.max - cfg.min) * (t % cfg.period)) / cfg.period;
    case 'random-walk': {
      const rnd = mulberry32(cfg.seed);
      let value = cfg.start;
      let step = 0;
      return (t) => {
        const target = Math.floor(t / cfg.interval);
        // advance lazily; bounded so a long idle gap costs at most 10k steps
        if (target - step > 10_000) step = target - 10_000;
        while (step < target) {
          value = Math.min(cfg.max, Math.max(cfg.min, value + (rnd() * 2 - 1) * cfg.step));
          step++;
        }
        return value;
      };
    }
    case 'csv': {
      const s = loadCsvSeries(resolvePath(cfg.file), cfg.column, cfg.timeColumn);
      const span = s.offsets[s.offsets.length - 1]! + (s.offsets.length > 1 ? s.offsets[1]! - s.offsets[0]! : 1000);
      return (t) => {
        let dataT = t * cfg.speed;
        if (cfg.loop) dataT %= span;
        return s.values[rowAt(s.offsets, dataT)]!;
      };
    }
  }
}

/** For a CSV generator: the data timestamp (ms since epoch) shown at simulator time t, for replays that keep source time. */
export function csvTimeAt(cfg: Extract<GeneratorConfig, { kind: 'csv' }>, t: number, resolvePath: (p: string) => string = (p) => p): number {
  const s = loadCsvSeries(resolvePath(cfg.file), cfg.column, cfg.timeColumn);
  const span = s.offsets[s.offsets.length - 1]! + (s.offsets.length > 1 ? s.offsets[1]! - s.offsets[0]! : 1000);
  let dataT = t * cfg.speed;
  if (cfg.loop) dataT %= span;
  return s.start + s.offsets[rowAt(s.offsets, dataT)]!;
}
