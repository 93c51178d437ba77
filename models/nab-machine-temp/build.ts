/**
 * Builds the reference anomaly model: a linear autoencoder (PCA) over one day of machine
 * temperature, fitted on the NAB series, written as ONNX with protobufjs.
 *
 *   node --import tsx models/nab-machine-temp/build.ts
 *
 * Writes model.onnx and model.yaml beside this file. Deterministic: same data, same bytes.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { encodeModel, type Initializer, type NodeSpec } from '../../src/inference/onnx-graph.ts';
import { loadMachineTemperature, windowOf } from './nab.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
/** 288 samples at 5 min = 24 h: shutdowns and slow failures last hours, a day sees them whole */
export const WINDOW = 288;
/** averaged in blocks of 4 (20 min) before the autoencoder: noise out, 72 dimensions left */
const POOL = 4;
const DIMS = WINDOW / POOL;
/** components kept; the first is the day's level, which carries the labelled failures */
const K = 1;
/** the score is 1.0 at the 99.9th percentile of the training scores */
const QUANTILE = 0.999;

/** Eigen-decomposition of a symmetric matrix (cyclic Jacobi); fine for 72x72. */
function eigenSymmetric(m: number[][]): { values: number[]; vectors: number[][] } {
  const n = m.length;
  const a = m.map((r) => r.slice());
  const v: number[][] = a.map((_, i) => a.map((__, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p]![q]! ** 2;
    if (off < 1e-20) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p]![q]!;
        if (Math.abs(apq) < 1e-18) continue;
        const theta = (a[q]![q]! - a[p]![p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k]![p]!, akq = a[k]![q]!;
          a[k]![p] = c * akp - s * akq;
          a[k]![q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p]![k]!, aqk = a[q]![k]!;
          a[p]![k] = c * apk - s * aqk;
          a[q]![k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k]![p]!, vkq = v[k]![q]!;
          v[k]![p] = c * vkp - s * vkq;
          v[k]![q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: a.map((r, i) => r[i]!), vectors: v };
}

function quantile(xs: number[], q: number): number {
  const s = xs.slice().sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

export function build(): { sha256: string; summary: Record<string, unknown> } {
  const { ts, values, windows } = loadMachineTemperature();

  // Training data: every sample and every window that does not touch a labelled anomaly window.
  const normal = values.filter((_, i) => windowOf(windows, ts[i]!) < 0);
  const mean = normal.reduce((s, x) => s + x, 0) / normal.length;
  const std = Math.sqrt(normal.reduce((s, x) => s + (x - mean) ** 2, 0) / normal.length);
  const z = values.map((x) => (x - mean) / std);
  const pooled = (end: number): number[] => {
    const f = new Array<number>(DIMS).fill(0);
    for (let d = 0; d < DIMS; d++) for (let j = 0; j < POOL; j++) f[d]! += z[end - WINDOW + 1 + d * POOL + j]! / POOL;
    return f;
  };
  const touchesLabel: boolean[] = ts.map((t) => windowOf(windows, t) >= 0);
  const rows: number[][] = [];
  let labelled = 0; // labelled samples inside the current window
  for (let e = 0; e < z.length; e++) {
    if (touchesLabel[e]) labelled++;
    if (e >= WINDOW && touchesLabel[e - WINDOW]) labelled--;
    if (e >= WINDOW - 1 && labelled === 0) rows.push(pooled(e));
  }

  const mu = new Array<number>(DIMS).fill(0);
  for (const r of rows) for (let j = 0; j < DIMS; j++) mu[j]! += r[j]! / rows.length;
  const cov = mu.map(() => new Array<number>(DIMS).fill(0));
  for (const r of rows) {
    for (let i = 0; i < DIMS; i++) {
      const di = r[i]! - mu[i]!;
      for (let j = i; j < DIMS; j++) cov[i]![j]! += (di * (r[j]! - mu[j]!)) / rows.length;
    }
  }
  for (let i = 0; i < DIMS; i++) for (let j = 0; j < i; j++) cov[i]![j] = cov[j]![i]!;
  const { values: ev, vectors } = eigenSymmetric(cov);
  const order = ev.map((e, i) => [e, i] as const).sort((x, y) => y[0] - x[0]).slice(0, K);
  // sign convention: each component points towards a higher sum, so the bytes are reproducible
  const comps = order.map(([, k]) => {
    const col = vectors.map((row) => row[k]!);
    const sgn = col.reduce((s, x) => s + x, 0) >= 0 ? 1 : -1;
    return col.map((x) => x * sgn);
  });
  const lambdas = order.map(([e]) => e);

  const parts = (r: number[]): [number, number] => {
    const c = r.map((x, j) => x - mu[j]!);
    const codes = comps.map((v) => c.reduce((s, x, j) => s + x * v[j]!, 0));
    const t2 = codes.reduce((s, x, q) => s + (x * x) / lambdas[q]!, 0);
    let spe = 0;
    for (let j = 0; j < DIMS; j++) {
      let rec = 0;
      for (let q = 0; q < K; q++) rec += codes[q]! * comps[q]![j]!;
      spe += (c[j]! - rec) ** 2;
    }
    return [t2, spe / DIMS];
  };
  const trainParts = rows.map(parts);
  const t2Limit = quantile(trainParts.map((p) => p[0]), QUANTILE);
  const speLimit = quantile(trainParts.map((p) => p[1]), QUANTILE);

  // ---- the graph: score = max(T2 / t2Limit, SPE / speLimit), all MatMul/Sub/Mul/Max ----
  const poolM = new Float32Array(WINDOW * DIMS);
  for (let i = 0; i < WINDOW; i++) poolM[i * DIMS + Math.floor(i / POOL)] = 1 / POOL;
  const vk = new Float32Array(DIMS * K);
  const vkT = new Float32Array(K * DIMS);
  for (let q = 0; q < K; q++) {
    for (let j = 0; j < DIMS; j++) {
      vk[j * K + q] = comps[q]![j]!;
      vkT[q * DIMS + j] = comps[q]![j]!;
    }
  }
  const inits: Initializer[] = [
    { name: 'pool', dims: [WINDOW, DIMS], data: poolM },
    { name: 'mu', dims: [DIMS], data: mu },
    { name: 'components', dims: [DIMS, K], data: vk },
    { name: 'components_t', dims: [K, DIMS], data: vkT },
    { name: 'inv_lambda', dims: [K, 1], data: lambdas.map((l) => 1 / l) },
    { name: 'mean_dims', dims: [DIMS, 1], data: new Array<number>(DIMS).fill(1 / DIMS) },
    { name: 'inv_t2_limit', dims: [], data: [1 / t2Limit] },
    { name: 'inv_spe_limit', dims: [], data: [1 / speLimit] },
  ];
  const nodes: NodeSpec[] = [
    { op: 'MatMul', inputs: ['window', 'pool'], outputs: ['pooled'] },
    { op: 'Sub', inputs: ['pooled', 'mu'], outputs: ['centred'] },
    { op: 'MatMul', inputs: ['centred', 'components'], outputs: ['code'] },
    { op: 'Mul', inputs: ['code', 'code'], outputs: ['code_sq'] },
    { op: 'MatMul', inputs: ['code_sq', 'inv_lambda'], outputs: ['t2'] },
    { op: 'MatMul', inputs: ['code', 'components_t'], outputs: ['reconstruction'] },
    { op: 'Sub', inputs: ['centred', 'reconstruction'], outputs: ['residual'] },
    { op: 'Mul', inputs: ['residual', 'residual'], outputs: ['residual_sq'] },
    { op: 'MatMul', inputs: ['residual_sq', 'mean_dims'], outputs: ['spe'] },
    { op: 'Mul', inputs: ['t2', 'inv_t2_limit'], outputs: ['t2_scaled'] },
    { op: 'Mul', inputs: ['spe', 'inv_spe_limit'], outputs: ['spe_scaled'] },
    { op: 'Max', inputs: ['t2_scaled', 'spe_scaled'], outputs: ['score'] },
  ];
  const bytes = encodeModel({
    name: 'nab_machine_temp',
    doc: 'Linear autoencoder (PCA) anomaly score over 24 h of machine temperature; score >= 1 is anomalous.',
    inputs: [{ name: 'window', elem: 'float', shape: ['batch', WINDOW] }],
    outputs: [
      { name: 'score', elem: 'float', shape: ['batch', 1] },
      { name: 't2', elem: 'float', shape: ['batch', 1] },
      { name: 'spe', elem: 'float', shape: ['batch', 1] },
    ],
    initializers: inits,
    nodes,
    metadata: { source: 'NAB realKnownCause/machine_temperature_system_failure.csv (MIT)' },
  });
  writeFileSync(HERE + 'model.onnx', bytes);
  const sha256 = createHash('sha256').update(bytes).digest('hex');

  const r6 = (x: number) => Number(x.toPrecision(6));
  const summary = {
    trainingSamples: normal.length,
    trainingWindows: rows.length,
    eigenvalues: ev.slice().sort((x, y) => y - x).slice(0, 4).map(r6),
    t2Limit: r6(t2Limit),
    speLimit: r6(speLimit),
  };
  const doc = {
    name: 'nab-machine-temp',
    description: 'Anomaly score for one machine temperature, 5-minute samples, 24 h window. Generated by build.ts: do not edit.',
    file: 'model.onnx',
    sha256,
    input: {
      name: 'window', elementType: 'float32', shape: ['batch', WINDOW], window: WINDOW, stride: 1, layout: 'flat',
      features: [{ tag: 'temperature', normalise: { mean: r6(mean), std: r6(std) } }],
    },
    outputs: [
      { name: 'score', elementType: 'float32', shape: ['batch', 1], meaning: 'max(t2/t2Limit, spe/speLimit): >= 1 is anomalous' },
      { name: 't2', elementType: 'float32', shape: ['batch', 1], meaning: 'Hotelling T2 of the day along the fitted component (level)' },
      { name: 'spe', elementType: 'float32', shape: ['batch', 1], meaning: 'mean squared reconstruction error (shape)' },
    ],
    thresholds: [{ field: 'score', above: 1, clear: 0.7, severity: 'warning', kind: 'anomaly' }],
    fit: { data: 'NAB machine_temperature_system_failure.csv, samples and windows outside the labelled windows', quantile: QUANTILE, ...summary },
  };
  writeFileSync(HERE + 'model.yaml', stringify(doc, { lineWidth: 120 }));
  return { sha256, summary };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { sha256, summary } = build();
  console.log(`wrote ${HERE}model.onnx sha256=${sha256}`);
  console.log(summary);
}
