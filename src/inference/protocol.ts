/** Messages between the pool (main thread) and an inference worker. */

export interface TensorMeta {
  name: string;
  /** 'float32', 'int64', ... or 'non-tensor' */
  type: string;
  /** numbers for fixed dimensions, strings (or -1) for dynamic ones; empty when unknown */
  shape: (number | string)[];
}

export interface Signature {
  inputs: TensorMeta[];
  outputs: TensorMeta[];
}

export interface WorkerInit {
  modelPath: string;
  intraOpNumThreads: number;
  inputName: string;
  /** per-window dimensions after the batch dimension, e.g. [288] or [64, 3] */
  rowDims: number[];
  outputNames: string[];
}

export type ToWorker =
  | { t: 'run'; id: number; rows: number; data: Float32Array }
  /** release the session and exit (sent only between runs: see pool.ts) */
  | { t: 'close' }
  /** exit with this code, as a crashing worker would, at once or on receiving the next run (crash tests) */
  | { t: 'crash'; code: number; when?: 'now' | 'next-run' };

export type FromWorker =
  | { t: 'ready'; signature: Signature }
  | { t: 'load-error'; message: string; signature?: Signature }
  | { t: 'ok'; id: number; outputs: Record<string, Float32Array>; computeMs: number }
  | { t: 'run-error'; id: number; message: string };
