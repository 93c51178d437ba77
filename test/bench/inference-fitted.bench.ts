/**
 * npm run bench:inference (second part)
 *
 * Model stage throughput (samples in -> window assembler -> request channel -> micro-batcher ->
 * worker pool -> predictions and threshold events) with models written by `fieldgate model fit`,
 * against the reference model models/nab-machine-temp (1 tag, 177-row window) in the same run:
 *
 *   - reference: 1 tag, window 177
 *   - fitted-3x72: 3 tags (temperature, vibration, current), window 72, calendar on
 *   - fitted-3x288: the same 3 tags with the window the fit chooses itself (one day, 288 rows)
 *
 * Models written by `model fit` take their input in summary form (input.summary: the assembler keeps
 * running sums, the model gets mean, shift and std dev per tag). For honesty the same run also measures
 * the raw-window forms (`model fit --input window`, the form of every fitted model before):
 *   - reference-raw: the reference model as committed before (rebuilt from the NAB CSV, same bytes)
 *   - fitted-3x288-raw: fitted-3x288 in raw-window form
 * and reports every fitted model against both references.
 *
 * Each phase offers rows as a source would (batches of 12 rows, every tag of a row; the batches are
 * built before the clock starts, so the making of samples is not counted), never lets
 * the request channel fill (waits for the stage like `model evaluate`), and counts predictions
 * per second. One short untimed phase per model first warms the code up. Phases are interleaved in rounds; figures are the best round, ratios best/best and
 * the median of per-round ratios; windows per CPU-second of the whole process (main thread and
 * workers) are also given, as they depend far less on what else runs on the machine. The ceiling: a direct session.run loop over batches of 256
 * windows of the same model, on the main thread.
 *
 * Target (issue #16): a fitted multivariate model within 0.8x of the reference model.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import type { SampleBatch } from '../../src/core/sample.ts';
import { modelSchema } from '../../src/inference/config.ts';
import { parseTimestamp, readTable } from '../../src/inference/fit/csv.ts';
import { fit } from '../../src/inference/fit/fit.ts';
import { modelMeta, readModelDir, writeModelDir } from '../../src/inference/fit/model-dir.ts';
import { createModelStage } from '../../src/inference/index.ts';
import { rowDims } from '../../src/inference/signature.ts';
import { MemoryOutbox, tempDir, testContext } from '../support/inference/testing.ts';
import { calendarOf } from '../../src/inference/window.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WINDOWS = Number(process.env.BENCH_WINDOWS ?? 40_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
/** windows assembled but not yet predicted before the feeder waits (a live source never gets far ahead) */
const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 2_000);

interface Subject { name: string; dir: string; tags: string[] }

function configFor(s: Subject): ReturnType<typeof modelSchema.parse> {
  const meta = readModelDir(s.dir);
  return modelSchema.parse({
    id: s.name, path: join(s.dir, 'model.onnx'),
    input: {
      name: 'window', window: meta.input.window, stride: 1,
      ...(meta.input.calendar ? { calendar: meta.input.calendar } : {}),
      ...(meta.input.summary ? { summary: meta.input.summary } : {}),
      features: s.tags.map((t) => ({ tag: `m/${t}` })),
    },
    outputs: [{ name: 'score' }],
    thresholds: meta.thresholds,
    batching: { maxBatch: 256, maxWait: '5ms', queue: 32_768 },
    workers: { min: 2, max: 2, nice: Number(process.env.BENCH_NICE ?? 0) },
    deadline: '10m', watch: false,
  });
}

function synthesize(file: string, rows: number): void {
  const t0 = Date.parse('2024-01-01T00:00:00Z');
  const out = ['timestamp,temperature,vibration,current'];
  let seed = 5;
  const noise = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5;
  for (let i = 0; i < rows; i++) {
    const ts = t0 + i * 300_000;
    const [hour, day] = calendarOf(ts, 0);
    const load = day < 5 && hour >= 6 && hour < 22 ? 1 : 0.2;
    out.push(`${new Date(ts).toISOString()},${(60 + 25 * load + 2 * noise()).toFixed(3)},${(0.5 + 3 * load + 0.3 * noise()).toFixed(3)},${(2 + 40 * load + 3 * noise()).toFixed(3)}`);
  }
  writeFileSync(file, `${out.join('\n')}\n`);
}

/** rows as a source delivers them: ts, and one value per tag */
function rowsFor(tags: number, n: number): { ts: Float64Array; v: Float64Array } {
  const ts = new Float64Array(n);
  const v = new Float64Array(n * tags);
  const t0 = Date.parse('2024-03-04T00:00:00Z');
  for (let i = 0; i < n; i++) {
    ts[i] = t0 + i * 300_000;
    for (let k = 0; k < tags; k++) v[i * tags + k] = 60 + 10 * Math.sin(i * 0.01 + k) + (k === 0 ? 20 : 0);
  }
  return { ts, v };
}

async function stagePhase(s: Subject, windows = WINDOWS): Promise<{ rate: number; perCpu: number }> {
  const cfg = configFor(s);
  const n = windows + cfg.input.window - 1;
  const { ts, v } = rowsFor(s.tags.length, n);
  const F = s.tags.length;
  // the batches are built before the clock starts: the stage is measured, not the making of samples
  const batches: SampleBatch[] = [];
  for (let i = 0; i < n; i += 12) {
    const batch: SampleBatch = { source: 'm', receivedAt: Date.now(), samples: [] };
    for (let r = i; r < Math.min(i + 12, n); r++) {
      for (let k = F - 1; k >= 0; k--) batch.samples.push({ source: 'm', tag: s.tags[k]!, ts: ts[r]!, value: v[r * F + k]!, quality: 'good' });
    }
    batches.push(batch);
  }
  const outbox = new MemoryOutbox();
  const stage = createModelStage(cfg, outbox, testContext(s.dir));
  await stage.start();
  const assembled = (): number => (stage.probe().details!.assembler as { windows: number }).windows;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  try {
    for (let b = 0; b < batches.length; b++) {
      stage.offer(batches[b]!);
      if (b % 100 === 0) {
        const behind = assembled() - outbox.predictions.length;
        if (behind > BACKLOG) await outbox.waitFor(assembled() - BACKLOG / 4, 120_000);
        else await new Promise((r) => setImmediate(r));
      }
    }
    await outbox.waitFor(assembled(), 120_000);
  } finally {
    await stage.stop(10_000);
  }
  // CPU of the whole process (main thread and workers): what a window costs, whatever the load
  const cpu = process.cpuUsage(cpu0);
  const n2 = outbox.predictions.length;
  return { rate: n2 / ((performance.now() - t0) / 1000), perCpu: n2 / ((cpu.user + cpu.system) / 1e6) };
}

async function directPhase(s: Subject): Promise<number> {
  const cfg = configFor(s);
  const width = rowDims(cfg)[0]!;
  const session = await ort.InferenceSession.create(join(s.dir, 'model.onnx'), { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const x = Float32Array.from({ length: 256 * width }, (_, i) => 60 + Math.sin(i * 0.01));
  if (cfg.input.calendar) for (let r = 0; r < 256; r++) { x[r * width + width - 2] = 10; x[r * width + width - 1] = 2; }
  const t0 = performance.now();
  let rows = 0;
  while (rows < WINDOWS) {
    await session.run({ window: new ort.Tensor('float32', x, [256, width]) });
    rows += 256;
  }
  const rate = rows / ((performance.now() - t0) / 1000);
  await session.release();
  return rate;
}

const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const k = (x: number): string => `${(x / 1000).toFixed(1)}k`;

const tmp = tempDir('fg-bench-fitted-');
try {
  const data = join(tmp.dir, 'machine.csv');
  synthesize(data, 8 * 7 * 288);
  const table = readTable(data);
  const normalTo = Date.parse('2024-02-12T00:00:00Z');
  const subjects: Subject[] = [{ name: 'reference', dir: join(ROOT, 'models/nab-machine-temp'), tags: ['temperature'] }];
  {
    // the reference model as it was before summary inputs: the same fit in raw-window form
    const nab = readTable(join(ROOT, 'deploy/examples/nab/machine_temperature_system_failure.csv'));
    const r = fit(nab, { name: 'nab-machine-temp', normalTo: parseTimestamp('2013-12-10T06:25'), form: 'window' });
    const dir = join(tmp.dir, 'reference-raw');
    writeModelDir(dir, r, modelMeta(r, 'nab-machine-temp', 'bench'), true);
    subjects.push({ name: 'reference-raw', dir, tags: ['temperature'] });
    console.log(`reference-raw: window ${r.input.window} x 1 tag, raw-window input, sha256 ${createHash('sha256').update(r.onnx).digest('hex').slice(0, 16)}... (the reference model committed before summary inputs: e6bab085f40e4832...)`);
  }
  for (const [name, window, form] of [['fitted-3x72', 72, 'summary'], ['fitted-3x288', undefined, 'summary'], ['fitted-3x288-raw', undefined, 'window']] as const) {
    const r = fit(table, { name, normalTo, window, form });
    const dir = join(tmp.dir, name);
    writeModelDir(dir, r, modelMeta(r, name, 'bench'), true);
    subjects.push({ name, dir, tags: table.columns });
    console.log(`${name}: window ${r.input.window} x ${table.columns.length} tags, calendar ${r.report.calendar.on ? `${r.report.calendar.buckets} buckets` : 'off'}, ${r.input.summary ? `summary input (recent ${r.input.summary.recent})` : 'raw-window input'}`);
  }
  console.log(`bench:inference (fitted models): ${WINDOWS} windows per phase, ${ROUNDS} rounds, 2 workers, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const stage: Record<string, number[]> = {};
  const perCpu: Record<string, number[]> = {};
  const direct: Record<string, number[]> = {};
  // warm-up, untimed: the first phase of a run would otherwise pay for compiling the stage's code
  for (const s of subjects) await stagePhase(s, 5_000);
  for (let round = 0; round < ROUNDS; round++) {
    const order = subjects.map((_, i) => subjects[(i + round) % subjects.length]!).filter((s) => !process.env.BENCH_ONLY || s.name === process.env.BENCH_ONLY);
    for (const s of order) {
      const r = await stagePhase(s);
      (stage[s.name] ??= []).push(r.rate);
      (perCpu[s.name] ??= []).push(r.perCpu);
      (direct[s.name] ??= []).push(await directPhase(s));
    }
  }
  const best = (xs: number[]): number => Math.max(...xs);
  console.log('\nmodel            stage windows/s (best, rounds)          direct session.run b256   stage/direct');
  for (const s of subjects.filter((x) => stage[x.name])) {
    console.log(`${s.name.padEnd(16)} ${k(best(stage[s.name]!)).padEnd(8)} (${stage[s.name]!.map(k).join(', ')})`.padEnd(57) +
      ` ${k(best(direct[s.name]!)).padEnd(25)} ${(best(stage[s.name]!) / best(direct[s.name]!)).toFixed(2)}x`);
  }
  for (const refName of ['reference', 'reference-raw']) {
    const ref = stage[refName] ?? [];
    console.log(`\nagainst ${refName}:`);
    for (const s of subjects.filter((x) => x.name.startsWith('fitted') && stage[x.name] && ref.length)) {
      const perRound = stage[s.name]!.map((x, i) => x / ref[i]!);
      const ratio = best(stage[s.name]!) / best(ref);
      const cpuRatio = median(perCpu[s.name]!) / median(perCpu[refName]!);
      console.log(`  ${s.name} / ${refName}: windows/s best/best ${ratio.toFixed(2)}x, median of rounds ${median(perRound).toFixed(2)}x; windows per CPU-second (median) ${k(median(perCpu[s.name]!))} vs ${k(median(perCpu[refName]!))} = ${cpuRatio.toFixed(2)}x (target >= 0.8x: ${ratio >= 0.8 ? 'met' : 'MISSED'} by best/best, ${median(perRound) >= 0.8 ? 'met' : 'MISSED'} by median, ${cpuRatio >= 0.8 ? 'met' : 'MISSED'} by CPU)`);
    }
  }
  console.log(`load average at the end ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
} finally {
  tmp.cleanup();
}
