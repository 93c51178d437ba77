import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { FgError, errorMessage } from '../../core/errors.ts';
import type { SampleBatch } from '../../core/sample.ts';
import { modelSchema } from '../config.ts';
import { createModelStage } from '../index.ts';
import { MemoryOutbox, quietContext } from './collect.ts';
import { parseTimestamp, readTable } from './csv.ts';
import { configSnippet, readModelDir } from './model-dir.ts';

export interface EvaluateOptions {
  dir: string;
  data: string;
  windows?: string;
  key?: string;
  onProgress?: (done: number) => void;
}

export interface EvaluateResult {
  model: string;
  data: string;
  rows: number;
  predictions: number;
  /** rows the window assembler refused (timestamps not newer than the previous one) */
  outOfOrder: number;
  events: { ts: string; score: number; window: number | null }[];
  windows: { start: string; end: string; events: number; afterNormal: boolean; maxScore: number }[];
  windowsHit: number;
  /** labelled windows that start after the model's normal period ended, and how many got an event */
  windowsAfterNormal: number;
  windowsAfterNormalHit: number;
  eventsOutside: number;
  maxScore: number;
}

const SOURCE = 'file';

/** NAB's format: {"<key>": [["start", "end"], ...]}; the key defaults to the one naming the data file. */
export function readWindows(file: string, key: string | undefined, dataFile: string): { key: string; windows: [number, number][] } {
  let all: Record<string, unknown>;
  try {
    all = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new FgError('FG_E_FIT_WINDOWS', `${file}: cannot read labelled windows: ${errorMessage(e)}`, { cause: e, details: { file } });
  }
  if (typeof all !== 'object' || all === null || Array.isArray(all)) {
    throw new FgError('FG_E_FIT_WINDOWS', `${file}: expected an object {"<key>": [["start", "end"], ...]}`, { details: { file } });
  }
  const keys = Object.keys(all);
  const base = basename(dataFile);
  const k = key ?? (keys.length === 1 ? keys[0] : keys.find((x) => x === base || x.endsWith(`/${base}`)));
  if (k === undefined || !(k in all)) {
    throw new FgError('FG_E_FIT_WINDOWS', `${file}: ${key ? `no key "${key}"` : `no key names ${base}`}; pass --key, one of: ${keys.join(', ')}`, { details: { file } });
  }
  const list = all[k];
  if (!Array.isArray(list)) throw new FgError('FG_E_FIT_WINDOWS', `${file}: "${k}" is not a list of [start, end] pairs`, { details: { file } });
  const windows = list.map((w, i) => {
    const ok = Array.isArray(w) && w.length === 2 && typeof w[0] === 'string' && typeof w[1] === 'string';
    const a = ok ? parseTimestamp(w[0] as string) : NaN;
    const b = ok ? parseTimestamp(w[1] as string) : NaN;
    if (!Number.isFinite(a) || !Number.isFinite(b) || b < a) {
      throw new FgError('FG_E_FIT_WINDOWS', `${file}: "${k}"[${i}]: expected ["start", "end"] timestamps, end not before start; got ${JSON.stringify(w)}`, { details: { file } });
    }
    return [a, b] as [number, number];
  });
  return { key: k, windows };
}

const iso = (t: number): string => new Date(t).toISOString();

/**
 * Replays a CSV through the real model stage (window assembler, request channel, micro-batcher,
 * worker pool, threshold tracker) as a source would feed it: one batch per 12 rows, every column
 * a tag of source "file". Waits for the stage to keep up, so nothing is dropped.
 */
export async function evaluate(opts: EvaluateOptions): Promise<EvaluateResult> {
  const meta = readModelDir(opts.dir);
  const tags = meta.input.features.map((f) => f.tag);
  const table = readTable(opts.data, { columns: tags });
  const labelled = opts.windows ? readWindows(opts.windows, opts.key, opts.data).windows : [];
  const cfg = modelSchema.parse({
    // the entry `model fit` prints for a config file, run here with a replay's batching and no watch
    ...configSnippet(meta, meta.name.replace(/[^A-Za-z0-9_.-]/g, '_') || 'model', resolve(opts.dir, meta.file ?? 'model.onnx'), SOURCE),
    batching: { maxBatch: 256, maxWait: '5ms', queue: 32_768 },
    deadline: '10m',
    watch: false,
  });
  const outbox = new MemoryOutbox();
  const stage = createModelStage(cfg, outbox, quietContext(opts.dir));
  await stage.start();
  const assembled = (): number => (stage.probe().details!.assembler as { windows: number }).windows;
  try {
    const n = table.ts.length;
    for (let i = 0; i < n; i += 12) {
      const batch: SampleBatch = { source: SOURCE, receivedAt: Date.now(), samples: [] };
      for (let r = i; r < Math.min(i + 12, n); r++) {
        // other tags first at equal timestamps (the assembler sorts so anyway); empty cells send nothing
        for (let c = tags.length - 1; c >= 0; c--) {
          const v = table.values[c]![r]!;
          if (!Number.isNaN(v)) batch.samples.push({ source: SOURCE, tag: tags[c]!, ts: table.ts[r]!, value: v, quality: 'good' });
        }
      }
      stage.offer(batch);
      if (i % 2400 === 0) {
        // backpressure: never let the request channel fill up (it drops the oldest)
        const behind = assembled() - outbox.predictions.length;
        if (behind > 8_000) await outbox.waitFor(assembled() - 2_000, 120_000);
        else await new Promise((r) => setImmediate(r));
        opts.onProgress?.(i / n);
      }
    }
    await outbox.waitFor(assembled(), 120_000);
  } finally {
    await stage.stop(10_000);
  }
  const outOfOrder = (stage.probe().details!.assembler as { outOfOrder: number }).outOfOrder;
  const normalEnd = Array.isArray(meta.fit?.normalPeriod) ? parseTimestamp(String((meta.fit!.normalPeriod as string[])[1])) : -Infinity;
  const inWindow = (t: number): number => labelled.findIndex(([a, b]) => t >= a && t <= b);
  // each event with the peak score of its excursion (from the raise to its clear)
  const preds = outbox.predictions;
  const ofScore = outbox.events.filter((e) => e.data?.field === 'score');
  let p = 0;
  const events: { ts: number; score: number; window: number }[] = [];
  ofScore.forEach((e, k) => {
    if (e.data?.state !== 'raised') return;
    const end = ofScore.slice(k + 1).find((c) => c.data?.state === 'cleared')?.ts ?? Infinity;
    while (p < preds.length && preds[p]!.ts < e.ts) p++;
    let peak = Number(e.data?.value);
    for (let q = p; q < preds.length && preds[q]!.ts <= end; q++) peak = Math.max(peak, preds[q]!.outputs.score ?? 0);
    events.push({ ts: e.ts, score: peak, window: inWindow(e.ts) });
  });
  const windows = labelled.map(([a, b], w) => {
    let peak = 0;
    for (const q of preds) if (q.ts >= a && q.ts <= b) peak = Math.max(peak, q.outputs.score ?? 0);
    return { start: iso(a), end: iso(b), events: events.filter((e) => e.window === w).length, afterNormal: a > normalEnd, maxScore: peak };
  });
  let maxScore = 0;
  for (const q of preds) maxScore = Math.max(maxScore, q.outputs.score ?? 0);
  const after = windows.filter((w) => w.afterNormal);
  return {
    model: opts.dir,
    data: opts.data,
    rows: table.ts.length,
    predictions: outbox.predictions.length,
    outOfOrder,
    events: events.map((e) => ({ ts: iso(e.ts), score: e.score, window: e.window >= 0 ? e.window : null })),
    windows,
    windowsHit: windows.filter((w) => w.events > 0).length,
    windowsAfterNormal: after.length,
    windowsAfterNormalHit: after.filter((w) => w.events > 0).length,
    eventsOutside: events.filter((e) => e.window < 0).length,
    maxScore,
  };
}
