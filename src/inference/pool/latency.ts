/** The last `size` batch latencies (ms) in a ring, and their p99. */
export class LatencyWindow {
  private readonly ring: Float64Array;
  private count = 0;

  constructor(size = 256) {
    this.ring = new Float64Array(size);
  }

  add(ms: number): void {
    this.ring[this.count++ % this.ring.length] = ms;
  }

  /** p99 of the latencies held, 0 before any. */
  p99(): number {
    const n = Math.min(this.count, this.ring.length);
    if (n === 0) return 0;
    const s = Array.from(this.ring.subarray(0, n)).sort((a, b) => a - b);
    return s[Math.min(n - 1, Math.floor(0.99 * n))]!;
  }
}
