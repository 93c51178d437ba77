import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The NAB machine-temperature series and its labelled anomaly windows (deploy/examples/nab, MIT licence). */
export const NAB_DIR = fileURLToPath(new URL('../../deploy/examples/nab/', import.meta.url));
const FILE = 'machine_temperature_system_failure.csv';

/** NAB timestamps carry no zone; we read them as UTC so every run agrees. */
function parseTs(s: string): number {
  return Date.parse(`${s.slice(0, 19).replace(' ', 'T')}Z`);
}

export interface NabSeries {
  ts: number[];
  values: number[];
  /** labelled anomaly windows [start, end] (inclusive, ms) */
  windows: [number, number][];
}

export function loadMachineTemperature(): NabSeries {
  const lines = readFileSync(NAB_DIR + FILE, 'utf8').trim().split('\n').slice(1);
  const ts: number[] = [];
  const values: number[] = [];
  for (const line of lines) {
    const [t, v] = line.split(',');
    ts.push(parseTs(t!));
    values.push(Number(v));
  }
  const all = JSON.parse(readFileSync(NAB_DIR + 'windows.json', 'utf8')) as Record<string, [string, string][]>;
  const windows = all[`realKnownCause/${FILE}`]!.map(([a, b]) => [parseTs(a), parseTs(b)] as [number, number]);
  return { ts, values, windows };
}

/** Index of the labelled window holding t, or -1. */
export function windowOf(windows: [number, number][], t: number): number {
  return windows.findIndex(([a, b]) => t >= a && t <= b);
}
