/** A fixed-size ring: keeps the latest `capacity` items, oldest overwritten first. */
export class Ring<T> {
  private readonly buf: (T | undefined)[];
  private next = 0;
  private count = 0;
  private total = 0;

  constructor(readonly capacity: number) {
    this.buf = new Array<T | undefined>(capacity);
  }

  push(item: T): void {
    this.buf[this.next] = item;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
    this.total++;
  }

  /** items ever pushed, including the ones overwritten */
  get pushed(): number {
    return this.total;
  }

  get size(): number {
    return this.count;
  }

  /** oldest first */
  toArray(): T[] {
    const out: T[] = new Array<T>(this.count);
    const start = (this.next - this.count + this.capacity) % this.capacity;
    for (let i = 0; i < this.count; i++) out[i] = this.buf[(start + i) % this.capacity]!;
    return out;
  }
}
