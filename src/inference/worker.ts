import { parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import type { FromWorker, Signature, TensorMeta, ToWorker, WorkerInit } from './protocol.ts';

/**
 * One inference worker: owns one onnxruntime session and runs it off the main thread.
 * Inputs arrive as transferred Float32Arrays; outputs go back transferred.
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

let session: ort.InferenceSession;
try {
  session = await ort.InferenceSession.create(init.modelPath, {
    intraOpNumThreads: init.intraOpNumThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
} catch (e) {
  post({ t: 'load-error', message: e instanceof Error ? e.message : String(e) });
  process.exit(0);
}
const signature: Signature = { inputs: meta(session.inputMetadata), outputs: meta(session.outputMetadata) };
post({ t: 'ready', signature });

// a fixed batch dimension of 1 means one run per window; anything else is micro-batched
const input = signature.inputs.find((t) => t.name === init.inputName);
const mode: 'batch' | 'single' = input && input.shape[0] === 1 ? 'single' : 'batch';
const rowSize = init.rowDims.reduce((a, b) => a * b, 1);

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
  const t0 = performance.now();
  runBatch(msg.rows, msg.data).then(
    (outputs) => {
      const transfer = Object.values(outputs).map((o) => o.buffer as ArrayBuffer);
      post({ t: 'ok', id: msg.id, outputs, computeMs: performance.now() - t0 }, transfer);
    },
    (e: unknown) => post({ t: 'run-error', id: msg.id, message: e instanceof Error ? e.message : String(e) }),
  );
});
