import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { isFgError } from '../../core/errors.ts';
import type { SampleBatch } from '../../core/sample.ts';
import { modelSchema } from '../config.ts';
import { createModelStage } from '../index.ts';
import { MemoryOutbox, tempDir, testContext } from '../../../test/support/inference/testing.ts';
import { calendarOf } from '../window.ts';
import { readTable, type Table } from './csv.ts';
import { evaluate } from './evaluate.ts';
import { fit, type FitResult } from './fit.ts';
import { configSnippet, modelMeta, readModelDir, writeModelDir } from './model-dir.ts';

const tmp = tempDir('fg-fit-');
after(() => tmp.cleanup());

const HOUR = 3_600_000;
const T0 = Date.parse('2024-01-01T00:00:00Z'); // a Monday

/**
 * Hourly data of a machine with a weekly rhythm: temperature high on weekdays, low at weekends,
 * vibration following it; deterministic noise. `fault` adds a vibration jump on a weekday.
 */
function machineCsv(file: string, weeks: number, fault?: { at: number; hours: number }): void {
  const lines = ['time,temperature,vibration'];
  let seed = 7;
  const noise = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5);
  for (let h = 0; h < weeks * 168; h++) {
    const ts = T0 + h * HOUR;
    const [hour, day] = calendarOf(ts, 0);
    const working = day < 5 && hour >= 6 && hour < 22;
    let temp = (working ? 80 : 40) + 2 * noise();
    let vib = (working ? 3 : 0.5) + 0.2 * noise();
    if (fault && ts >= fault.at && ts < fault.at + fault.hours * HOUR) { vib += 3; temp += 15; }
    lines.push(`${new Date(ts).toISOString().slice(0, 19).replace('T', ' ')},${temp.toFixed(3)},${vib.toFixed(3)}`);
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
}

describe('model fit + evaluate (real ONNX runtime, real model stage)', () => {
  const data = join(tmp.dir, 'machine.csv');
  const faultAt = T0 + (6 * 168 + 2 * 24 + 10) * HOUR; // week 7, Wednesday 10:00
  machineCsv(data, 8, { at: faultAt, hours: 8 });
  const normalTo = T0 + 5 * 168 * HOUR;
  const out = join(tmp.dir, 'model');

  it('fits two tags with the weekly calendar, writes model.onnx + model.yaml, and the graph computes what the fit computed', async () => {
    const r = fit(readTable(data), { name: 'machine', normalTo });
    assert.equal(r.report.period, HOUR);
    assert.equal(r.report.calendar.on, true, r.report.calendar.reason);
    assert.ok(r.report.calendar.weekly > 0.3);
    assert.deepEqual(r.columns, ['temperature', 'vibration']);
    assert.equal(r.report.heldOut.events, 0, 'the held-out normal week raises nothing');
    writeModelDir(out, r, modelMeta(r, 'machine', 'test'), false);
    assert.deepEqual(r.input.summary, { recent: Math.round(r.input.window / 4) }, 'model fit writes summary-form models');
    // the files run in onnxruntime, both input forms: a window of 'normal Saturday' values scores low
    const raw = fit(readTable(data), { name: 'machine', normalTo, form: 'window' });
    assert.equal(raw.input.summary, undefined);
    const W = r.input.window;
    // quiet values with the noise of the data (alternating at its standard deviation)
    const rawX = new Float32Array(W * 2 + 2);
    for (let t = 0; t < W; t++) { rawX[t * 2] = 40 + (t % 2 ? 0.577 : -0.577); rawX[t * 2 + 1] = 0.5 + (t % 2 ? 0.0577 : -0.0577); }
    // the same window as statistics: means 40 and 0.5, shift 0 (the recent rows alternate too), std devs
    const sumX = Float32Array.from([40, 0.5, 0, 0, 0.577, 0.0577, 0, 0]);
    for (const [onnx, x] of [[r.onnx, sumX], [raw.onnx, rawX]] as const) {
      const session = await ort.InferenceSession.create(onnx);
      try {
        x[x.length - 2] = 12; x[x.length - 1] = 6; // Sunday noon: the window is the weekend
        const sun = await session.run({ window: new ort.Tensor('float32', x, [1, x.length]) });
        assert.ok((sun.score!.data as Float32Array)[0]! < 1, `quiet Sunday scores ${(sun.score!.data as Float32Array)[0]} (input width ${x.length})`);
        x[x.length - 1] = 2; // the same quiet values on a Wednesday noon: not normal
        const wed = await session.run({ window: new ort.Tensor('float32', x, [1, x.length]) });
        assert.ok((wed.score!.data as Float32Array)[0]! > 1, `quiet Wednesday scores ${(wed.score!.data as Float32Array)[0]} (input width ${x.length})`);
        assert.deepEqual(wed.z!.dims, [1, 6]);
      } finally {
        await session.release();
      }
    }
  });

  it('refuses to overwrite without --force', () => {
    const r = fit(readTable(data), { name: 'machine', normalTo });
    assert.throws(() => writeModelDir(out, r, modelMeta(r, 'machine', 'test'), false), (e) => isFgError(e, 'FG_E_FIT_OUTPUT'));
    writeModelDir(out, r, modelMeta(r, 'machine', 'test'), true);
  });

  it('evaluate replays through the model stage: the fault gets an event, the weekends do not', async () => {
    const windows = join(tmp.dir, 'windows.json');
    const iso = (t: number): string => new Date(t).toISOString();
    writeFileSync(windows, JSON.stringify({ 'x/machine.csv': [[iso(faultAt - 2 * HOUR), iso(faultAt + 12 * HOUR)]] }));
    const r = await evaluate({ dir: out, data, windows });
    assert.equal(r.predictions, 8 * 168 - (r.rows - r.predictions));
    assert.equal(r.windows.length, 1);
    assert.equal(r.windowsHit, 1);
    assert.equal(r.windowsAfterNormalHit, 1);
    assert.equal(r.eventsOutside, 0, JSON.stringify(r.events));
    assert.ok(r.events[0]!.score > 1);
  });

  it('without the calendar the same data raises false events on weekends', () => {
    const withCal = fit(readTable(data), { name: 'machine', normalTo, window: 6 });
    const without = fit(readTable(data), { name: 'machine', normalTo, window: 6, calendar: 'off' });
    assert.equal(withCal.report.heldOut.events, 0);
    assert.ok(without.report.heldOut.maxScore > withCal.report.heldOut.maxScore, `${without.report.heldOut.maxScore} vs ${withCal.report.heldOut.maxScore}`);
  });
});

describe('model fit: bad input gets one coded, located error', () => {
  const write = (name: string, text: string): string => {
    const f = join(tmp.dir, name);
    writeFileSync(f, text);
    return f;
  };
  const fails = (fn: () => unknown, code: Parameters<typeof isFgError>[1], re: RegExp): void =>
    assert.throws(fn, (e) => isFgError(e, code) && re.test((e as Error).message));

  it('a value that is not a number: file:line and column', () => {
    const f = write('bad-value.csv', 'ts,a\n2024-01-01 00:00:00,1\n2024-01-01 01:00:00,abc\n');
    fails(() => readTable(f), 'FG_E_FIT_DATA', /bad-value\.csv:3: column "a": "abc" is not a number/);
  });
  it('a bad timestamp, a short row, an empty file', () => {
    fails(() => readTable(write('bad-ts.csv', 'ts,a\nyesterday,1\n')), 'FG_E_FIT_DATA', /bad-ts\.csv:2: column "ts": "yesterday" is not a timestamp/);
    fails(() => readTable(write('short.csv', 'ts,a,b\n2024-01-01,1,2\n2024-01-02,1\n')), 'FG_E_FIT_DATA', /short\.csv:3: 2 cells where the header has 3/);
    fails(() => readTable(write('empty.csv', '')), 'FG_E_FIT_DATA', /empty\.csv:1: empty file/);
  });
  it('an unknown column lists the header', () => {
    const f = write('cols.csv', 'ts,temp\n2024-01-01,1\n');
    fails(() => readTable(f, { columns: ['tmp'] }), 'FG_E_FIT_COLUMN', /cols\.csv:1: no column "tmp"; the header has: ts, temp/);
  });
  it('an empty normal period says what the data covers', () => {
    const f = join(tmp.dir, 'short-machine.csv');
    machineCsv(f, 2);
    fails(() => fit(readTable(f), { name: 'x', normalTo: T0 - HOUR }), 'FG_E_FIT_NORMAL', /holds 0 usable rows; the data runs from 2024-01-01T00:00:00.000Z/);
  });
});

describe('hot swap of a refitted model', () => {
  it('model fit --force into the folder a running model stage watches swaps the model, no restart', async () => {
    const data = join(tmp.dir, 'swap.csv');
    machineCsv(data, 6);
    const dir = join(tmp.dir, 'watched');
    const table = readTable(data);
    const first = fit(table, { name: 'm', normalTo: T0 + 4 * 168 * HOUR, window: 12 });
    writeModelDir(dir, first, modelMeta(first, 'm', 'test'), false);
    const cfg = modelSchema.parse({
      id: 'm', path: join(dir, 'model.onnx'),
      input: { name: 'window', window: 12, calendar: first.input.calendar, summary: first.input.summary, features: [{ tag: 'plant/temperature' }, { tag: 'plant/vibration' }] },
      outputs: [{ name: 'score' }], watch: true,
    });
    const outbox = new MemoryOutbox();
    const stage = createModelStage(cfg, outbox, testContext(dir));
    await stage.start();
    try {
      const sha0 = stage.probe().details!.sha256;
      // the refit: another normal period, same window and tags, so the same input shape
      const second = fit(table, { name: 'm', normalFrom: T0 + 168 * HOUR, normalTo: T0 + 5 * 168 * HOUR, window: 12 });
      writeModelDir(dir, second, modelMeta(second, 'm', 'test'), true);
      for (let i = 0; i < 250 && stage.probe().details!.generation === 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(stage.probe().details!.generation, 1, 'the watcher swapped the refitted model');
      assert.notEqual(stage.probe().details!.sha256, sha0);
      // and it answers: 20 hourly rows of both tags make 9 windows
      const batch = { source: 'plant', receivedAt: Date.now(), samples: [] as SampleBatch['samples'] };
      for (let h = 0; h < 20; h++) {
        batch.samples.push({ source: 'plant', tag: 'vibration', ts: T0 + h * HOUR, value: 3, quality: 'good' });
        batch.samples.push({ source: 'plant', tag: 'temperature', ts: T0 + h * HOUR, value: 80, quality: 'good' });
      }
      stage.offer(batch);
      await outbox.waitFor(9);
      assert.ok(outbox.predictions.every((p) => Number.isFinite(p.outputs.score)));
    } finally {
      await stage.stop(5_000);
    }
  });
});

/**
 * Writes a fitted model, builds its config entry as `model fit` prints it (configSnippet), replays the
 * table through the real model stage (assembler, worker pool, onnxruntime) and checks every window's
 * score against the fit's own (float64) score. The tolerance, 1e-4 relative: the stage's input is
 * float32 (about 6e-8 relative per value; a mean near 85 is exact to ~5e-6) and the graph computes in
 * float32, a few operations deep; the fit computes in float64 from prefix sums.
 */
async function stageMatchesFit(r: FitResult, table: Table, dir: string): Promise<void> {
  writeModelDir(dir, r, modelMeta(r, 'm', 'test'), true);
  const meta = readModelDir(dir);
  const cfg = modelSchema.parse({
    ...configSnippet(meta, 'm', join(dir, 'model.onnx'), 'p'),
    watch: false, batching: { maxBatch: 256, maxWait: 1, queue: 32_768 }, deadline: '10m',
  });
  const outbox = new MemoryOutbox();
  const stage = createModelStage(cfg, outbox, testContext(dir));
  await stage.start();
  const n = table.ts.length;
  const F = table.columns.length;
  try {
    for (let h = 0; h < n; h += 24) {
      const batch = { source: 'p', receivedAt: Date.now(), samples: [] as SampleBatch['samples'] };
      for (let row = h; row < Math.min(n, h + 24); row++) {
        for (let c = F - 1; c >= 0; c--) batch.samples.push({ source: 'p', tag: table.columns[c]!, ts: table.ts[row]!, value: table.values[c]![row]!, quality: 'good' });
      }
      stage.offer(batch);
      if (h % 2400 === 0) await new Promise((res) => setImmediate(res));
    }
    await outbox.waitFor(r.all!.score.length, 60_000);
  } finally {
    await stage.stop(5_000);
  }
  const all = r.all!;
  assert.equal(outbox.predictions.length, all.score.length);
  outbox.predictions.forEach((p, i) => {
    assert.equal(p.ts, all.ts[i]);
    const err = Math.abs(p.outputs.score! - all.score[i]!) / Math.max(1, all.score[i]!);
    assert.ok(err < 1e-4, `window ${i}: stage ${p.outputs.score} vs fit ${all.score[i]}`);
  });
}

describe('the model stage scores exactly what the fit scored (real ONNX, both input forms)', () => {
  it('3 tags, calendar, 2 months of 5-minute rows: summary form (running sums over 17k rows) and raw-window form', async () => {
    // a temperature near 85 with a spread of about 2: where float32 sums of squares would cancel
    const file = join(tmp.dir, 'three.csv');
    const lines = ['time,temperature,vibration,current'];
    let seed = 11;
    const noise = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5);
    const rows = 60 * 288;
    for (let i = 0; i < rows; i++) {
      const ts = T0 + i * 300_000;
      const [hour, day] = calendarOf(ts, 0);
      const load = day < 5 && hour >= 6 && hour < 22 ? 1 : 0.3;
      const fault = i > 50 * 288 && i < 50 * 288 + 60 ? 6 : 0;
      lines.push(`${new Date(ts).toISOString()},${(80 + 5 * load + fault + 4 * noise()).toFixed(3)},${(0.5 + 3 * load + 0.3 * noise()).toFixed(3)},${(2 + 40 * load + 3 * noise()).toFixed(3)}`);
    }
    writeFileSync(file, `${lines.join('\n')}\n`);
    const table = readTable(file);
    const normalTo = T0 + 35 * 24 * HOUR;
    const summary = fit(table, { name: 'm', normalTo, window: 72, keepScores: true });
    assert.ok(summary.input.summary && summary.input.calendar, JSON.stringify(summary.input));
    await stageMatchesFit(summary, table, join(tmp.dir, 'three-summary'));
    const raw = fit(table, { name: 'm', normalTo, window: 72, keepScores: true, form: 'window' });
    await stageMatchesFit(raw, table, join(tmp.dir, 'three-raw'));
    // and the two forms agree with each other (same fit, same statistics)
    assert.deepEqual(raw.all!.score, summary.all!.score);
    assert.ok(Math.max(...summary.all!.score) > 1, 'the fault scores above the limit');
  });
});

describe('the adaptive baseline (--baseline) runs in the model stage exactly as fitted', () => {
  it('scores through the real stage (assembler state + ONNX graph) equal the fit\'s own, and a level shift ends', async () => {
    const data = join(tmp.dir, 'shift.csv');
    const lines = ['time,temperature,vibration'];
    let seed = 3;
    const noise = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5);
    const hours = 24 * 40;
    for (let h = 0; h < hours; h++) {
      const shift = h >= 24 * 15 ? 10 : 0; // runs 10 degrees hotter from day 15 on, for good
      lines.push(`${new Date(T0 + h * HOUR).toISOString()},${(70 + shift + 2 * noise()).toFixed(3)},${(2 + 0.2 * noise()).toFixed(3)}`);
    }
    writeFileSync(data, `${lines.join('\n')}\n`);
    const table = readTable(data);
    const opts = { name: 'b', normalTo: T0 + 12 * 24 * HOUR, window: 12, calendar: 'off' as const, keepScores: true };
    const adaptive = fit(table, { ...opts, baselineHalfLife: 24 * HOUR });
    const fixed = fit(table, opts);
    assert.deepEqual(adaptive.input.baseline, { halfLife: 24 });
    const all = adaptive.all!;
    assert.equal(all.score.length, hours - 11);
    await stageMatchesFit(adaptive, table, join(tmp.dir, 'baseline'));
    await stageMatchesFit(fit(table, { ...opts, baselineHalfLife: 24 * HOUR, form: 'window' }), table, join(tmp.dir, 'baseline-raw'));
    // the shift raises an event that ends within days; with a fixed baseline it never ends
    const lastDays = (s: Float64Array): number => Math.max(...s.subarray(s.length - 24 * 10));
    assert.ok(lastDays(all.score) < 1, `adaptive: last 10 days peak ${lastDays(all.score)}`);
    assert.ok(lastDays(fixed.all!.score) > 1, `fixed: last 10 days peak ${lastDays(fixed.all!.score)}`);
  });
});
