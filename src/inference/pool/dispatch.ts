import { FgError } from '../../core/errors.ts';
import type { RunJob } from '../protocol.ts';
import type { BufferPool } from './buffers.ts';

/**
 * Writes a batch's input (`rows` x row size values) into `into`, a view into the buffer its group
 * travels in, or returns a Float32Array of that length (copied into the group buffer). `into` is
 * reused memory: a pack that writes into it must write every value.
 */
export type Pack = (into: Float32Array) => Float32Array | void;

export interface RunResult {
  outputs: Record<string, Float32Array>;
  /** time inside the worker */
  computeMs: number;
  /** time from dispatch to result, including queueing in the pool */
  latencyMs: number;
}

/** One batch waiting for, or given to, a worker. */
export interface Job {
  rows: number;
  /** builds the input anew for every attempt: the previous buffer was transferred away */
  pack: Pack;
  attempt: number;
  queuedAt: number;
  resolve: (r: RunResult) => void;
  reject: (e: unknown) => void;
}

/** What dispatch needs to know of a worker. */
export interface Target {
  ready: boolean;
  retiring: boolean;
  generation: number;
  inFlight: { readonly size: number };
}

/** The ready worker of `generation` holding the fewest batches, if one holds fewer than `depth`. */
export function leastLoaded<T extends Target>(targets: Iterable<T>, generation: number, depth: number): T | undefined {
  let best: T | undefined;
  for (const s of targets) {
    if (!s.ready || s.retiring || s.generation !== generation || s.inFlight.size >= depth) continue;
    if (!best || s.inFlight.size < best.inFlight.size) best = s;
  }
  return best;
}

/** Groups of at most half the depth: a worker answers one group while it runs the next. */
export function groupSize(depth: number): number {
  return Math.max(1, Math.floor(depth / 2));
}

export interface PackedGroup {
  /** every packed input, back to back, in one (usually reused) buffer */
  data: Float32Array;
  /** the jobs packed, with where their rows start in `data` */
  jobs: RunJob[];
  /** jobs whose pack threw or returned the wrong length: not sent */
  failed: { id: number; error: unknown }[];
}

/**
 * Packs one group's inputs, right before transfer, into one buffer (one allocation, usually none
 * thanks to the spare buffers, and one transfer).
 */
export function packGroup(entries: readonly { id: number; job: Job }[], rowSize: number, buffers: BufferPool, name: string): PackedGroup {
  let total = 0;
  for (const e of entries) total += e.job.rows * rowSize;
  const data = new Float32Array(buffers.take(total * 4), 0, total);
  const jobs: RunJob[] = [];
  const failed: { id: number; error: unknown }[] = [];
  let at = 0;
  for (const { id, job } of entries) {
    const into = data.subarray(at, at + job.rows * rowSize);
    try {
      const out = job.pack(into);
      if (out !== undefined && out !== into) {
        if (out.length !== into.length) throw new FgError('FG_E_MODEL_RUN', `${name}: batch input holds ${out.length} values, expected ${into.length}`);
        into.set(out);
      }
    } catch (error) {
      failed.push({ id, error });
      continue;
    }
    jobs.push({ id, rows: job.rows, offset: at });
    at += into.length;
  }
  return { data, jobs, failed };
}

/**
 * One answered job's outputs as views into the group's output buffers (no copy per batch).
 * `offsets` (one per output name) advance past this job's values.
 */
export function sliceOutputs(names: readonly string[], outputs: Record<string, Float32Array>, lengths: readonly number[], offsets: number[]): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (let k = 0; k < names.length; k++) {
    const len = lengths[k]!;
    const name = names[k]!;
    out[name] = outputs[name]!.subarray(offsets[k]!, offsets[k]! + len);
    offsets[k]! += len;
  }
  return out;
}
