import type { InferenceSession } from 'onnxruntime-node';
import { FgError, errorMessage } from '../core/errors.ts';
import { loadOnUse } from '../core/load-on-use.ts';
import type { ModelConfig } from './config.ts';
import type { Signature, TensorMeta } from './protocol.ts';
import { SUMMARY_STATS } from './summary.ts';

/** values a calendar-aware window carries after its rows: hour of day, day of week */
export const CALENDAR_VALUES = 2;

/** Dimensions after the batch dimension that the config produces per window. */
export function rowDims(cfg: ModelConfig): number[] {
  const { window, features, layout, calendar, baseline, summary } = cfg.input;
  return layout === 'flat'
    ? [flatWidth(window, features.length, summary !== undefined) + (calendar ? CALENDAR_VALUES : 0) + (baseline ? features.length + 1 : 0)]
    : [window, features.length];
}

function flatWidth(window: number, features: number, summary: boolean): number {
  return summary ? SUMMARY_STATS * features : window * features;
}

function isDynamic(d: number | string | undefined): boolean {
  return d === undefined || typeof d === 'string' || d < 0;
}

export function formatShape(shape: readonly (number | string)[]): string {
  return shape.length === 0 ? '[?]' : `[${shape.map((d) => (typeof d === 'number' && d < 0 ? '?' : String(d))).join(', ')}]`;
}

export function formatTensor(t: TensorMeta): string {
  return `${t.name} ${t.type} ${formatShape(t.shape)}`;
}

export function formatSignature(sig: Signature): string {
  const lines = ['inputs:'];
  for (const t of sig.inputs) lines.push(`  ${formatTensor(t)}`);
  lines.push('outputs:');
  for (const t of sig.outputs) lines.push(`  ${formatTensor(t)}`);
  return lines.join('\n');
}

/** 'batch' when the model's batch dimension is dynamic (micro-batching), 'single' when it is 1. */
export function batchMode(sig: Signature, inputName: string): 'batch' | 'single' {
  const input = sig.inputs.find((t) => t.name === inputName);
  return input && input.shape[0] === 1 ? 'single' : 'batch';
}

/** Loads a model on this thread just long enough to read its signature (start-up and CLI only). */
export async function readSignature(file: string): Promise<Signature> {
  // onnxruntime is loaded here, not at import: the main thread of a configuration without models never loads it
  const { InferenceSession: Session } = await loadOnUse(`model ${file}`, 'onnxruntime-node', () => import('onnxruntime-node'));
  let session: InferenceSession;
  try {
    session = await Session.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  } catch (e) {
    throw new FgError('FG_E_MODEL_LOAD', `cannot load model ${file}: ${errorMessage(e)}`, { cause: e, details: { path: file } });
  }
  const meta = (list: readonly InferenceSession.ValueMetadata[]): TensorMeta[] =>
    list.map((m) => (m.isTensor ? { name: m.name, type: m.type, shape: [...m.shape] } : { name: m.name, type: 'non-tensor', shape: [] }));
  const sig = { inputs: meta(session.inputMetadata), outputs: meta(session.outputMetadata) };
  await session.release();
  return sig;
}

/**
 * Compares a model's signature with what its configuration feeds and reads. Returns the
 * problems, each showing what the model expects and what the config provides; empty when fine.
 */
export function checkSignature(cfg: ModelConfig, sig: Signature): string[] {
  const problems: string[] = [];
  const dims = rowDims(cfg);
  const { window, features, layout, name, summary } = cfg.input;
  const F = features.length;
  const what = summary
    ? `summary of a ${window}-row window: mean, shift over the last ${summary.recent} rows and std dev of ${F} feature${F === 1 ? '' : 's'}`
    : `window ${window} x ${F} feature${F === 1 ? '' : 's'}`;
  const provided = `float32 [batch, ${dims.join(', ')}] (${what}${cfg.input.calendar ? ' + hour of day, day of week' : ''}${cfg.input.baseline ? ` + baseline of ${features.length} feature${features.length === 1 ? '' : 's'} and its weight` : ''}, layout ${layout})`;
  const modelInputs = sig.inputs.map(formatTensor).join('; ') || 'none';
  const input = sig.inputs.find((t) => t.name === name);
  if (!input) {
    problems.push(`input "${name}": the model has no such input; model inputs: ${modelInputs}; config provides "${name}" ${provided}`);
  } else {
    const okType = input.type === 'float32';
    let okShape = input.shape.length === 0 || input.shape.length === dims.length + 1;
    if (okShape && input.shape.length > 0) {
      const b = input.shape[0];
      if (!isDynamic(b) && b !== 1) okShape = false;
      dims.forEach((d, i) => {
        const m = input.shape[i + 1];
        if (!isDynamic(m) && m !== d) okShape = false;
      });
    }
    if (!okType || !okShape) {
      problems.push(`input "${name}": model expects ${input.type} ${formatShape(input.shape)}; config provides ${provided}${formHint(cfg, input.shape)}`);
    }
  }
  for (const extra of sig.inputs.filter((t) => t.name !== name)) {
    problems.push(`input "${extra.name}": the model needs it (${formatTensor(extra)}) but the config feeds only "${name}"`);
  }
  const modelOutputs = sig.outputs.map(formatTensor).join('; ') || 'none';
  for (const o of cfg.outputs) {
    const field = o.field ?? o.name;
    const out = sig.outputs.find((t) => t.name === o.name);
    if (!out) {
      problems.push(`output "${o.name}" (field ${field}): the model has no such output; model outputs: ${modelOutputs}`);
      continue;
    }
    if (out.type !== 'float32') {
      problems.push(`output "${o.name}": model gives ${out.type} ${formatShape(out.shape)}; config reads float32`);
      continue;
    }
    const rest = out.shape.slice(1);
    if (rest.every((d) => !isDynamic(d))) {
      const perRow = rest.reduce<number>((a, d) => a * (d as number), 1);
      if (out.shape.length > 0 && o.index >= perRow) {
        problems.push(`output "${o.name}": model gives ${perRow} value${perRow === 1 ? '' : 's'} per window ${formatShape(out.shape)}; config reads index ${o.index}`);
      }
    }
  }
  return problems;
}

/** When the model's width is what the other input form would give: say so (model.yaml of a fitted model has input.summary). */
function formHint(cfg: ModelConfig, shape: readonly (number | string)[]): string {
  const { window, features, layout, calendar, baseline, summary } = cfg.input;
  const want = shape[1];
  if (layout !== 'flat' || shape.length !== 2 || typeof want !== 'number' || want < 0) return '';
  const extra = (calendar ? CALENDAR_VALUES : 0) + (baseline ? features.length + 1 : 0);
  if (summary && want === flatWidth(window, features.length, false) + extra) {
    return '; the model takes the raw window: remove input.summary';
  }
  if (!summary && (want - extra) === SUMMARY_STATS * features.length) {
    return '; the model takes window statistics: set input.summary as its model.yaml gives it (models written by fieldgate model fit)';
  }
  return '';
}

/** One message for FG_E_MODEL_MISMATCH. */
export function mismatchMessage(cfg: ModelConfig, file: string, problems: string[]): string {
  return `model ${cfg.id} (${file}) does not match its configuration:\n  ${problems.join('\n  ')}`;
}
