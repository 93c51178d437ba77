import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Channel, WHEN_FULL, type WhenFull } from '../../../src/core/channel.ts';
import { ReadableWatch, fanIn, select } from '../../../src/core/select.ts';
import { isFgError } from '../../../src/core/errors.ts';

interface Msg {
  key: string;
  seq: number;
}

function make(whenFull: WhenFull, capacity: number): Channel<Msg> {
  return new Channel<Msg>({ name: `t-${whenFull}`, capacity, whenFull, keyOf: (m) => m.key });
}

/** Ops a producer/consumer pair can interleave: send n messages, receive n messages. */
const opsArb = fc.array(
  fc.oneof(
    fc.record({ op: fc.constant('send' as const), n: fc.integer({ min: 1, max: 12 }), key: fc.integer({ min: 0, max: 4 }) }),
    fc.record({ op: fc.constant('recv' as const), n: fc.integer({ min: 1, max: 12 }) }),
  ),
  { maxLength: 60 },
);

// One contract suite, every policy through the same cases.
for (const policy of WHEN_FULL) {
  describe(`Channel contract: ${policy}`, () => {
    test('FIFO when never full, stats add up', async () => {
      const ch = make(policy, 8);
      for (let i = 0; i < 5; i++) await ch.send({ key: `k${i}`, seq: i });
      assert.equal(ch.depth, 5);
      const got: number[] = [];
      for (let i = 0; i < 5; i++) got.push((await ch.recv())!.seq);
      assert.deepEqual(got, [0, 1, 2, 3, 4]);
      const s = ch.stats();
      assert.equal(s.sent, 5);
      assert.equal(s.received, 5);
      assert.equal(s.depth, 0);
      assert.equal(s.capacity, 8);
    });

    test('a pending receiver gets the next value', async () => {
      const ch = make(policy, 2);
      const p = ch.recv();
      ch.trySend({ key: 'a', seq: 1 });
      assert.equal((await p)?.seq, 1);
    });

    test('close: queued values stay readable, pending receivers finish, later sends throw', async () => {
      const ch = make(policy, 4);
      ch.trySend({ key: 'a', seq: 1 });
      ch.close();
      assert.equal((await ch.recv())?.seq, 1);
      assert.equal(await ch.recv(), undefined);
      const waiting = make(policy, 4);
      const p = waiting.recv();
      waiting.close();
      assert.equal(await p, undefined);
      assert.throws(() => ch.trySend({ key: 'b', seq: 2 }), (e) => isFgError(e, 'FG_E_CHANNEL_CLOSED'));
      await assert.rejects(async () => ch.send({ key: 'b', seq: 2 }), (e) => isFgError(e, 'FG_E_CHANNEL_CLOSED'));
    });

    test('recv honours an abort signal', async () => {
      const ch = make(policy, 2);
      const ac = new AbortController();
      const p = ch.recv(ac.signal);
      ac.abort(new Error('stop'));
      await assert.rejects(p, /stop/);
      // the aborted waiter is gone: a later value goes to the next receiver
      ch.trySend({ key: 'a', seq: 7 });
      assert.equal((await ch.recv())?.seq, 7);
    });

    test('async iteration ends after close and drain', async () => {
      const ch = make(policy, 16);
      for (let i = 0; i < 3; i++) ch.trySend({ key: `k${i}`, seq: i });
      ch.close();
      const seen: number[] = [];
      for await (const m of ch) seen.push(m.seq);
      assert.deepEqual(seen, [0, 1, 2]);
    });

    test('property: accounting is exact under any interleaving', () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 8 }), opsArb, (capacity, ops) => {
          const ch = make(policy, capacity);
          let attempted = 0;
          let refused = 0;
          const received: Msg[] = [];
          const accepted: Msg[] = [];
          let seq = 0;
          for (const o of ops) {
            if (o.op === 'send') {
              for (let i = 0; i < o.n; i++) {
                const m = { key: `k${o.key}`, seq: seq++ };
                attempted++;
                if (ch.trySend(m)) accepted.push(m);
                else refused++;
              }
            } else {
              for (let i = 0; i < o.n; i++) {
                const m = ch.tryRecv();
                if (m) received.push(m);
              }
            }
          }
          const s = ch.stats();
          const dropped = s.dropped.oldest + s.dropped.newest + s.dropped.conflated;
          // every attempt is accounted for exactly once: received, still queued, dropped, or refused (block)
          assert.equal(received.length + s.depth + dropped + refused, attempted);
          assert.ok(s.depth <= capacity);
          // nothing is duplicated, and what comes out comes out in send order per key
          const seqs = received.map((m) => m.seq);
          assert.equal(new Set(seqs).size, seqs.length);
          const lastByKey = new Map<string, number>();
          for (const m of received) {
            assert.ok((lastByKey.get(m.key) ?? -1) < m.seq, 'per-key order');
            lastByKey.set(m.key, m.seq);
          }
          if (policy === 'block') {
            assert.equal(dropped, 0);
            // FIFO overall: received is exactly the accepted prefix
            assert.deepEqual(seqs, accepted.slice(0, received.length).map((m) => m.seq));
          }
          if (policy === 'drop-newest' || policy === 'drop-oldest') {
            assert.equal(refused, 0);
            assert.deepEqual([...seqs].sort((a, b) => a - b), seqs, 'FIFO among survivors');
          }
          if (policy === 'conflate') {
            // the newest value of every key is never lost while capacity covers the keys
            if (capacity >= 5 && s.dropped.oldest === 0) {
              const rest = ch.drain();
              const newest = new Map<string, number>();
              for (const m of accepted) newest.set(m.key, m.seq);
              const out = new Map<string, number>();
              for (const m of [...received, ...rest]) out.set(m.key, Math.max(out.get(m.key) ?? -1, m.seq));
              assert.deepEqual(out, newest);
            }
          }
        }),
        { numRuns: 300 },
      );
    });
  });
}

describe('block policy', () => {
  test('send waits while full and nothing is lost or reordered (async producer and consumer)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 0, max: 400 }), async (capacity, n) => {
        const ch = new Channel<number>({ name: 'b', capacity, whenFull: 'block' });
        const producer = (async () => {
          for (let i = 0; i < n; i++) await ch.send(i);
          ch.close();
        })();
        const got: number[] = [];
        for await (const v of ch) {
          got.push(v);
          if (v % 7 === 0) await new Promise((r) => setImmediate(r));
        }
        await producer;
        assert.deepEqual(got, Array.from({ length: n }, (_, i) => i));
        const s = ch.stats();
        assert.equal(s.sent, n);
        assert.equal(s.received, n);
      }),
      { numRuns: 60 },
    );
  });

  test('trySend refuses when full; blocked time is measured; close rejects blocked senders', async () => {
    const ch = new Channel<number>({ name: 'b', capacity: 1, whenFull: 'block' });
    assert.equal(ch.trySend(1), true);
    assert.equal(ch.trySend(2), false);
    const blocked = ch.send(3);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(ch.stats().blockedSenders, 1);
    assert.equal(ch.tryRecv(), 1);
    await blocked;
    assert.ok(ch.stats().blockedMs >= 15, `blockedMs ${ch.stats().blockedMs}`);
    const again = ch.send(4);
    ch.close();
    await assert.rejects(again, (e) => isFgError(e, 'FG_E_CHANNEL_CLOSED'));
  });

  test('a blocked send can be aborted and its value is not delivered', async () => {
    const ch = new Channel<number>({ name: 'b', capacity: 1, whenFull: 'block' });
    ch.trySend(1);
    const ac = new AbortController();
    const p = ch.send(2, ac.signal);
    ac.abort(new Error('deadline'));
    await assert.rejects(p, /deadline/);
    assert.equal(ch.tryRecv(), 1);
    assert.equal(ch.tryRecv(), undefined);
  });

  test('blocked senders are bounded', async () => {
    const ch = new Channel<number>({ name: 'b', capacity: 1, whenFull: 'block', maxBlockedSenders: 2 });
    ch.trySend(0);
    const a = ch.send(1);
    const b = ch.send(2);
    await assert.rejects(ch.send(3), (e) => isFgError(e, 'FG_E_CHANNEL_OVERSUBSCRIBED'));
    ch.drain();
    ch.drain();
    await Promise.all([a, b]);
  });
});

describe('drop and conflate policies', () => {
  test('drop-oldest keeps the newest values and counts', () => {
    const ch = new Channel<number>({ name: 'd', capacity: 3, whenFull: 'drop-oldest' });
    for (let i = 0; i < 10; i++) ch.trySend(i);
    assert.deepEqual(ch.drain(), [7, 8, 9]);
    assert.equal(ch.stats().dropped.oldest, 7);
  });

  test('drop-newest keeps the oldest values and counts', () => {
    const ch = new Channel<number>({ name: 'd', capacity: 3, whenFull: 'drop-newest' });
    for (let i = 0; i < 10; i++) ch.trySend(i);
    assert.deepEqual(ch.drain(), [0, 1, 2]);
    assert.equal(ch.stats().dropped.newest, 7);
  });

  test('conflate replaces the queued value of a key in place', () => {
    const ch = make('conflate', 4);
    ch.trySend({ key: 'a', seq: 1 });
    ch.trySend({ key: 'b', seq: 2 });
    ch.trySend({ key: 'a', seq: 3 });
    assert.deepEqual(ch.drain().map((m) => m.seq), [3, 2]);
    assert.equal(ch.stats().dropped.conflated, 1);
    // after the key left the buffer, it is queued anew
    ch.trySend({ key: 'a', seq: 4 });
    assert.deepEqual(ch.drain().map((m) => m.seq), [4]);
  });
});

describe('select and fanIn', () => {
  test('select takes from whichever channel has a value, round-robin, and ends when all are closed', async () => {
    const a = new Channel<number>({ name: 'a', capacity: 4, whenFull: 'block' });
    const b = new Channel<number>({ name: 'b', capacity: 4, whenFull: 'block' });
    setTimeout(() => b.trySend(42), 5);
    assert.deepEqual(await select([a, b]), { index: 1, value: 42 });
    a.trySend(1);
    b.trySend(2);
    assert.deepEqual(await select([a, b], undefined, 1), { index: 1, value: 2 });
    a.close();
    b.close();
    assert.deepEqual(await select([a, b]), { index: 0, value: 1 });
    assert.equal(await select([a, b]), undefined);
  });

  test('select rejects on abort and leaves no waiter behind', async () => {
    const a = new Channel<number>({ name: 'a', capacity: 4, whenFull: 'block' });
    const ac = new AbortController();
    const p = select([a], ac.signal);
    ac.abort(new Error('stop'));
    await assert.rejects(p, /stop/);
    a.trySend(5);
    assert.equal(await a.recv(), 5);
  });

  test('fanIn forwards everything from many producers under backpressure', async () => {
    const inputs = Array.from({ length: 5 }, (_, i) => new Channel<number>({ name: `in${i}`, capacity: 2, whenFull: 'block' }));
    const out = new Channel<number>({ name: 'out', capacity: 3, whenFull: 'block' });
    const producers = inputs.map(async (ch, i) => {
      for (let k = 0; k < 100; k++) await ch.send(i * 1000 + k);
      ch.close();
    });
    const fan = fanIn(inputs, out).then((n) => {
      out.close();
      return n;
    });
    const got: number[] = [];
    for await (const v of out) got.push(v);
    await Promise.all(producers);
    assert.equal(await fan, 500);
    for (let i = 0; i < 5; i++) {
      const mine = got.filter((v) => Math.floor(v / 1000) === i);
      assert.deepEqual(mine, Array.from({ length: 100 }, (_, k) => i * 1000 + k));
    }
  });
});

describe('ReadableWatch', () => {
  /** a channel that counts the wake-ups registered with it */
  class Counted extends Channel<number> {
    registered = 0;
    override onReadable(cb: () => void): () => void {
      this.registered++;
      return super.onReadable(cb);
    }
  }
  const counted = (name: string) => new Counted({ name, capacity: 4, whenFull: 'block' });

  test('a wait ends on a value in any channel; the next wait registers again only with the channel that fired', async () => {
    const [a, b, c] = [counted('a'), counted('b'), counted('c')];
    const w = new ReadableWatch<number>();
    const first = w.wait([a, b, c]);
    setTimeout(() => b.trySend(1), 2);
    await first;
    assert.deepEqual([a.registered, b.registered, c.registered], [1, 1, 1]);
    assert.equal(b.tryRecv(), 1);
    const second = w.wait([a, b, c]);
    assert.deepEqual([a.registered, b.registered, c.registered], [1, 2, 1], 'a and c are still registered from the first wait');
    setTimeout(() => c.trySend(2), 2);
    await second;
    // a channel that already holds a value ends the wait at once
    const third = w.wait([a, b, c]);
    await third;
    assert.equal(c.tryRecv(), 2);
    w.clear();
  });

  test('interrupt ends a wait; a forgotten channel no longer ends one; closed channels are not watched', async () => {
    const [a, b] = [counted('a'), counted('b')];
    const w = new ReadableWatch<number>();
    const p = w.wait([a, b]);
    w.interrupt();
    await p;
    w.forget(a);
    let done = false;
    const q = w.wait([b]).then(() => { done = true; });
    a.trySend(1);
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(done, false, 'a was forgotten: its value does not end the wait');
    b.close();
    await q;
    const closed = counted('closed');
    closed.close();
    const r = w.wait([closed, a]);
    assert.equal(closed.registered, 0);
    w.interrupt();
    await r;
    w.clear();
  });
});
