/** Small numeric helpers for the fit: robust location/scale, quantiles. Float64 throughout. */

export function median(xs: ArrayLike<number>): number {
  return quantile(xs, 0.5);
}

/** The q-quantile (linear interpolation between order statistics); NaN for an empty input. */
export function quantile(xs: ArrayLike<number>, q: number): number {
  const n = xs.length;
  if (n === 0) return NaN;
  const s = Float64Array.from(xs).sort();
  const pos = Math.min(1, Math.max(0, q)) * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

/** 1.4826 * median absolute deviation: the standard deviation for normal data, unmoved by outliers. */
export function madScale(xs: ArrayLike<number>, centre = median(xs)): number {
  const d = new Float64Array(xs.length);
  for (let i = 0; i < xs.length; i++) d[i] = Math.abs(xs[i]! - centre);
  return 1.4826 * median(d);
}

export function std(xs: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < xs.length; i++) m += xs[i]!;
  m /= xs.length || 1;
  let v = 0;
  for (let i = 0; i < xs.length; i++) v += (xs[i]! - m) ** 2;
  return Math.sqrt(v / (xs.length || 1));
}

/** Between-group share of the variance (eta squared) of values grouped by integer keys. */
export function etaSquared(values: ArrayLike<number>, groups: ArrayLike<number>, nGroups: number): number {
  const sum = new Float64Array(nGroups);
  const cnt = new Float64Array(nGroups);
  let total = 0;
  for (let i = 0; i < values.length; i++) {
    sum[groups[i]!]! += values[i]!;
    cnt[groups[i]!]!++;
    total += values[i]!;
  }
  const mean = total / values.length;
  let between = 0;
  let all = 0;
  for (let g = 0; g < nGroups; g++) if (cnt[g]! > 0) between += cnt[g]! * (sum[g]! / cnt[g]! - mean) ** 2;
  for (let i = 0; i < values.length; i++) all += (values[i]! - mean) ** 2;
  return all > 0 ? between / all : 0;
}
