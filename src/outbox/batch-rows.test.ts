import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { ColumnarBatch, type Quality, type Sample, type SampleValue } from '../core/sample.ts';
import { outboxSchema } from './config.ts';
import { createOutbox, type Outbox } from './index.ts';
import { KIND_BATCH, KIND_SAMPLE, type OutboxRecord, type RecordTuple, decodeBatchRow, encodeBatchColumns, encodeColumnarColumns, sampleRecord } from './records.ts';
import { tempContext } from '../../test/support/outbox/testing.ts';

const contexts: ReturnType<typeof tempContext>[] = [];
const boxes: Outbox[] = [];
after(async () => {
  for (const b of boxes) await b.stop(1000);
  for (const c of contexts) c.cleanup();
});

const value: fc.Arbitrary<SampleValue> = fc.oneof(
  fc.double(), fc.float().map((f) => Math.fround(f)), fc.integer(), fc.boolean(), fc.string(),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }), fc.constant(null),
);
const sampleArb = (source: string): fc.Arbitrary<Sample> => fc.record({
  other: fc.boolean(), tag: fc.string({ maxLength: 10 }), dts: fc.constantFrom(0, 0, 0, 1, -5, 0.5), value,
  quality: fc.constantFrom<Quality>('good', 'good', 'uncertain', 'bad'), reason: fc.option(fc.string({ maxLength: 6 }), { nil: undefined }),
  float32: fc.boolean(),
}).map((r) => {
  const s: Sample = { source: r.other ? `${source}-x` : source, tag: r.tag, ts: 1_764_500_000_000 + r.dts, value: r.value, quality: r.quality };
  if (r.reason !== undefined) s.reason = r.reason;
  if (r.float32 && typeof r.value === 'number') s.float32 = true; // a driver's float32 tag (some, all or none of a batch)
  return s;
});

/** the row as SQLite hands it back: the values as a Buffer */
function row(last: number, source: string, samples: Sample[]): RecordTuple {
  const c = encodeBatchColumns(source, samples);
  return [last, KIND_BATCH, source, '@1', c.ts, c.vtype, 0, Buffer.from(c.value) as unknown as number, null, c.extra];
}

describe('batch rows', () => {
  test('property: a batch row reads back as the records the in-memory tail holds, from any position', () => {
    fc.assert(fc.property(fc.array(sampleArb('plc1'), { minLength: 1, maxLength: 40 }), fc.nat({ max: 1e6 }), fc.nat(), fc.integer({ min: 1, max: 50 }), (samples, base, cut, limit) => {
      const n = samples.length;
      const last = base + n;
      const want = samples.map((s, i) => sampleRecord(s, base + 1 + i, 'gw:e:'));
      const after = base + (cut % (n + 1));
      const out: OutboxRecord[] = [];
      decodeBatchRow(row(last, 'plc1', samples), n, samples.map((s) => s.tag), 'gw:e:', after, limit, out);
      assert.deepEqual(out, want.filter((r) => r.seq > after).slice(0, limit));
    }), { numRuns: 400 });
  });

  test('property: a columnar batch encodes to the row of its samples, and its samples are what its columns hold', () => {
    const pos = fc.record({ tag: fc.string({ maxLength: 6 }), dts: fc.constantFrom(0, 0, 0, 3, -1), value: fc.oneof(fc.double(), fc.float().map((f) => Math.fround(f)), fc.integer()), float32: fc.boolean() });
    fc.assert(fc.property(fc.array(pos, { maxLength: 40 }), (ps) => {
      const n = ps.length;
      const b = new ColumnarBatch('plc1', ps.map((p) => p.tag), Float64Array.from(ps, (p) => 1_764_500_000_000 + p.dts), Float64Array.from(ps, (p) => p.value),
        Uint8Array.from(ps, (p) => (p.float32 ? 1 : 0)), 5);
      const samples = ps.map((p): Sample => {
        const s: Sample = { source: 'plc1', tag: p.tag, ts: 1_764_500_000_000 + p.dts, value: p.value, quality: 'good' };
        if (p.float32) s.float32 = true;
        return s;
      });
      assert.equal(b.length, n);
      assert.deepEqual(b.samples, samples);
      for (let i = 0; i < n; i++) assert.deepEqual(b.sampleAt(i), samples[i]);
      const want = encodeBatchColumns('plc1', samples);
      const got = encodeColumnarColumns(b);
      assert.deepEqual({ ...got, value: Buffer.from(got.value) }, { ...want, value: Buffer.from(want.value) });
    }), { numRuns: 400 });
  });

  test('float32-exact values take 4 bytes each, any other number 8 (both exact)', () => {
    const s = (v: number): Sample => ({ source: 'p', tag: 't', ts: 1, value: v, quality: 'good' });
    assert.equal(encodeBatchColumns('p', [s(Math.fround(1.1)), s(2), s(-0)]).value.byteLength, 12);
    assert.equal(encodeBatchColumns('p', [s(Math.fround(1.1)), s(1.1)]).value.byteLength, 16);
    assert.equal(encodeBatchColumns('p', [s(1), s(NaN)]).value.byteLength, 16, 'NaN keeps its bits in float64');
    assert.equal(encodeBatchColumns('p', [s(1), s(2)]).extra, null, 'the common case has no JSON part');
  });

  test('float32 flags: all of a batch in vtype (no JSON part), some of it as positions', () => {
    const s = (v: number, float32: boolean): Sample => ({ source: 'p', tag: 't', ts: 1, value: v, quality: 'good', ...(float32 ? { float32: true as const } : {}) });
    const all = encodeBatchColumns('p', [s(1.5, true), s(2, true)]);
    assert.deepEqual([all.vtype, all.extra], [1, null]);
    const some = encodeBatchColumns('p', [s(1.5, true), s(2, false), s(3, true)]);
    assert.deepEqual([some.vtype, some.extra], [0, '{"f":[0,2]}']);
    const none = encodeBatchColumns('p', [s(1.5, false)]);
    assert.deepEqual([none.vtype, none.extra], [0, null]);
  });

  test('one row per poll on disk; reads split anywhere inside a row agree with memory, across a restart', async () => {
    const c = tempContext('gw-b');
    contexts.push(c);
    const cfg = outboxSchema.parse({ commitInterval: '5ms' });
    const box = createOutbox(cfg, c);
    boxes.push(box);
    const cur = box.cursor('s');
    await box.start();
    const batch = (k: number): Sample[] => Array.from({ length: 50 }, (_, j) => ({ source: 'plc1', tag: `sensor_${String(j).padStart(3, '0')}`, ts: 1000 + k, value: Math.fround(k + j / 7), quality: j === 3 ? 'bad' : 'good', ...(j === 3 ? { reason: 'timeout' } : {}),
      // float32 flags: every sample of even polls (the row's vtype), some of odd ones (positions in the JSON part)
      ...(k % 2 === 0 || j % 3 !== 0 ? { float32: true as const } : {}) }));
    for (let k = 0; k < 20; k++) await box.writeSamples({ source: 'plc1', samples: batch(k), receivedAt: k });
    const mem = cur.read(0, 10_000);
    assert.equal(mem.length, 1000);
    assert.equal(mem.filter((r) => r.kind === 'sample' && r.sample.float32 === true).length, 500 + 10 * 33, 'the float32 flags, as written');
    await box.stop(1000);
    const db = new Database(join(c.dir, 'outbox.db'), { readonly: true });
    const rows = db.prepare('SELECT count(*) AS rows, sum(n) AS records, count(DISTINCT tag) AS shapes FROM records WHERE kind = ?').get(KIND_BATCH) as { rows: number; records: number; shapes: number };
    const tagsets = (db.prepare('SELECT count(*) AS n FROM tagsets').get() as { n: number }).n;
    db.close();
    assert.deepEqual(rows, { rows: 20, records: 1000, shapes: 1 }, 'a row per poll, one tag list for all');
    assert.equal(tagsets, 1);

    const box2 = createOutbox(cfg, c);
    boxes.push(box2);
    const cur2 = box2.cursor('s');
    await box2.start();
    for (const [from, limit] of [[0, 1000], [17, 33], [49, 2], [50, 50], [123, 400], [999, 5]] as const) {
      assert.deepEqual(cur2.read(from, limit), mem.slice(from, from + limit), `read(${from}, ${limit}) from the file`);
    }
    // confirmed through the middle of a row: that row stays, the ones before go
    cur2.ack(125);
    await box2.writeSamples({ source: 'plc1', samples: batch(20), receivedAt: 20 });
    const until = Date.now() + 3000;
    while (box2.stats().rows !== 1050 - 100) {
      assert.ok(Date.now() < until, `rows ${box2.stats().rows}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(box2.stats().firstSeq, 101, 'the first row left is the one holding seq 126');
    assert.deepEqual(cur2.read(125, 5), mem.slice(125, 130));
    await box2.stop(1000);
  });

  test('a file from before batch rows (one row per sample, no n column) opens and reads as it was', async () => {
    const c = tempContext('gw-o');
    contexts.push(c);
    const file = join(c.dir, 'outbox.db');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
      CREATE TABLE records (seq INTEGER PRIMARY KEY, kind INTEGER NOT NULL, source TEXT NOT NULL, tag TEXT NOT NULL, ts REAL NOT NULL, vtype INTEGER NOT NULL, quality INTEGER NOT NULL, value, reason TEXT, extra TEXT);
      CREATE TABLE cursors (sink TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE commits (last_seq INTEGER PRIMARY KEY, at INTEGER NOT NULL);
      INSERT INTO meta VALUES ('epoch', 'old1'), ('lastSeq', 3);
      INSERT INTO cursors VALUES ('s', 1);
      INSERT INTO commits VALUES (3, ${Date.now()});`);
    const ins = db.prepare('INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    for (let i = 1; i <= 3; i++) ins.run(i, KIND_SAMPLE, 'plc1', `t${i}`, 1000 + i, 1, 0, i * 1.5, null, null);
    db.close();
    const box = createOutbox(outboxSchema.parse({ commitInterval: '5ms' }), c);
    boxes.push(box);
    const cur = box.cursor('s');
    await box.start();
    assert.equal(box.stats().rows, 3, 'every old row is one record (seq 1 is confirmed: it goes with the next commit)');
    assert.deepEqual(cur.read(cur.acked, 10).map((r) => [r.id, r.kind === 'sample' ? r.sample.value : undefined]), [['gw-o:old1:2', 3], ['gw-o:old1:3', 4.5]]);
    await box.writeSamples({ source: 'plc1', samples: [{ source: 'plc1', tag: 'a', ts: 2000, value: 7, quality: 'good' }, { source: 'plc1', tag: 'b', ts: 2000, value: 8, quality: 'good' }], receivedAt: 2000 });
    assert.deepEqual(cur.read(3, 10).map((r) => r.seq), [4, 5], 'new batches go on after the old rows');
    cur.ack(5);
    await box.stop(1000);
  });
});
