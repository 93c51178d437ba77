/** group input buffers kept for reuse (each at most a group's size, rounded up to a power of two) */
export const SPARE_BUFFERS = 8;

/**
 * Input buffers returned by workers, reused by later groups: no allocation per group when busy.
 * A buffer is handed out whole (it travels to a worker by transfer) and comes back with its answer.
 */
export class BufferPool {
  private readonly spare: ArrayBuffer[] = [];

  constructor(private readonly keep = SPARE_BUFFERS) {}

  /** buffers held for reuse */
  get size(): number {
    return this.spare.length;
  }

  /** A spare buffer of at least `bytes`, or a new one rounded up to a power of two so it is reusable. */
  take(bytes: number): ArrayBuffer {
    for (let i = 0; i < this.spare.length; i++) {
      const b = this.spare[i]!;
      if (b.byteLength >= bytes) {
        this.spare.splice(i, 1);
        return b;
      }
    }
    return new ArrayBuffer(Math.max(1024, 2 ** Math.ceil(Math.log2(Math.max(1, bytes)))));
  }

  /** Keeps a returned buffer; when full, the smallest one makes room for a larger one. */
  give(b: ArrayBuffer): void {
    if (this.spare.length < this.keep) {
      this.spare.push(b);
      return;
    }
    let min = 0;
    for (let i = 1; i < this.spare.length; i++) if (this.spare[i]!.byteLength < this.spare[min]!.byteLength) min = i;
    if (this.spare[min]!.byteLength < b.byteLength) this.spare[min] = b;
  }
}
