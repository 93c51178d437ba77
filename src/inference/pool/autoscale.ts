/**
 * Autoscaling and pipeline depth as pure functions of numbers: the pool feeds them its state and
 * acts on the answer, so the policy is tested with numbers alone (autoscale.test.ts).
 */

/**
 * Batches a worker holds (running or queued in it) adapt to the model's speed: about this much
 * queued compute per worker, so a worker never idles waiting for the round trip to the main
 * thread, yet a slow model does not hoard work that could still be dropped by its deadline.
 */
export const PIPELINE_MS = 2;
export const MIN_DEPTH = 2;
export const MAX_DEPTH = 32;

/** Batches each worker may hold: `fixed` when set, else about PIPELINE_MS of compute (2..32). */
export function pipelineDepth(computeAvgMs: number, fixed?: number): number {
  if (fixed !== undefined) return fixed;
  if (computeAvgMs <= 0) return MIN_DEPTH;
  return Math.max(MIN_DEPTH, Math.min(MAX_DEPTH, Math.ceil(PIPELINE_MS / computeAvgMs)));
}

export interface ScaleInput {
  /** workers running now (not retiring) */
  workers: number;
  min: number;
  max: number;
  /** batches waiting: upstream queue plus the pool's own queue */
  backlog: number;
  /** batches given to workers and not answered */
  inFlight: number;
  /** batches each worker may hold */
  perWorker: number;
  /** p99 of recent batch latencies (ms) */
  p99: number;
  targetP99Ms: number;
  /** ms since the last scaling decision, and the least time between two */
  sinceLastMs: number;
  cooldownMs: number;
}

export interface ScaleDecision {
  to: number;
  why: string;
}

/**
 * One worker more when the backlog exceeds what the workers hold or the p99 is over target; one
 * less when nothing waits, the rest could hold what is in flight at half depth and the p99 is
 * under half the target. Never outside [min, max], never twice within the cooldown.
 */
export function decideScale(s: ScaleInput): ScaleDecision | undefined {
  if (s.sinceLastMs < s.cooldownMs) return undefined;
  const n = s.workers;
  const held = n * s.perWorker;
  if (n < s.max && (s.backlog > held || s.p99 > s.targetP99Ms)) {
    return { to: n + 1, why: s.backlog > held ? `backlog ${s.backlog}` : `p99 ${s.p99.toFixed(1)} ms > ${s.targetP99Ms} ms` };
  }
  if (n > s.min && s.backlog === 0 && s.inFlight <= (n - 1) * s.perWorker / 2 && s.p99 < s.targetP99Ms / 2) {
    return { to: n - 1, why: 'idle' };
  }
  return undefined;
}
