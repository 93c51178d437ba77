import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Sample, SampleBatch } from '../core/sample.ts';
import type { OutboxRecord } from './records.ts';
import { Tail, type TailWrite } from './tail.ts';

const P = 'gw:e1:';

function batch(source: string, n: number, base: number): SampleBatch {
  const samples: Sample[] = [];
  for (let i = 0; i < n; i++) samples.push({ source, tag: `t${i}`, ts: 1000 + base, value: base + i, quality: 'good', float32: true });
  return { source, samples, receivedAt: 1000 + base };
}

/** what the tail must answer, kept as one record per seq (how the tail held them before) */
function expected(first: number, writes: TailWrite[]): OutboxRecord[] {
  const out: OutboxRecord[] = [];
  let seq = first;
  for (const w of writes) {
    if (w.batch) for (const s of w.batch.samples) out.push({ kind: 'sample', seq, id: P + seq++, sample: s });
    else for (const r of w.recs) { out.push(r); seq++; }
  }
  return out;
}

test('tail: reads across writes, from any position, with ids made from the prefix', () => {
  const tail = new Tail(1000, 1);
  const ev: OutboxRecord = { kind: 'event', seq: 6, id: `${P}6`, event: { source: 'gateway', kind: 'k', ts: 1, severity: 'info', message: 'm' } };
  const writes: TailWrite[] = [{ n: 3, batch: batch('a', 3, 0) }, { n: 2, batch: batch('b', 2, 10) }, { n: 1, recs: [ev] }, { n: 4, batch: batch('a', 4, 20) }];
  tail.append(1, writes);
  const all = expected(1, writes);
  assert.equal(tail.end, 11);
  for (let after = 0; after <= 10; after++) {
    for (const limit of [1, 2, 3, 5, 100]) assert.deepEqual(tail.read(after, limit, P), all.slice(after, after + limit), `read(${after}, ${limit})`);
  }
  assert.deepEqual(tail.read(10, 5, P), []);
  assert.equal(tail.read(-1, 5, P), undefined, 'before the first record held');
});

test('tail: trimming inside a write keeps the rest of it; capacity drops the oldest; a gap starts over', () => {
  const tail = new Tail(10, 1);
  const w1: TailWrite[] = [{ n: 4, batch: batch('a', 4, 0) }, { n: 4, batch: batch('a', 4, 10) }];
  tail.append(1, w1);
  tail.trimThrough(2);
  assert.equal(tail.read(1, 10, P), undefined);
  assert.deepEqual(tail.read(2, 10, P), expected(1, w1).slice(2));
  const w2: TailWrite[] = [{ n: 5, batch: batch('b', 5, 20) }];
  tail.append(9, w2);
  // 11 held past a capacity of 10: the oldest one goes
  assert.equal(tail.read(2, 10, P), undefined);
  assert.deepEqual(tail.read(3, 100, P), [...expected(1, w1), ...expected(9, w2)].slice(3));
  tail.trimThrough(100);
  assert.equal(tail.end, 101);
  assert.deepEqual(tail.read(100, 5, P), []);
  // not contiguous with what is held: the tail starts over at the new write
  const w3: TailWrite[] = [{ n: 2, batch: batch('c', 2, 30) }];
  tail.append(200, w3);
  assert.equal(tail.read(150, 5, P), undefined);
  assert.deepEqual(tail.read(199, 5, P), expected(200, w3));
});

test('tail: any sequence of appends, trims and reads answers as a list of records would (property)', () => {
  const op = fc.oneof(
    fc.record({ t: fc.constant('append' as const), sizes: fc.array(fc.integer({ min: 0, max: 7 }), { minLength: 1, maxLength: 5 }) }),
    fc.record({ t: fc.constant('trim' as const), back: fc.integer({ min: -3, max: 30 }) }),
    fc.record({ t: fc.constant('read' as const), back: fc.integer({ min: -2, max: 40 }), limit: fc.integer({ min: 1, max: 25 }) }),
  );
  fc.assert(fc.property(fc.integer({ min: 5, max: 60 }), fc.array(op, { maxLength: 60 }), (capacity, ops) => {
    const tail = new Tail(capacity, 1);
    // the model: records held, seq of the first
    let model: OutboxRecord[] = [];
    let first = 1;
    let next = 1;
    for (const o of ops) {
      if (o.t === 'append') {
        const writes: TailWrite[] = o.sizes.map((n, i) => ({ n, batch: batch('s', n, next + i) }));
        if (next !== first + model.length) {
          // trimmed past the end: the tail starts over
          model = [];
          first = next;
        }
        tail.append(next, writes);
        model.push(...expected(next, writes));
        next += o.sizes.reduce((a, b) => a + b, 0);
        if (model.length > capacity) {
          first += model.length - capacity;
          model = model.slice(model.length - capacity);
        }
      } else if (o.t === 'trim') {
        const seq = next - 1 - o.back;
        tail.trimThrough(seq);
        if (seq >= first) {
          const k = Math.min(model.length, seq - first + 1);
          model = model.slice(k);
          first = Math.max(first + k, seq + 1);
        }
      } else {
        const after = next - 1 - o.back;
        const got = tail.read(after, o.limit, P);
        if (after + 1 < first) assert.equal(got, undefined);
        else assert.deepEqual(got, model.slice(Math.max(0, after + 1 - first), Math.max(0, after + 1 - first) + o.limit));
      }
      assert.equal(tail.end, first + model.length);
    }
  }), { numRuns: 300 });
});
