import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import type { FromWorker, JobOutcome, RunJob, Signature, TensorMeta, ToWorker, WorkerInit } from './protocol.ts';
import { errorMessage } from '../core/errors.ts';

/**
 * One inference worker: owns one onnxruntime session and runs it off the main thread.
 * Inputs arrive as transferred Float32Arrays, several batches a message; outputs go back transferred,
 * one message per group.
 */
const init = workerData as WorkerInit;
const port = parentPort!;

function meta(list: readonly ort.InferenceSession.ValueMetadata[]): TensorMeta[] {
  return list.map((m) => (m.isTensor ? { name: m.name, type: m.type, shape: [...m.shape] } : { name: m.name, type: 'non-tensor', shape: [] }));
}

function post(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

/** An output buffer we own outright can be transferred; one that views shared memory is copied. */
function owned(data: Float32Array): Float32Array {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer ? data : data.slice();
}

// Below the main thread's priority: when cores are short, the event loop (ingestion, I/O) runs first
// and inference takes what is left. Linux applies niceness per thread; elsewhere this is skipped.
if (init.nice > 0) {
  try {
    setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), init.nice);
  } catch {
    // no /proc or not permitted: run at the process's priority
  }
}

let session: ort.InferenceSession;
try {
  session = await ort.InferenceSession.create(init.modelPath, {
    intraOpNumThreads: init.intraOpNumThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
} catch (e) {
  post({ t: 'load-error', message: errorMessage(e) });
  process.exit(0);
}
const signature: Signature = { inputs: meta(session.inputMetadata), outputs: meta(session.outputMetadata) };
post({ t: 'ready', signature });

// a fixed batch dimension of 1 means one run per window; anything else is micro-batched
const input = signature.inputs.find((t) => t.name === init.inputName);
const mode: 'batch' | 'single' = input && input.shape[0] === 1 ? 'single' : 'batch';
const rowSize = init.rowDims.reduce((a, b) => a * b, 1);
/**
 * Merging the batches of a group into one run needs a dynamic batch dimension; it stays on while
 * every output comes back with one leading row per input row (checked on every merged run).
 */
let merge = init.merge && mode === 'batch' && input !== undefined && (typeof input.shape[0] !== 'number' || input.shape[0] < 0);

async function runBatch(rows: number, data: Float32Array): Promise<Record<string, Float32Array>> {
  if (mode === 'batch') {
    const out = await session.run({ [init.inputName]: new ort.Tensor('float32', data, [rows, ...init.rowDims]) }, init.outputNames);
    const res: Record<string, Float32Array> = {};
    for (const name of init.outputNames) res[name] = owned(out[name]!.data as Float32Array);
    return res;
  }
  // fixed batch dimension of 1: one run per window, outputs concatenated
  const parts: Record<string, Float32Array[]> = {};
  for (const name of init.outputNames) parts[name] = [];
  for (let r = 0; r < rows; r++) {
    const x = data.subarray(r * rowSize, (r + 1) * rowSize);
    const out = await session.run({ [init.inputName]: new ort.Tensor('float32', x, [1, ...init.rowDims]) }, init.outputNames);
    for (const name of init.outputNames) parts[name]!.push(out[name]!.data as Float32Array);
  }
  const res: Record<string, Float32Array> = {};
  for (const name of init.outputNames) {
    const ps = parts[name]!;
    const all = new Float32Array(ps.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of ps) {
      all.set(p, at);
      at += p.length;
    }
    res[name] = all;
  }
  return res;
}

/**
 * Runs a group's batches, which lie back to back in `data`, as one session.run: for a small model
 * most of a run's cost is per call, not per row. Rows must be independent (as micro-batching
 * already assumes). Falls back to one run per batch on any surprise, so results and errors stay
 * exactly per batch. Returns undefined when it did not run.
 */
async function runMerged(jobs: RunJob[], data: Float32Array): Promise<{ outcomes: JobOutcome[]; outputs: Record<string, Float32Array> } | undefined> {
  let rows = 0;
  for (const job of jobs) {
    if (job.offset !== rows * rowSize) return undefined;
    rows += job.rows;
  }
  const t0 = performance.now();
  let out: ort.InferenceSession.OnnxValueMapType;
  try {
    out = await session.run({ [init.inputName]: new ort.Tensor('float32', data.subarray(0, rows * rowSize), [rows, ...init.rowDims]) }, init.outputNames);
  } catch {
    return undefined; // run them one by one: the failing batch gets its own error
  }
  const ms = performance.now() - t0;
  const outputs: Record<string, Float32Array> = {};
  const perRow: number[] = [];
  for (const name of init.outputNames) {
    const t = out[name] as ort.Tensor | undefined;
    if (!t || t.dims[0] !== rows || !(t.data instanceof Float32Array)) {
      merge = false; // this model does not map rows to rows: never merge again
      return undefined;
    }
    outputs[name] = owned(t.data);
    perRow.push(t.data.length / rows);
  }
  const outcomes = jobs.map((job) => ({ id: job.id, computeMs: (ms * job.rows) / rows, lengths: perRow.map((n) => n * job.rows) }));
  return { outcomes, outputs };
}

/** Runs one group (merged, or batch by batch in order) and answers it with one message. */
async function runGroup(jobs: RunJob[], data: Float32Array): Promise<void> {
  const merged = merge && jobs.length > 1 ? await runMerged(jobs, data) : undefined;
  if (merged) return reply(merged.outcomes, merged.outputs, data, 1);
  const outcomes: JobOutcome[] = [];
  const parts: Float32Array[][] = init.outputNames.map(() => []);
  for (const job of jobs) {
    const t0 = performance.now();
    try {
      const outputs = await runBatch(job.rows, data.subarray(job.offset, job.offset + job.rows * rowSize));
      const lengths = init.outputNames.map((name, k) => {
        const o = outputs[name]!;
        parts[k]!.push(o);
        return o.length;
      });
      outcomes.push({ id: job.id, computeMs: performance.now() - t0, lengths });
    } catch (e) {
      outcomes.push({ id: job.id, computeMs: performance.now() - t0, error: errorMessage(e) });
    }
  }
  const outputs: Record<string, Float32Array> = {};
  init.outputNames.forEach((name, k) => (outputs[name] = concat(parts[k]!)));
  reply(outcomes, outputs, data, mode === 'batch' ? jobs.length : jobs.reduce((n, j) => n + j.rows, 0));
}

function reply(outcomes: JobOutcome[], outputs: Record<string, Float32Array>, data: Float32Array, runs: number): void {
  // the group's input buffer goes back too: the pool reuses it for a later group instead of allocating
  const input = data.buffer as ArrayBuffer;
  const transfer = [input];
  for (const [name, o] of Object.entries(outputs)) {
    // an output that views the input (an identity graph) must not be overwritten by the next group
    if (o.buffer === input) outputs[name] = o.slice();
    if (outputs[name]!.buffer instanceof ArrayBuffer && !transfer.includes(outputs[name]!.buffer as ArrayBuffer)) transfer.push(outputs[name]!.buffer as ArrayBuffer);
  }
  post({ t: 'done', jobs: outcomes, outputs, input, runs }, transfer);
}

function concat(ps: Float32Array[]): Float32Array {
  if (ps.length === 1) return owned(ps[0]!);
  const all = new Float32Array(ps.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of ps) {
    all.set(p, at);
    at += p.length;
  }
  return all;
}

// groups run one after another: session.run is synchronous native work behind a setImmediate
const groups: { jobs: RunJob[]; data: Float32Array }[] = [];
let running = false;
async function drain(): Promise<void> {
  running = true;
  while (groups.length > 0) {
    const g = groups.shift()!;
    await runGroup(g.jobs, g.data);
  }
  running = false;
}

let crashOnRun: number | undefined;
port.on('message', (msg: ToWorker) => {
  if (msg.t === 'crash') {
    if (msg.when === 'next-run') crashOnRun = msg.code;
    else process.exit(msg.code);
    return;
  }
  if (crashOnRun !== undefined) process.exit(crashOnRun);
  if (msg.t === 'close') {
    void session.release().finally(() => process.exit(0));
    return;
  }
  groups.push({ jobs: msg.jobs, data: msg.data });
  if (!running) void drain();
});
