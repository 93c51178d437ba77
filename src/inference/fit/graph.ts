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
  /**
   * summary form (input.summary): the input carries per feature the window's mean, shift and std dev of
   * the raw values (3F values, statistic-major) instead of W x F raw values; see summaryStats
   */
  summary?: boolean;
  /** the window carries a baseline (F partial sums and their weight) after the calendar: level is measured against it */
  baseline?: boolean;
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
 *   summary form (input.summary, what model fit writes): [batch, 3F (+2 calendar) (+F+1 baseline)]
 *   -> (x - centre) * invScale on the mean, shift and std dev the assembler computed -> level, shift,
 *      spread of every feature in robust units (see summaryStats)
 *
 *   raw-window form: [batch, W*F (+2 calendar values) (+F+1 baseline values)]
 *   -> x - centre (per position; 0 for the calendar and baseline columns)
 *   -> MatMul with [width, 2F] (invScale folded in, 0 rows for the extra columns) -> level (mean) and
 *      shift (recent mean - mean) of every feature, in robust units
 *      MatMul of the squares with [width, F] -> mean square; spread = sqrt(relu(meansq - level^2))
 *   with a baseline (F + 1 values after the calendar: partial sums m and weight w of an average started
 *   at the centre): level -= (m - w * centre) * invScale, the baseline in normalised units
 *   -> stats [batch, 3F], statistic-major (level of every feature, then shift, then spread)
 *   -> minus the calendar bucket's profile (Gather by hour-of-week), times invSigma = z [batch, S]
 *   -> score = max |z| / limit  [batch, 1]
 */
export function encodeProfileModel(m: ProfileModel): Uint8Array {
  const F = m.features;
  const S = F * STATS.length;
  const calendar = m.bucketOfHour !== undefined;
  const values = m.summary ? S : m.window * F;
  const width = values + (calendar ? 2 : 0) + (m.baseline ? F + 1 : 0);
  const { inits, nodes } = m.summary ? summaryStats(m, width) : windowStats(m, width);
  scoreFromStats(m, inits, nodes, values);
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

/**
 * Summary form: the assembler hands [mean_f..., shift_f..., std_f...] of the raw values (computed in
 * float64 as running sums, see src/inference/summary.ts), so the statistics in robust units are one
 * elementwise pass: (x - [centre, 0, 0]) * [invScale, invScale, invScale] -> level, shift, spread.
 * Its cost does not grow with the window.
 */
function summaryStats(m: ProfileModel, width: number): { inits: Initializer[]; nodes: NodeSpec[] } {
  const F = m.features;
  const S = F * STATS.length;
  const centre = new Float32Array(S);
  const scale = new Float32Array(S);
  for (let f = 0; f < F; f++) {
    centre[f] = m.centre[f]!;
    for (let k = 0; k < STATS.length; k++) scale[k * F + f] = m.invScale[f]!;
  }
  const inits: Initializer[] = [
    { name: 'centre', dims: [S], data: centre },
    { name: 'inv_scale', dims: [S], data: scale },
    { name: 'inv_sigma', dims: [S], data: m.invSigma },
    { name: 'inv_limit', dims: [], data: [1 / m.limit] },
  ];
  const nodes: NodeSpec[] = [];
  let raw = 'window';
  if (width > S) {
    // calendar and/or baseline values follow the statistics (no unused initializers otherwise: onnxruntime warns)
    inits.push(
      { name: 'axis1', dims: [1], data: [1], int64: true },
      { name: 'stats_start', dims: [1], data: [0], int64: true },
      { name: 'stats_end', dims: [1], data: [S], int64: true },
    );
    nodes.push({ op: 'Slice', inputs: ['window', 'stats_start', 'stats_end', 'axis1'], outputs: ['raw_stats'] });
    raw = 'raw_stats';
  }
  nodes.push(
    { op: 'Sub', inputs: [raw, 'centre'], outputs: ['stats_c'] },
    { op: 'Mul', inputs: ['stats_c', 'inv_scale'], outputs: [m.baseline ? 'stats_all' : 'stats'] },
  );
  if (m.baseline) {
    // level is measured against the baseline: split it off, correct it, put it back
    inits.push({ name: 'lvl_end', dims: [1], data: [F], int64: true });
    nodes.push(
      { op: 'Slice', inputs: ['stats_all', 'stats_start', 'lvl_end', 'axis1'], outputs: ['level'] },
      { op: 'Slice', inputs: ['stats_all', 'lvl_end', 'stats_end', 'axis1'], outputs: ['shift_spread'] },
    );
    baselineLevel(m, S, inits, nodes);
    nodes.push({ op: 'Concat', inputs: ['level_rel', 'shift_spread'], outputs: ['stats'], attrs: { axis: 1 } });
  }
  return { inits, nodes };
}

/** with a baseline (F + 1 values after the calendar): level_rel = level - (m - w * centre) * invScale */
function baselineLevel(m: ProfileModel, values: number, inits: Initializer[], nodes: NodeSpec[]): void {
  const F = m.features;
  const b0 = values + (m.bucketOfHour !== undefined ? 2 : 0);
  inits.push(
    { name: 'base_start', dims: [1], data: [b0], int64: true },
    { name: 'base_end', dims: [1], data: [b0 + F], int64: true },
    { name: 'weight_end', dims: [1], data: [b0 + F + 1], int64: true },
    { name: 'centre_f', dims: [F], data: m.centre },
    { name: 'inv_scale_f', dims: [F], data: m.invScale },
  );
  nodes.push(
    { op: 'Slice', inputs: ['window', 'base_start', 'base_end', 'axis1'], outputs: ['base_sum'] },
    { op: 'Slice', inputs: ['window', 'base_end', 'weight_end', 'axis1'], outputs: ['base_weight'] },
    { op: 'Mul', inputs: ['base_weight', 'centre_f'], outputs: ['base_wc'] },
    { op: 'Sub', inputs: ['base_sum', 'base_wc'], outputs: ['base_dev'] },
    { op: 'Mul', inputs: ['base_dev', 'inv_scale_f'], outputs: ['base_z'] },
    { op: 'Sub', inputs: ['level', 'base_z'], outputs: ['level_rel'] },
  );
}

/** Raw-window form: the statistics from the W x F values, as two MatMuls over the whole window row. */
function windowStats(m: ProfileModel, width: number): { inits: Initializer[]; nodes: NodeSpec[] } {
  const W = m.window;
  const F = m.features;
  const S = F * STATS.length;

  // time-major rows: value of feature f at time t sits at t*F + f. Every statistic is one dense
  // MatMul over the whole window row (no Transpose: that was half the run time at 288 x 3). The
  // columns after the values (calendar, baseline) get weight 0, so the window needs no Slice copy, and
  // the scale is folded into the weights: two elementwise passes (centre, square) instead of four.
  const lin = new Float32Array(width * 2 * F);
  const meanW = new Float32Array(width * F);
  const centreWide = new Float32Array(width);
  for (let t = 0; t < W; t++) {
    for (let f = 0; f < F; f++) {
      const row = t * F + f;
      const sc = m.invScale[f]!;
      lin[row * 2 * F + f] = sc / W;
      lin[row * 2 * F + F + f] = sc * ((t >= W - m.recent ? 1 / m.recent : 0) - 1 / W);
      meanW[row * F + f] = (sc * sc) / W;
      centreWide[row] = m.centre[f]!;
    }
  }
  const inits: Initializer[] = [
    { name: 'axis1', dims: [1], data: [1], int64: true },
    { name: 'centre', dims: [width], data: centreWide },
    { name: 'lin', dims: [width, 2 * F], data: lin },
    { name: 'mean_w', dims: [width, F], data: meanW },
    { name: 'lvl_start', dims: [1], data: [0], int64: true },
    { name: 'lvl_end', dims: [1], data: [F], int64: true },
    { name: 'shf_end', dims: [1], data: [2 * F], int64: true },
    { name: 'inv_sigma', dims: [S], data: m.invSigma },
    { name: 'inv_limit', dims: [], data: [1 / m.limit] },
  ];
  const nodes: NodeSpec[] = [
    { op: 'Sub', inputs: ['window', 'centre'], outputs: ['values_c'] },
    { op: 'MatMul', inputs: ['values_c', 'lin'], outputs: ['lin_stats'] },
    { op: 'Mul', inputs: ['values_c', 'values_c'], outputs: ['c_sq'] },
    { op: 'MatMul', inputs: ['c_sq', 'mean_w'], outputs: ['mean_sq'] },
    { op: 'Slice', inputs: ['lin_stats', 'lvl_start', 'lvl_end', 'axis1'], outputs: ['level'] },
    { op: 'Slice', inputs: ['lin_stats', 'lvl_end', 'shf_end', 'axis1'], outputs: ['shift'] },
    { op: 'Mul', inputs: ['level', 'level'], outputs: ['level_sq'] },
    { op: 'Sub', inputs: ['mean_sq', 'level_sq'], outputs: ['var_raw'] },
    { op: 'Relu', inputs: ['var_raw'], outputs: ['var'] },
    { op: 'Sqrt', inputs: ['var'], outputs: ['spread'] },
  ];
  let levelOut = 'level';
  if (m.baseline) {
    baselineLevel(m, W * F, inits, nodes);
    levelOut = 'level_rel';
  }
  nodes.push({ op: 'Concat', inputs: [levelOut, 'shift', 'spread'], outputs: ['stats'], attrs: { axis: 1 } });
  return { inits, nodes };
}

/** stats [batch, 3F] -> minus the calendar bucket's profile, times invSigma = z -> score = max |z| / limit */
function scoreFromStats(m: ProfileModel, inits: Initializer[], nodes: NodeSpec[], values: number): void {
  const S = m.features * STATS.length;
  if (m.bucketOfHour !== undefined) {
    inits.push(
      { name: 'shape_flat', dims: [2], data: [0, -1], int64: true },
      { name: 'cal_start', dims: [1], data: [values], int64: true },
      { name: 'cal_end', dims: [1], data: [values + 2], int64: true },
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
}
