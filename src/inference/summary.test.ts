import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { MemoryOutbox, tempDir, testContext } from '../../test/support/inference/testing.ts';
import { isFgError } from '../core/errors.ts';
import type { Sample, SampleBatch } from '../core/sample.ts';
import { modelInputSchema, modelSchema } from './config.ts';
import { readTable } from './fit/csv.ts';
import { fit } from './fit/fit.ts';
import { modelMeta, writeModelDir } from './fit/model-dir.ts';
import { createModelStage, validateModel } from './index.ts';
import { WindowSummary } from './summary.ts';
import { WindowAssembler } from './window.ts';

const EPS = Number.EPSILON;

/** The direct computation: two passes over the last W rows of feature f, float64. */
function twoPass(rows: number[][], W: number, R: number, f: number): { mean: number; shift: number; variance: number } {
  const win = rows.slice(-W).map((r) => r[f]!);
  const mean = win.reduce((a, b) => a + b, 0) / W;
  const recent = win.slice(-R).reduce((a, b) => a + b, 0) / R;
  const variance = win.reduce((a, x) => a + (x - mean) ** 2, 0) / W;
  return { mean, shift: recent - mean, variance };
}

/**
 * Tolerances, from the error analysis in summary.ts: between two exact passes there are fewer than W
 * incremental updates, each adding a rounding of at most a few eps times the size of its terms: |x - K|
 * <= D (the range of the values) for the sums, D^2 for the squares. So the sums are off by at most
 * ~3 W eps D (resp. D^2); divided by W (mean, variance) or R >= 1 (the recent mean, hence the shift).
 * The two-pass reference has errors of the same order, and the mean adds one rounding of its size.
 * A factor 8 covers both; these bounds are ~1e-12 relative, far below float32's 6e-8 (what the model sees).
 */
function tolerances(W: number, R: number, scale: number, D: number): { mean: number; shift: number; variance: number } {
  return {
    mean: 8 * EPS * (scale + 3 * D),
    shift: 8 * EPS * 3 * (W / R + 1) * D + 8 * EPS * scale,
    variance: 8 * EPS * 3 * W * D * D + 8 * EPS * D * D,
  };
}

function check(s: WindowSummary, rows: number[][], at: string): void {
  const { window: W, features: F, recent: R } = s;
  const out = new Float64Array(3 * F);
  s.write(out, 0);
  const all = rows.slice(-2 * W).flat().filter(Number.isFinite);
  const scale = Math.max(...all.map(Math.abs));
  const D = Math.max(...all) - Math.min(...all);
  const tol = tolerances(W, R, scale, D);
  for (let f = 0; f < F; f++) {
    const ref = twoPass(rows, W, R, f);
    const [mean, shift, std] = [out[f]!, out[F + f]!, out[2 * F + f]!];
    assert.ok(Math.abs(mean - ref.mean) <= tol.mean, `${at} f${f}: mean ${mean} vs ${ref.mean} (tol ${tol.mean})`);
    assert.ok(Math.abs(shift - ref.shift) <= tol.shift, `${at} f${f}: shift ${shift} vs ${ref.shift} (tol ${tol.shift})`);
    assert.ok(Math.abs(std * std - ref.variance) <= tol.variance, `${at} f${f}: variance ${std * std} vs ${ref.variance} (tol ${tol.variance})`);
  }
}

describe('WindowSummary: running window statistics', () => {
  it('equal a direct two-pass computation after every row, over random windows (fast-check)', () => {
    const arb = fc.record({
      W: fc.integer({ min: 1, max: 40 }),
      F: fc.integer({ min: 1, max: 3 }),
      recentShare: fc.double({ min: 0, max: 1, noNaN: true }),
      // values near an offset (85: a temperature; 1e4: counts) with a spread: where raw sums of squares cancel
      offset: fc.constantFrom(0, 85, -300, 1e4),
      spread: fc.constantFrom(1e-3, 2, 50),
      rows: fc.integer({ min: 1, max: 240 }),
      seed: fc.integer({ min: 1, max: 2 ** 30 }),
    });
    fc.assert(fc.property(arb, ({ W, F, recentShare, offset, spread, rows, seed }) => {
      const R = Math.max(1, Math.min(W, Math.round(recentShare * W)));
      const s = new WindowSummary(W, F, R);
      let x = seed;
      const rnd = (): number => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5;
      const pushed: number[][] = [];
      let level = 0;
      for (let i = 0; i < rows + W; i++) {
        level += rnd() * spread * 0.1; // a drifting level too
        const row = Array.from({ length: F }, (_, f) => offset * (f + 1) + level + spread * rnd());
        s.push(row);
        pushed.push(row);
        if (s.full) check(s, pushed, `row ${i}`);
      }
    }), { numRuns: 300 });
  });

  it('stays exact after a million rows of a drifting signal (no accumulated error)', () => {
    const W = 288, R = 72;
    const s = new WindowSummary(W, 2, R);
    const rows: number[][] = [];
    let x = 17;
    const rnd = (): number => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5;
    let level = 85;
    for (let i = 0; i < 1_000_000; i++) {
      level += 0.05 * rnd();
      const row = [level + 2 * rnd(), 1e4 + 100 * Math.sin(i / 500) + rnd()];
      s.push(row);
      rows.push(row);
      if (rows.length > 4 * W) rows.splice(0, rows.length - 2 * W);
      // checkpoints at every phase relative to the exact passes
      if (i > W && (i % 99_991 === 0 || i % 100_000 < 3)) check(s, rows, `row ${i}`);
    }
    check(s, rows, 'end');
  });

  it('a non-finite row gives NaN while it is in the window, exact statistics once it has left', () => {
    const s = new WindowSummary(4, 1, 2);
    const rows: number[][] = [];
    const push = (v: number): void => { s.push([v]); rows.push([v]); };
    for (const v of [1, 2, 3, 4, 5]) push(v);
    check(s, rows, 'before');
    push(Number.NaN);
    const out = new Float64Array(3);
    s.write(out, 0);
    assert.ok(out.every(Number.isNaN));
    for (const v of [7, 8, 9]) push(v);
    s.write(out, 0);
    assert.ok(out.every(Number.isNaN), 'still in the window');
    push(10);
    check(s, rows, 'after');
    assert.deepEqual([...out.fill(0)].length, 3);
    s.write(out, 0);
    assert.deepEqual([...out], [8.5, 1, Math.sqrt(1.25)]);
  });

  it('refuses recent outside 1..window', () => {
    assert.throws(() => new WindowSummary(4, 1, 5), RangeError);
    assert.throws(() => new WindowSummary(4, 1, 0), RangeError);
  });
});

const smp = (tag: string, ts: number, value: Sample['value'], quality: Sample['quality'] = 'good'): Sample => ({ source: 'p', tag, ts, value, quality });
const batchOf = (samples: Sample[]): SampleBatch => ({ source: 'p', samples, receivedAt: 0 });

describe('WindowAssembler with input.summary', () => {
  const cfg = (over: Record<string, unknown>) =>
    modelInputSchema.parse({ name: 'x', window: 5, summary: { recent: 2 }, features: [{ tag: 'p/a' }, { tag: 'p/b' }], ...over });

  it('hands [mean, shift, std dev of every feature] + calendar + baseline, the same statistics as the raw window (property)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 2, max: 12 }), fc.integer({ min: 1, max: 3 }), fc.boolean(), fc.boolean(),
      fc.array(fc.record({ a: fc.double({ min: 60, max: 110, noNaN: true }), b: fc.double({ min: -1, max: 1, noNaN: true }), bad: fc.nat(30) }), { minLength: 1, maxLength: 80 }),
      (W, stride, calendar, baseline, rows) => {
        const R = Math.max(1, Math.floor(W / 4));
        const extra = { window: W, stride, ...(calendar ? { calendar: {} } : {}), ...(baseline ? { baseline: { halfLife: 3 } } : {}) };
        const sum = new WindowAssembler(cfg({ ...extra, summary: { recent: R } }));
        const raw = new WindowAssembler(cfg({ ...extra, summary: undefined }));
        // one bad sample in about 30 rows: the windows holding it are skipped by both
        const samples = rows.flatMap((r, t) => [smp('b', t * 60_000, r.b), smp('a', t * 60_000, r.bad === 0 ? null : r.a, r.bad === 0 ? 'bad' : 'good')]);
        const ws = sum.push(batchOf(samples));
        const wr = raw.push(batchOf(samples));
        assert.deepEqual(ws.map((w) => w.ts), wr.map((w) => w.ts));
        assert.deepEqual(sum.counts, raw.counts);
        ws.forEach((w, i) => {
          const r = wr[i]!.data;
          assert.equal(w.data.length, 6 + (calendar ? 2 : 0) + (baseline ? 3 : 0));
          for (let f = 0; f < 2; f++) {
            // the raw window holds float32 values: compare at float32 precision
            const xs = Array.from({ length: W }, (_, t) => r[t * 2 + f]!);
            const mean = xs.reduce((p, q) => p + q, 0) / W;
            const recent = xs.slice(-R).reduce((p, q) => p + q, 0) / R;
            const sd = Math.sqrt(xs.reduce((p, q) => p + (q - mean) ** 2, 0) / W);
            const tol = 1e-6 * 110;
            assert.ok(Math.abs(w.data[f]! - mean) <= tol, `mean ${w.data[f]} vs ${mean}`);
            assert.ok(Math.abs(w.data[2 + f]! - (recent - mean)) <= tol, `shift ${w.data[2 + f]} vs ${recent - mean}`);
            assert.ok(Math.abs(w.data[4 + f]! - sd) <= tol, `std ${w.data[4 + f]} vs ${sd}`);
          }
          // calendar and baseline values follow, as in the raw form
          const rest = [...w.data.subarray(6)];
          const rawRest = [...r.subarray(W * 2)];
          rest.forEach((v, k) => assert.ok(Math.abs(v - rawRest[k]!) <= 1e-4 * Math.max(1, Math.abs(v)), `extra ${k}: ${v} vs ${rawRest[k]}`));
        });
      },
    ), { numRuns: 200 });
  });

  it('a day of 85 +- 2 gets its true spread (float32 sums of squares would lose it)', () => {
    const W = 288;
    const a = new WindowAssembler(cfg({ window: W, summary: { recent: 72 }, features: [{ tag: 'p/a' }] }));
    const xs = Array.from({ length: W }, (_, t) => 85 + 2 * Math.sin(t * 0.37) + 0.5 * Math.cos(t * 1.3));
    const [w] = a.push(batchOf(xs.map((v, t) => smp('a', t, v))));
    const mean = xs.reduce((p, q) => p + q, 0) / W;
    const sd = Math.sqrt(xs.reduce((p, q) => p + (q - mean) ** 2, 0) / W);
    const shift = xs.slice(-72).reduce((p, q) => p + q, 0) / 72 - mean;
    assert.deepEqual([...w!.data], [Math.fround(mean), Math.fround(shift), Math.fround(sd)]);
    // what float32 raw sums give for the same window: off by ~0.1 % (4 ulp of 7225 in the mean square
    // against a variance of 2), thousands of times the float32 rounding of the value handed over
    let sum = Math.fround(0), sq = Math.fround(0);
    for (const v of xs) { sum = Math.fround(sum + Math.fround(v)); sq = Math.fround(sq + Math.fround(Math.fround(v) * Math.fround(v))); }
    const f32sd = Math.sqrt(Math.max(0, Math.fround(Math.fround(sq / W) - Math.fround((sum / W) ** 2))));
    assert.ok(Math.abs(f32sd - sd) > 1e-4 * sd, `float32: ${f32sd} vs ${sd}`);
  });

  it('config: summary needs layout flat and recent <= window', () => {
    assert.throws(() => modelInputSchema.parse({ name: 'x', window: 5, summary: { recent: 6 }, features: [{ tag: 'p/a' }] }), /summary.recent must not exceed window/);
    assert.throws(() => modelInputSchema.parse({ name: 'x', window: 5, layout: 'sequence', summary: { recent: 2 }, features: [{ tag: 'p/a' }] }), /summary needs layout: flat/);
    assert.throws(() => modelInputSchema.parse({ name: 'x', window: 5, summary: { recent: 0 }, features: [{ tag: 'p/a' }] }));
    assert.throws(() => modelInputSchema.parse({ name: 'x', window: 5, summary: { recent: 2, mean: true }, features: [{ tag: 'p/a' }] }));
  });
});

describe('a summary-form model against a config of the other form', () => {
  const tmp = tempDir('fg-summary-');
  after(() => tmp.cleanup());

  it('validate and start refuse it with FG_E_MODEL_MISMATCH, naming model, file, input, both widths and the fix', async () => {
    // a summary-form model of 2 tags, window 12 (width 6), as model fit writes it
    const csv = join(tmp.dir, 'two.csv');
    const t0 = Date.parse('2024-01-01T00:00:00Z');
    writeFileSync(csv, ['time,a,b', ...Array.from({ length: 600 }, (_, i) => `${new Date(t0 + i * 3_600_000).toISOString()},${(50 + Math.sin(i)).toFixed(3)},${(2 + Math.cos(i * 0.7)).toFixed(3)}`)].join('\n'));
    const r = fit(readTable(csv), { name: 's', normalTo: t0 + 500 * 3_600_000, window: 12, calendar: 'off' });
    writeModelDir(tmp.dir, r, modelMeta(r, 's', 'test'), true);
    const file = join(tmp.dir, 'model.onnx');
    const base = { id: 'sm', path: file, outputs: [{ name: 'score' }], watch: false };
    const features = [{ tag: 'p/a' }, { tag: 'p/b' }];
    // 1. the summary left out: the config feeds 24 raw values
    const raw = modelSchema.parse({ ...base, input: { name: 'window', window: 12, features } });
    const problems = await validateModel(raw, (p) => p);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^models\[sm\] \(.*model\.onnx\): input "window": model expects float32 \[batch, 6\]; config provides float32 \[batch, 24\] \(window 12 x 2 features, layout flat\); the model takes window statistics: set input\.summary/);
    const stage = createModelStage(raw, new MemoryOutbox(), testContext(tmp.dir));
    await assert.rejects(stage.start(), (e) => isFgError(e, 'FG_E_MODEL_MISMATCH') && /model sm \(.*model\.onnx\) does not match its configuration:\n {2}input "window": model expects float32 \[batch, 6\]; config provides float32 \[batch, 24\]/.test((e as Error).message));
    await stage.stop(1000);
    // 2. one feature too many: 9 statistics against the model's 6
    const three = modelSchema.parse({ ...base, input: { name: 'window', window: 12, summary: { recent: 3 }, features: [...features, { tag: 'p/c' }] } });
    const [p3] = await validateModel(three, (p) => p);
    assert.match(p3!, /input "window": model expects float32 \[batch, 6\]; config provides float32 \[batch, 9\] \(summary of a 12-row window: mean, shift over the last 3 rows and std dev of 3 features, layout flat\)$/);
    // 3. a summary config on a raw-window model: the hint says to remove it
    const rawModel = fit(readTable(csv), { name: 's', normalTo: t0 + 500 * 3_600_000, window: 12, calendar: 'off', form: 'window' });
    writeModelDir(join(tmp.dir, 'raw'), rawModel, modelMeta(rawModel, 's', 'test'), true);
    const sum = modelSchema.parse({ ...base, path: join(tmp.dir, 'raw', 'model.onnx'), input: { name: 'window', window: 12, summary: { recent: 3 }, features } });
    const [p4] = await validateModel(sum, (p) => p);
    assert.match(p4!, /model expects float32 \[batch, 24\]; config provides float32 \[batch, 6\] .*; the model takes the raw window: remove input\.summary$/);
    // and the right config passes
    assert.deepEqual(await validateModel(modelSchema.parse({ ...base, input: { name: 'window', window: 12, summary: r.input.summary, features } }), (p) => p), []);
  });
});
