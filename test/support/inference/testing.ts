/**
 * Helpers for the inference tests and benchmark: real ONNX models written on the fly, a stage
 * context, and an in-memory OutboxWriter that records what a model stage writes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Metrics } from '../../../src/core/metrics.ts';
import type { SampleBatch } from '../../../src/core/sample.ts';
import type { StageContext } from '../../../src/core/contracts.ts';
import { type ModelConfig, modelSchema } from '../../../src/inference/config.ts';
import { encodeModel, type Dim } from '../../../src/inference/onnx-graph.ts';
import { quietContext } from '../../../src/inference/fit/collect.ts';

export function tempDir(prefix = 'fg-inference-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * y = x . W + b with x [batch, inputs], y [batch, outputs]; W[i][j] = scale * ((i * 7 + j * 3) % 11 - 5) / 10.
 * `batch` as a string makes the batch dimension dynamic, 1 fixes it.
 */
export function linearModel(opts: { inputs: number; outputs: number; scale?: number; batch?: Dim; inputName?: string; outputName?: string }): Uint8Array {
  const { inputs, outputs } = opts;
  const scale = opts.scale ?? 1;
  const w = new Float32Array(inputs * outputs);
  for (let i = 0; i < inputs; i++) for (let j = 0; j < outputs; j++) w[i * outputs + j] = (scale * (((i * 7 + j * 3) % 11) - 5)) / 10;
  const b = Array.from({ length: outputs }, (_, j) => scale * (j + 1) * 0.25);
  const batch = opts.batch ?? 'batch';
  return encodeModel({
    name: 'linear',
    inputs: [{ name: opts.inputName ?? 'x', elem: 'float', shape: [batch, inputs] }],
    outputs: [{ name: opts.outputName ?? 'y', elem: 'float', shape: [batch, outputs] }],
    initializers: [{ name: 'W', dims: [inputs, outputs], data: w }, { name: 'b', dims: [outputs], data: b }],
    nodes: [
      { op: 'MatMul', inputs: [opts.inputName ?? 'x', 'W'], outputs: ['xw'] },
      { op: 'Add', inputs: ['xw', 'b'], outputs: [opts.outputName ?? 'y'] },
    ],
  });
}

/** The same function in plain JavaScript (float64), to check the pool's results. */
export function linearRef(x: Float32Array, inputs: number, outputs: number, scale = 1): Float64Array {
  const rows = x.length / inputs;
  const y = new Float64Array(rows * outputs);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < outputs; j++) {
      let s = (scale * (j + 1)) * 0.25;
      for (let i = 0; i < inputs; i++) s += x[r * inputs + i]! * ((scale * (((i * 7 + j * 3) % 11) - 5)) / 10);
      y[r * outputs + j] = s;
    }
  }
  return y;
}

/** A deliberately slow model (repeated 512x512 MatMuls), for crash-mid-batch tests: y [batch, 1]. */
export function slowModel(inputs: number, layers = 48): Uint8Array {
  const H = 512;
  const nodes = [{ op: 'MatMul', inputs: ['x', 'W0'], outputs: ['h0'] }];
  for (let l = 1; l <= layers; l++) nodes.push({ op: 'MatMul', inputs: [`h${l - 1}`, 'WH'], outputs: [`h${l}`] });
  nodes.push({ op: 'MatMul', inputs: [`h${layers}`, 'WO'], outputs: ['y'] });
  return encodeModel({
    name: 'slow',
    inputs: [{ name: 'x', elem: 'float', shape: ['batch', inputs] }],
    outputs: [{ name: 'y', elem: 'float', shape: ['batch', 1] }],
    initializers: [
      { name: 'W0', dims: [inputs, H], data: new Float32Array(inputs * H).fill(1 / inputs) },
      { name: 'WH', dims: [H, H], data: new Float32Array(H * H).fill(1 / H) },
      { name: 'WO', dims: [H, 1], data: new Float32Array(H).fill(1 / H) },
    ],
    nodes,
  });
}

export function writeModel(dir: string, name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

export { MemoryOutbox } from '../../../src/inference/fit/collect.ts';

export function testContext(dir: string): StageContext & { metrics: Metrics } {
  return quietContext(dir);
}

/** A parsed model config with test-friendly defaults. */
export function modelConfig(over: Record<string, unknown>): ModelConfig {
  return modelSchema.parse({
    id: 'm',
    path: 'model.onnx',
    input: { name: 'x', features: [{ tag: 'plant/a' }], window: 4 },
    outputs: [{ name: 'y' }],
    watch: false,
    ...over,
  });
}

/** One batch of samples of one tag, values and timestamps given. */
export function batchOf(source: string, tag: string, values: number[], t0: number, stepMs = 1000): SampleBatch {
  return {
    source,
    receivedAt: Date.now(),
    samples: values.map((v, i) => ({ source, tag, ts: t0 + i * stepMs, value: v, quality: 'good' as const })),
  };
}
