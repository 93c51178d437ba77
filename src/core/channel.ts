import { FgError } from './errors.ts';

/**
 * What a full channel does with the next value.
 * - block: the sender waits (backpressure); nothing is lost.
 * - drop-oldest: the oldest queued value is dropped to make room.
 * - drop-newest: the value being sent is dropped.
 * - conflate: at most one queued value per key; a newer value replaces the queued one in
 *   place (or is merged into it, with `merge`). If the channel is full of other keys, the
 *   oldest is dropped.
 */
export type WhenFull = 'block' | 'drop-oldest' | 'drop-newest' | 'conflate';
export const WHEN_FULL = ['block', 'drop-oldest', 'drop-newest', 'conflate'] as const satisfies readonly WhenFull[];

export type DropReason = 'oldest' | 'newest' | 'conflated';

export interface ChannelOptions<T> {
  name: string;
  capacity: number;
  whenFull: WhenFull;
  /** key for `conflate` (e.g. the tag of a sample) */
  keyOf?: (value: T) => string;
  /**
   * for `conflate`: what a newer value of a queued key becomes (default: the newer value). A
   * batch of values merges so that no value of the queued batch missing from the newer is lost.
   */
  merge?: (queued: T, newer: T) => T;
  /** bound on senders waiting under `block`; a send beyond it throws (default 1024) */
  maxBlockedSenders?: number;
}

export interface ChannelStats {
  name: string;
  whenFull: WhenFull;
  depth: number;
  capacity: number;
  /** values accepted into the channel (dropped-newest values are not counted here) */
  sent: number;
  received: number;
  dropped: Record<DropReason, number>;
  /** milliseconds senders spent waiting under `block`, summed */
  blockedMs: number;
  /** senders waiting right now */
  blockedSenders: number;
  closed: boolean;
}

interface BlockedSender<T> {
  value: T;
  resolve: () => void;
  reject: (e: unknown) => void;
  since: number;
  signal?: AbortSignal;
  onAbort?: () => void;
}

type Waiter = () => void;

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * A bounded ring buffer between two stages. `T` excludes undefined: `undefined` is what
 * `tryRecv` returns when empty and what `recv` returns once the channel is closed and drained.
 */
export class Channel<T extends {} | null> implements AsyncIterable<T> {
  readonly name: string;
  readonly capacity: number;
  readonly whenFull: WhenFull;
  private readonly buf: (T | undefined)[];
  private head = 0;
  private size = 0;
  private readonly keyOf?: (value: T) => string;
  private readonly merge?: (queued: T, newer: T) => T;
  /** conflate only: key -> absolute position (head-relative sequence) of the queued value */
  private readonly slots?: Map<string, number>;
  private readonly slotKeys?: (string | undefined)[];
  private readonly maxBlocked: number;
  private blocked: BlockedSender<T>[] = [];
  private blockedHead = 0;
  private readers: Waiter[] = [];
  private _closed = false;
  /** open and not conflating: trySend may take the hot path */
  private plain: boolean;
  /** mirrors of `readers.length > 0` and of blocked senders waiting, read on every send/recv */
  private hasReaders = false;
  private hasBlocked = false;
  /** hasBlocked or conflating: tryRecv has more to do than take the value (one load on the hot path) */
  private recvSlow = false;
  private receivedCount = 0;
  private readonly droppedCount: Record<DropReason, number> = { oldest: 0, newest: 0, conflated: 0 };
  private blockedMsTotal = 0;

  constructor(opts: ChannelOptions<T>) {
    if (!Number.isInteger(opts.capacity) || opts.capacity < 1) {
      throw new RangeError(`channel ${opts.name}: capacity must be a positive integer, got ${opts.capacity}`);
    }
    if (opts.whenFull === 'conflate' && !opts.keyOf) {
      throw new TypeError(`channel ${opts.name}: conflate needs keyOf`);
    }
    this.name = opts.name;
    this.capacity = opts.capacity;
    this.whenFull = opts.whenFull;
    this.buf = new Array<T | undefined>(opts.capacity);
    this.maxBlocked = opts.maxBlockedSenders ?? 1024;
    this.plain = opts.whenFull !== 'conflate';
    if (opts.whenFull === 'conflate') {
      this.keyOf = opts.keyOf;
      this.merge = opts.merge;
      this.slots = new Map();
      this.slotKeys = new Array<string | undefined>(opts.capacity);
      this.recvSlow = true;
    }
  }

  get depth(): number {
    return this.size;
  }

  get closed(): boolean {
    return this._closed;
  }

  /**
   * Offers a value without waiting. Returns false only when the channel is full under `block`
   * (the value was not taken). Under the drop policies it always returns true: the drop is counted.
   */
  trySend(value: T): boolean {
    // hot path kept small so it inlines: room, open, no conflation
    if (this.plain && this.size < this.capacity) {
      let idx = this.head + this.size;
      if (idx >= this.capacity) idx -= this.capacity;
      this.buf[idx] = value;
      this.size++;
      if (this.hasReaders) this.wakeReaders();
      return true;
    }
    return this.trySendSlow(value);
  }

  private trySendSlow(value: T): boolean {
    if (this._closed) throw closedError(this.name);
    if (this.whenFull === 'conflate') return this.sendConflate(value);
    if (this.size < this.capacity) {
      this.push(value);
      return true;
    }
    switch (this.whenFull) {
      case 'block':
        return false;
      case 'drop-newest':
        this.droppedCount.newest++;
        return true;
      default: // drop-oldest
        this.shift();
        this.droppedCount.oldest++;
        this.push(value);
        return true;
    }
  }

  /** Sends a value; the promise waits only when the channel is full under `block`. */
  send(value: T, signal?: AbortSignal): Promise<void> {
    if (this.trySend(value)) return RESOLVED;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.blocked.length - this.blockedHead >= this.maxBlocked) {
      return Promise.reject(
        new FgError('FG_E_CHANNEL_OVERSUBSCRIBED', `channel ${this.name}: more than ${this.maxBlocked} senders blocked`),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const s: BlockedSender<T> = { value, resolve, reject, since: performance.now(), signal };
      if (signal) {
        s.onAbort = () => {
          const i = this.blocked.indexOf(s, this.blockedHead);
          if (i >= 0) this.blocked.splice(i, 1);
          this.setBlocked(this.blocked.length > this.blockedHead);
          this.blockedMsTotal += performance.now() - s.since;
          reject(signal.reason);
        };
        signal.addEventListener('abort', s.onAbort, { once: true });
      }
      this.blocked.push(s);
      this.setBlocked(true);
    });
  }

  /** Takes a value if one is queued; undefined when empty. */
  tryRecv(): T | undefined {
    if (this.size === 0) return undefined;
    const h = this.head;
    const v = this.buf[h];
    this.buf[h] = undefined;
    this.head = h + 1 === this.capacity ? 0 : h + 1;
    this.size--;
    this.receivedCount++;
    if (this.recvSlow) {
      if (this.slots !== undefined) this.forgetSlot(h);
      if (this.hasBlocked) this.admitBlocked();
    }
    return v;
  }

  private setBlocked(b: boolean): void {
    this.hasBlocked = b;
    this.recvSlow = b || this.slots !== undefined;
  }

  /**
   * Takes up to `max` queued values at once (a consumer that can handle a burst pays one call).
   */
  drain(max = Infinity, into: T[] = []): T[] {
    while (into.length < max && this.size > 0) {
      into.push(this.shift() as T);
      this.receivedCount++;
      if (this.hasBlocked) this.admitBlocked();
    }
    return into;
  }

  /** Waits for a value; resolves undefined once the channel is closed and drained. */
  recv(signal?: AbortSignal): Promise<T | undefined> {
    const v = this.tryRecv();
    if (v !== undefined || this._closed) return Promise.resolve(v);
    return this.readable(signal).then(() => this.tryRecv());
  }

  /**
   * Resolves when a value is queued or the channel is closed (it does not take the value),
   * so a consumer can drain synchronously with tryRecv/drain afterwards. Rejects on abort.
   */
  readable(signal?: AbortSignal): Promise<void> {
    if (this.size > 0 || this._closed) return RESOLVED;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      this.hasReaders = true;
      if (!signal) {
        this.readers.push(resolve);
        return;
      }
      const waiter: Waiter = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        const i = this.readers.indexOf(waiter);
        if (i >= 0) this.readers.splice(i, 1);
        this.hasReaders = this.readers.length > 0;
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.readers.push(waiter);
    });
  }

  /**
   * Calls `cb` once when a value is queued or the channel closes (at once, synchronously, if
   * either is already true). Returns a function that cancels the registration. For consumers
   * that wait on many channels at once without an AbortSignal listener per channel.
   */
  onReadable(cb: () => void): () => void {
    if (this.size > 0 || this._closed) {
      cb();
      return noop;
    }
    this.readers.push(cb);
    this.hasReaders = true;
    return () => {
      const i = this.readers.indexOf(cb);
      if (i >= 0) this.readers.splice(i, 1);
      this.hasReaders = this.readers.length > 0;
    };
  }

  /**
   * Closes the channel: queued values stay readable, waiting receivers finish (they get
   * undefined once drained), blocked senders are rejected, later sends throw FG_E_CHANNEL_CLOSED.
   */
  close(): void {
    if (this._closed) return;
    this._closed = true;
    this.plain = false;
    const blocked = this.blocked.slice(this.blockedHead);
    this.blocked = [];
    this.blockedHead = 0;
    this.setBlocked(false);
    for (const s of blocked) {
      if (s.onAbort) s.signal?.removeEventListener('abort', s.onAbort);
      this.blockedMsTotal += performance.now() - s.since;
      s.reject(closedError(this.name));
    }
    this.wakeReaders();
  }

  stats(): ChannelStats {
    return {
      name: this.name,
      whenFull: this.whenFull,
      depth: this.size,
      capacity: this.capacity,
      // every accepted value is received, queued, or dropped later (oldest/conflated)
      sent: this.receivedCount + this.size + this.droppedCount.oldest + this.droppedCount.conflated,
      received: this.receivedCount,
      dropped: { ...this.droppedCount },
      blockedMs: this.blockedMsTotal,
      blockedSenders: this.blocked.length - this.blockedHead,
      closed: this._closed,
    };
  }

  /**
   * Async iteration until the channel is closed and drained. Hand-written rather than an async
   * generator: a generator costs several promises per value, this one a single resolved one.
   */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    const done: IteratorReturnResult<undefined> = { done: true, value: undefined };
    const next = (): Promise<IteratorResult<T>> => {
      const v = this.tryRecv();
      if (v !== undefined) return Promise.resolve({ done: false, value: v });
      if (this._closed) return Promise.resolve(done);
      return this.readable().then(next);
    };
    return { next };
  }

  // ---- internals -------------------------------------------------------------------------

  private push(value: T): void {
    let idx = this.head + this.size;
    if (idx >= this.capacity) idx -= this.capacity;
    this.buf[idx] = value;
    this.size++;
    if (this.hasReaders) this.wakeReaders();
  }

  private shift(): T | undefined {
    const v = this.buf[this.head];
    this.buf[this.head] = undefined;
    if (this.slots) this.forgetSlot(this.head);
    this.head = this.head + 1 === this.capacity ? 0 : this.head + 1;
    this.size--;
    return v;
  }

  private forgetSlot(at: number): void {
    const k = this.slotKeys![at];
    if (k !== undefined) {
      this.slots!.delete(k);
      this.slotKeys![at] = undefined;
    }
  }

  private sendConflate(value: T): boolean {
    const key = this.keyOf!(value);
    const at = this.slots!.get(key);
    if (at !== undefined) {
      this.buf[at] = this.merge ? this.merge(this.buf[at] as T, value) : value;
      this.droppedCount.conflated++;
      return true;
    }
    if (this.size === this.capacity) {
      this.shift();
      this.droppedCount.oldest++;
    }
    const idx = (this.head + this.size) % this.capacity;
    this.slots!.set(key, idx);
    this.slotKeys![idx] = key;
    this.push(value);
    return true;
  }

  private admitBlocked(): void {
    while (this.size < this.capacity && this.blocked.length > this.blockedHead) {
      const s = this.blocked[this.blockedHead]!;
      this.blocked[this.blockedHead] = undefined as unknown as BlockedSender<T>;
      this.blockedHead++;
      if (this.blockedHead > 1024 && this.blockedHead * 2 > this.blocked.length) {
        this.blocked = this.blocked.slice(this.blockedHead);
        this.blockedHead = 0;
      }
      if (s.onAbort) s.signal?.removeEventListener('abort', s.onAbort);
      this.blockedMsTotal += performance.now() - s.since;
      this.push(s.value);
      s.resolve();
    }
    this.setBlocked(this.blocked.length > this.blockedHead);
  }

  private wakeReaders(): void {
    const rs = this.readers;
    this.readers = [];
    this.hasReaders = false;
    for (const r of rs) r();
  }
}

function noop(): void {}

function closedError(name: string): FgError {
  return new FgError('FG_E_CHANNEL_CLOSED', `channel ${name} is closed`);
}
