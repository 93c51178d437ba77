import { encodeModel, type Initializer, type NodeSpec } from '../onnx-graph.ts';

/** What the fitted graph needs; see fit.ts for how each number is obtained. */
export interface ProfileModel {
  name: string;
  doc: string;
  window: number;
  features: number;
  /** rows averaged for the "recent" part of the shift statistic */
  recent: number;
  /** per feature: robust centre and 1/scale of the raw values */
  centre: number[];
  invScale: number[];
  /** calendar: bucket of each hour of the week (168 entries, Monday 00:00 first); absent: no calendar */
  bucketOfHour?: number[];
  /** [buckets][stats] expected statistic per calendar bucket (one bucket without calendar) */
  profile: number[][];
  /** [stats] 1 / robust scale of each statistic's deviation from its profile */
  invSigma: number[];
  /** score = max |z| / limit */
  limit: number;
  metadata: Record<string, string>;
}

export const STATS = ['level', 'shift', 'spread'] as const;

/**
 * The scoring graph, in ops every onnxruntime build has (opset 17):
 *
 *   raw window [batch, W*F (+2 calendar values)]
 *   -> Slice [batch, W*F], (x - centre) * invScale (tiled per position)      robust normalisation
 *   -> MatMul with [W*F, 2F] -> level (mean) and shift (recent mean - mean) of every feature
 *      MatMul of the squares with [W*F, F] -> mean square; spread = sqrt(relu(meansq - level^2))
 *   -> stats [batch, 3F], statistic-major (level of every feature, then shift, then spread)
 *   -> minus the calendar bucket's profile (Gather by hour-of-week), times invSigma = z [batch, S]
 *   -> score = max |z| / limit  [batch, 1]
 */
export function encodeProfileModel(m: ProfileModel): Uint8Array {
  const W = m.window;
  const F = m.features;
  const S = F * STATS.length;
  const calendar = m.bucketOfHour !== undefined;
  const width = W * F + (calendar ? 2 : 0);

  // time-major rows: value of feature f at time t sits at t*F + f. Every statistic is one dense
  // MatMul over the flat window (no Transpose: that was half the run time at 288 x 3).
  const WF = W * F;
  const lin = new Float32Array(WF * 2 * F);
  const meanW = new Float32Array(WF * F);
  const centreTiled = new Float32Array(WF);
  const invScaleTiled = new Float32Array(WF);
  for (let t = 0; t < W; t++) {
    for (let f = 0; f < F; f++) {
      const row = t * F + f;
      lin[row * 2 * F + f] = 1 / W;
      lin[row * 2 * F + F + f] = (t >= W - m.recent ? 1 / m.recent : 0) - 1 / W;
      meanW[row * F + f] = 1 / W;
      centreTiled[row] = m.centre[f]!;
      invScaleTiled[row] = m.invScale[f]!;
    }
  }
  const inits: Initializer[] = [
    { name: 'values_start', dims: [1], data: [0], int64: true },
    { name: 'values_end', dims: [1], data: [WF], int64: true },
    { name: 'axis1', dims: [1], data: [1], int64: true },
    { name: 'centre', dims: [WF], data: centreTiled },
    { name: 'inv_scale', dims: [WF], data: invScaleTiled },
    { name: 'lin', dims: [WF, 2 * F], data: lin },
    { name: 'mean_w', dims: [WF, F], data: meanW },
    { name: 'lvl_start', dims: [1], data: [0], int64: true },
    { name: 'lvl_end', dims: [1], data: [F], int64: true },
    { name: 'shf_end', dims: [1], data: [2 * F], int64: true },
    { name: 'inv_sigma', dims: [S], data: m.invSigma },
    { name: 'inv_limit', dims: [], data: [1 / m.limit] },
  ];
  const nodes: NodeSpec[] = [
    { op: 'Slice', inputs: ['window', 'values_start', 'values_end', 'axis1'], outputs: ['values'] },
    { op: 'Sub', inputs: ['values', 'centre'], outputs: ['values_c'] },
    { op: 'Mul', inputs: ['values_c', 'inv_scale'], outputs: ['z_rows'] },
    { op: 'MatMul', inputs: ['z_rows', 'lin'], outputs: ['lin_stats'] },
    { op: 'Mul', inputs: ['z_rows', 'z_rows'], outputs: ['z_sq'] },
    { op: 'MatMul', inputs: ['z_sq', 'mean_w'], outputs: ['mean_sq'] },
    { op: 'Slice', inputs: ['lin_stats', 'lvl_start', 'lvl_end', 'axis1'], outputs: ['level'] },
    { op: 'Slice', inputs: ['lin_stats', 'lvl_end', 'shf_end', 'axis1'], outputs: ['shift'] },
    { op: 'Mul', inputs: ['level', 'level'], outputs: ['level_sq'] },
    { op: 'Sub', inputs: ['mean_sq', 'level_sq'], outputs: ['var_raw'] },
    { op: 'Relu', inputs: ['var_raw'], outputs: ['var'] },
    { op: 'Sqrt', inputs: ['var'], outputs: ['spread'] },
    { op: 'Concat', inputs: ['level', 'shift', 'spread'], outputs: ['stats'], attrs: { axis: 1 } },
  ];
  if (calendar) {
    inits.push(
      { name: 'shape_flat', dims: [2], data: [0, -1], int64: true },
      { name: 'cal_start', dims: [1], data: [W * F], int64: true },
      { name: 'cal_end', dims: [1], data: [W * F + 2], int64: true },
      { name: 'hour_of_week_w', dims: [2, 1], data: [1, 24] },
      { name: 'bucket_of_hour', dims: [168], data: m.bucketOfHour!, int64: true },
      { name: 'profile', dims: [m.profile.length, S], data: m.profile.flat() },
    );
    nodes.push(
      { op: 'Slice', inputs: ['window', 'cal_start', 'cal_end', 'axis1'], outputs: ['cal'] },
      { op: 'MatMul', inputs: ['cal', 'hour_of_week_w'], outputs: ['how_f'] },
      { op: 'Cast', inputs: ['how_f'], outputs: ['how'], attrs: { to: 7 } },
      { op: 'Gather', inputs: ['bucket_of_hour', 'how'], outputs: ['bucket'], attrs: { axis: 0 } },
      { op: 'Gather', inputs: ['profile', 'bucket'], outputs: ['expected3'], attrs: { axis: 0 } },
      { op: 'Reshape', inputs: ['expected3', 'shape_flat'], outputs: ['expected'] },
    );
  } else {
    inits.push({ name: 'expected', dims: [S], data: m.profile[0]! });
  }
  nodes.push(
    { op: 'Sub', inputs: ['stats', 'expected'], outputs: ['dev'] },
    { op: 'Mul', inputs: ['dev', 'inv_sigma'], outputs: ['z'] },
    { op: 'Abs', inputs: ['z'], outputs: ['z_abs'] },
    { op: 'ReduceMax', inputs: ['z_abs'], outputs: ['z_max'], attrs: { axes: [1], keepdims: 1 } },
    { op: 'Mul', inputs: ['z_max', 'inv_limit'], outputs: ['score'] },
  );
  return encodeModel({
    name: m.name.replace(/[^A-Za-z0-9_]/g, '_'),
    doc: m.doc,
    inputs: [{ name: 'window', elem: 'float', shape: ['batch', width] }],
    outputs: [
      { name: 'score', elem: 'float', shape: ['batch', 1] },
      { name: 'z', elem: 'float', shape: ['batch', S] },
    ],
    initializers: inits,
    nodes,
    metadata: m.metadata,
  });
}
