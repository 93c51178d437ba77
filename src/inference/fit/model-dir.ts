import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { FgError, errorMessage } from '../../core/errors.ts';
import { CLEAR, RAISE, type FitResult } from './fit.ts';
import { STATS } from './graph.ts';

/** What model.yaml holds (the parts evaluate and the config snippet need). */
export interface ModelMeta {
  name: string;
  description?: string;
  file: string;
  sha256: string;
  input: {
    name: string;
    window: number;
    stride: number;
    layout: 'flat';
    calendar?: { utcOffset: number };
    baseline?: { halfLife: number };
    summary?: { recent: number };
    features: { tag: string; normalise?: { mean: number; std: number } }[];
  };
  outputs: { name: string }[];
  thresholds: { field: string; above?: number; below?: number; clear?: number; clearAfter?: string | number; severity?: string; kind?: string }[];
  fit?: Record<string, unknown>;
}

const r6 = (x: number): number => Number(x.toPrecision(6));
/** a duration as the config writes it: '885m', '24h', or milliseconds */
export function durationText(ms: number): string | number {
  if (ms > 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms > 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  return ms;
}
const iso = (t: number): string => new Date(t).toISOString().replace('.000Z', 'Z');

/** Writes into `out` by rename, so a pipeline watching the folder never loads a half-written file. */
function writeAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

export function modelMeta(r: FitResult, name: string, command: string): ModelMeta {
  const rep = r.report;
  const sha256 = createHash('sha256').update(r.onnx).digest('hex');
  const S = r.columns.length * STATS.length;
  return {
    name,
    description: `Anomaly score for ${r.columns.join(', ')}: window ${r.input.window} rows${r.input.summary ? ' (fed as running statistics: input.summary)' : ''}, ${rep.calendar.on ? `${rep.calendar.buckets} calendar buckets` : 'no calendar'}. Written by fieldgate model fit: refit rather than edit.`,
    file: 'model.onnx',
    sha256,
    input: {
      name: 'window',
      window: r.input.window,
      stride: r.input.stride,
      layout: 'flat',
      ...(r.input.calendar ? { calendar: r.input.calendar } : {}),
      ...(r.input.baseline ? { baseline: r.input.baseline } : {}),
      ...(r.input.summary ? { summary: r.input.summary } : {}),
      features: r.columns.map((tag) => ({ tag })),
    },
    outputs: [{ name: 'score' }, { name: 'z' }],
    thresholds: [{ field: 'score', above: RAISE, clear: CLEAR, clearAfter: durationText(rep.clearAfterMs), severity: 'warning', kind: 'anomaly' }],
    fit: {
      command,
      method: `robust z-scores of window ${STATS.join('/')} per tag against ${rep.calendar.on ? 'calendar-bucketed' : 'global'} normal medians; score = max|z| / limit`,
      z: `output z [batch, ${S}]: ${STATS.flatMap((s) => r.columns.map((c) => `${c}.${s}`)).join(', ')}`,
      normalPeriod: [iso(rep.normalFrom), iso(rep.normalTo)],
      rowsNormal: rep.rowsNormal,
      samplePeriodSeconds: rep.period / 1000,
      windowChosen: rep.windowChosen,
      calendar: rep.calendar.reason,
      normalisation: rep.normalisation.map((n) => ({ tag: n.column, median: r6(n.centre), scale: r6(n.scale) })),
      limit: r6(rep.limit),
      limitRule: rep.limitRule,
      heldOut: { windows: rep.heldOut.windows, days: r6(rep.heldOut.days), events: rep.heldOut.events, eventsPerWeek: r6(rep.heldOut.eventsPerWeek) },
    },
  };
}

export function writeModelDir(out: string, r: FitResult, meta: ModelMeta, force: boolean): void {
  const onnxFile = join(out, 'model.onnx');
  const yamlFile = join(out, 'model.yaml');
  if (!force && (existsSync(onnxFile) || existsSync(yamlFile))) {
    throw new FgError('FG_E_FIT_OUTPUT', `${out} already holds a model (${existsSync(onnxFile) ? 'model.onnx' : 'model.yaml'}); pass --force to replace it (a pipeline watching ${onnxFile} then swaps it live)`, { details: { path: out } });
  }
  try {
    mkdirSync(out, { recursive: true });
    writeAtomic(yamlFile, `# Written by fieldgate model fit. Refit rather than edit: ${meta.fit?.command as string}\n${stringify(meta, { lineWidth: 120 })}`);
    writeAtomic(onnxFile, r.onnx);
  } catch (e) {
    throw new FgError('FG_E_FIT_OUTPUT', `cannot write the model into ${out}: ${errorMessage(e)}`, { cause: e, details: { path: out } });
  }
}

export function readModelDir(dir: string): ModelMeta {
  const file = join(dir, 'model.yaml');
  let meta: ModelMeta;
  try {
    meta = parse(readFileSync(file, 'utf8')) as ModelMeta;
  } catch (e) {
    throw new FgError('FG_E_MODEL_LOAD', `${file}: cannot read the model description: ${errorMessage(e)}`, { cause: e, details: { path: file } });
  }
  if (!meta?.input?.features?.length || !meta.input.window) {
    throw new FgError('FG_E_MODEL_LOAD', `${file}: not a model description (needs input.window and input.features)`, { details: { path: file } });
  }
  return meta;
}

/** A `models:` entry for a pipeline config, with the features' tags under `source`. */
export function configSnippet(meta: ModelMeta, id: string, path: string, source: string): Record<string, unknown> {
  return {
    id,
    path,
    input: {
      name: meta.input.name,
      window: meta.input.window,
      stride: meta.input.stride,
      ...(meta.input.calendar ? { calendar: meta.input.calendar } : {}),
      ...(meta.input.baseline ? { baseline: meta.input.baseline } : {}),
      ...(meta.input.summary ? { summary: meta.input.summary } : {}),
      features: meta.input.features.map((f) => ({ tag: `${source}/${f.tag}`, ...(f.normalise ? { normalise: f.normalise } : {}) })),
    },
    outputs: [{ name: 'score' }],
    thresholds: meta.thresholds.filter((t) => t.field === 'score'),
  };
}
