/**
 * Running statistics of a sliding window, per feature, for summary-form model inputs (input.summary):
 * the window's mean, its shift (mean of the last `recent` rows minus the mean) and its standard
 * deviation (population), updated in O(features) per row instead of handing the model every value.
 *
 * Float64 throughout, and centred: the sums are of x - K, K a per-feature anchor (the exact window
 * mean at the last exact pass). Raw sums would not do: a temperature near 85 with a spread of 2 has
 * sum of squares / W - mean^2 = 7229 - 7225, which float32 cannot resolve at all and float64 resolves
 * only to ~1e-12 relative per update, drifting over months. The anchored sums stay near zero, so the
 * rounding per update is eps x (spread + drift since the anchor)^2, and an exact two-pass
 * recomputation (O(W x F), once per W rows: O(F) per row amortised) resets both anchor and error, so
 * the error never accumulates beyond W updates however long the stage runs.
 */
export const SUMMARY_STATS = 3;

export class WindowSummary {
  /** ring of the window's rows, row-major: slot r holds feature f at r * features + f */
  private readonly ring: Float64Array;
  private head = 0; // slot the next row goes into (the oldest row once full)
  private filled = 0;
  private readonly anchor: Float64Array;
  /** per feature: sum of (x - K), sum of (x - K)^2 over the window, sum of (x - K) over the recent rows */
  private readonly s: Float64Array;
  private readonly q: Float64Array;
  private readonly r: Float64Array;
  /** the sums are valid (no non-finite row entered since the last exact pass) */
  private exact = false;
  /** incremental updates since the last exact pass */
  private updates = 0;

  constructor(readonly window: number, readonly features: number, readonly recent: number) {
    if (!(recent >= 1 && recent <= window)) throw new RangeError(`recent (${recent}) must be in 1..window (${window})`);
    this.ring = new Float64Array(window * features);
    this.anchor = new Float64Array(features);
    this.s = new Float64Array(features);
    this.q = new Float64Array(features);
    this.r = new Float64Array(features);
  }

  get full(): boolean {
    return this.filled === this.window;
  }

  /** Value of feature f in the oldest row (the one the next push replaces); meaningful once full. */
  oldest(f: number): number {
    return this.ring[this.head * this.features + f]!;
  }

  /** Adds a row (values[0..features)); the oldest row leaves once the window is full. NaN allowed (a bad row). */
  push(values: ArrayLike<number>): void {
    const F = this.features;
    const at = this.head * F;
    if (this.exact && this.filled === this.window) {
      const leave = ((this.head - this.recent + this.window) % this.window) * F;
      let check = 0;
      for (let f = 0; f < F; f++) {
        const k = this.anchor[f]!;
        const dn = values[f]! - k;
        const dold = this.ring[at + f]! - k;
        const dl = this.ring[leave + f]! - k;
        this.s[f]! += dn - dold;
        this.q[f]! += dn * dn - dold * dold;
        this.r[f]! += dn - dl;
        check += dn;
      }
      // a non-finite value makes the sums NaN: recomputed once the window is clean again
      if (++this.updates >= this.window || !Number.isFinite(check)) this.exact = false;
    } else {
      this.exact = false;
    }
    for (let f = 0; f < F; f++) this.ring[at + f] = values[f]!;
    this.head = this.head + 1 === this.window ? 0 : this.head + 1;
    if (this.filled < this.window) this.filled++;
  }

  /**
   * Writes [mean of every feature, shift of every feature, std dev of every feature] into out at k.
   * The window must be full; a window holding a non-finite value gives NaN.
   */
  write(out: Float32Array | Float64Array, k: number): void {
    const F = this.features;
    const W = this.window;
    const R = this.recent;
    if (!this.exact || this.updates >= W) this.recompute();
    for (let f = 0; f < F; f++) {
      const m = this.s[f]! / W;
      out[k + f] = this.anchor[f]! + m;
      out[k + F + f] = this.r[f]! / R - m;
      out[k + 2 * F + f] = Math.sqrt(Math.max(0, this.q[f]! / W - m * m));
    }
  }

  /** Two passes over the ring: the exact mean becomes the anchor, then the centred sums. */
  private recompute(): void {
    const F = this.features;
    const W = this.window;
    const firstRecent = (this.head - this.recent + W) % W;
    let check = 0;
    for (let f = 0; f < F; f++) {
      let sum = 0;
      for (let t = 0; t < W; t++) sum += this.ring[t * F + f]!;
      const k = sum / W;
      let s = 0, q = 0, r = 0;
      for (let t = 0; t < W; t++) {
        const d = this.ring[t * F + f]! - k;
        s += d;
        q += d * d;
      }
      for (let j = 0, t = firstRecent; j < this.recent; j++, t = t + 1 === W ? 0 : t + 1) r += this.ring[t * F + f]! - k;
      this.anchor[f] = k;
      this.s[f] = s;
      this.q[f] = q;
      this.r[f] = r;
      check += q;
    }
    this.exact = Number.isFinite(check);
    this.updates = 0;
  }
}
