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
  /** run the batches of a group as one session.run when the batch dimension is dynamic */
  merge: boolean;
  /** niceness of the worker thread (Linux: per thread), 0 leaves it as is */
  nice: number;
}

/** one batch of a run message: its input is `rows` x row size values of the group's data from `offset` */
export interface RunJob {
  id: number;
  rows: number;
  offset: number;
}

/** how one batch of a group ended; outputs are in the group's concatenated buffers */
export interface JobOutcome {
  id: number;
  computeMs: number;
  /** per output name (in `outputNames` order), how many values this batch holds; absent on error */
  lengths?: number[];
  error?: string;
}

export type ToWorker =
  /**
   * Several batches in one message: per message costs (wake-up, clone) are shared, which is most of
   * the cost for small models. The worker answers each group with one 'done' message.
   */
  | { t: 'run'; jobs: RunJob[]; data: Float32Array }
  /** release the session and exit (sent only between runs: see pool.ts) */
  | { t: 'close' }
  /** exit with this code, as a crashing worker would, at once or on receiving the next run (crash tests) */
  | { t: 'crash'; code: number; when?: 'now' | 'next-run' };

export type FromWorker =
  | { t: 'ready'; signature: Signature }
  | { t: 'load-error'; message: string; signature?: Signature }
  /**
   * A whole group: outputs concatenated per output name in job order (errored jobs hold none), the
   * group's input buffer back for reuse, and `runs`, the session.run calls it took (fewer when merged).
   */
  | { t: 'done'; jobs: JobOutcome[]; outputs: Record<string, Float32Array>; input: ArrayBuffer; runs: number };
