import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { SampleBatch } from '../core/sample.ts';
import { outboxSchema } from './config.ts';
import { createOutbox, type Outbox, type OutboxConfig } from './index.ts';
import type { StageContext } from '../core/contracts.ts';
import type { OutboxRecord } from './records.ts';
import { assertSourceAccounting, numberBatch, tempContext } from '../../test/support/outbox/testing.ts';

const contexts: ReturnType<typeof tempContext>[] = [];
const boxes: Outbox[] = [];
function ctx() {
  const c = tempContext('gw-1');
  contexts.push(c);
  return c;
}
// a failed assertion must not leave a checkpoint worker keeping the runner alive
after(async () => {
  for (const b of boxes) await b.stop(1000);
  for (const c of contexts) c.cleanup();
});
function open(config: OutboxConfig, c: StageContext): Outbox {
  const b = createOutbox(config, c);
  boxes.push(b);
  return b;
}

function cfg(over: Record<string, unknown> = {}) {
  return outboxSchema.parse({ commitInterval: '5ms', ...over });
}

function values(records: OutboxRecord[]): unknown[] {
  return records.map((r) => (r.kind === 'sample' ? r.sample.value : r.kind));
}

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Housekeeping (cursor persistence, deletes) runs with the next commit on the writer thread: wait for it, bounded. */
async function eventually(what: string, check: () => boolean, ms = 3000) {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) assert.fail(`${what}: not within ${ms} ms`);
    await sleep(5);
  }
}

describe('outbox', () => {
  test('stores every value type, predictions and events, with stable ids across a restart', async () => {
    const c = ctx();
    const box = open(cfg(), c);
    const cur = box.cursor('s1');
    await box.start();
    const batch: SampleBatch = {
      source: 'plc1', receivedAt: 1,
      samples: [
        { source: 'plc1', tag: 'f', ts: 1000.5, value: 1.25, quality: 'good' },
        { source: 'plc1', tag: 'b', ts: 1001, value: true, quality: 'uncertain' },
        { source: 'plc1', tag: 's', ts: 1002, value: 'héllo', quality: 'good' },
        { source: 'plc1', tag: 'i64', ts: 1003, value: -(2n ** 63n), quality: 'good' },
        { source: 'plc1', tag: 'u64', ts: 1004, value: 2n ** 64n - 1n, quality: 'good' },
        { source: 'plc1', tag: 'n', ts: 1005, value: null, quality: 'bad', reason: 'exception 2' },
        { source: 'plc1', tag: 'f0', ts: 1006, value: false, quality: 'good' },
      ],
    };
    await Promise.all([
      box.writeSamples(batch),
      box.writePredictions([{ model: 'm1', ts: 2000, outputs: { score: 0.5 }, latencyMs: 3 }]),
      box.writeEvents([{ source: 'm1', kind: 'threshold', ts: 3000, severity: 'warning', message: 'hot', data: { limit: 80 } }]),
    ]);
    assert.equal(box.stats().commits, 1, 'three concurrent writes share one group commit');
    const recs = cur.read(0, 100);
    assert.deepEqual(values(recs), [1.25, true, 'héllo', -(2n ** 63n), 2n ** 64n - 1n, null, false, 'prediction', 'event']);
    assert.deepEqual(recs[5], { kind: 'sample', seq: 6, id: `${box.idPrefix}6`, sample: batch.samples[5] });
    assert.deepEqual(recs[7], { kind: 'prediction', seq: 8, id: `${box.idPrefix}8`, prediction: { model: 'm1', ts: 2000, outputs: { score: 0.5 }, latencyMs: 3 } });
    assert.deepEqual(recs[8], { kind: 'event', seq: 9, id: `${box.idPrefix}9`, event: { source: 'm1', kind: 'threshold', ts: 3000, severity: 'warning', message: 'hot', data: { limit: 80 } } });
    assert.match(recs[0]!.id, /^gw-1:[0-9a-z]+:1$/);
    // that first read came from memory (the tail); once read it is gone from there, so a re-read
    // (a re-send after a failure) comes from the file: the two must be the same records
    assert.deepEqual(cur.read(0, 100), recs, 'from the file as from memory');
    cur.ack(4);
    await box.stop(1000);

    const box2 = open(cfg(), c);
    const cur2 = box2.cursor('s1');
    await box2.start();
    assert.equal(cur2.acked, 4, 'the cursor survived the restart');
    const again = cur2.read(cur2.acked, 100);
    assert.deepEqual(again.map((r) => r.id), recs.slice(4).map((r) => r.id), 'same ids after the restart');
    // a poll is one row (records.ts KIND_BATCH) and goes only as a whole: 4 of its 7 samples confirmed, all 9 records stay
    assert.equal(box2.stats().rows, 9, 'a partly confirmed batch row stays whole');
    cur2.ack(7);
    await eventually('the batch row deleted once all of it is confirmed', () => box2.stats().rows === 2);
    await box2.writeSamples(numberBatch('plc1', 0, 1));
    assert.equal(cur2.read(9, 10)[0]!.seq, 10, 'seq goes on after the restart');
    await box2.stop(1000);
  });

  test('seq is never reused after every row was deleted', async () => {
    const c = ctx();
    // positions persisted and confirmed rows deleted with every commit (the default waits up to 1 s)
    const box = open(cfg({ housekeepingInterval: 0 }), c);
    const cur = box.cursor('s1');
    await box.start();
    await box.writeSamples(numberBatch('a', 0, 3));
    cur.ack(3);
    // the next commit (the ack asks for one) deletes it: waited for, a loaded machine may be slow
    const until = Date.now() + 5_000;
    while (box.stats().rows !== 0 && Date.now() < until) await sleep(5);
    assert.equal(box.stats().rows, 0);
    await box.stop(1000);
    const box2 = open(cfg(), c);
    const cur2 = box2.cursor('s1');
    await box2.start();
    await box2.writeSamples(numberBatch('a', 0, 1));
    assert.deepEqual(cur2.read(cur2.acked, 10).map((r) => r.seq), [4]);
    await box2.stop(1000);
  });

  test('a row stays until every cursor confirmed it; the file stops growing in steady state', async () => {
    const c = ctx();
    const box = open(cfg({ checkpointInterval: 0, housekeepingInterval: 0 }), c);
    const a = box.cursor('a');
    const b = box.cursor('b');
    await box.start();
    // two polls = two rows: a row goes as a whole once every cursor confirmed all of it
    await Promise.all([box.writeSamples(numberBatch('x', 0, 50)), box.writeSamples(numberBatch('x', 50, 50))]);
    a.ack(100);
    await sleep(30);
    assert.equal(box.stats().rows, 100, 'b has not confirmed yet');
    b.ack(50);
    await eventually('rows both cursors confirmed are deleted', () => box.stats().rows === 50);
    assert.equal(a.backlog(), 0);
    assert.equal(b.backlog(), 50);

    const sizes: number[] = [];
    for (let round = 0; round < 40; round++) {
      await box.writeSamples(numberBatch('x', 0, 2000));
      const last = box.stats().lastSeq;
      a.ack(last);
      b.ack(last);
      await sleep(15);
      const wal = existsSync(`${box.stats().file}-wal`) ? statSync(`${box.stats().file}-wal`).size : 0;
      sizes.push(box.stats().fileBytes + wal);
    }
    await eventually('every confirmed row is deleted', () => box.stats().rows === 0);
    const early = Math.max(...sizes.slice(10, 15));
    const late = Math.max(...sizes.slice(30));
    assert.ok(late <= early * 1.1, `file + WAL kept growing: ${early} -> ${late} bytes`);
    await box.stop(1000);
  });

  test('a corrupt file is moved aside, never deleted, and a new one is started', async () => {
    const c = ctx();
    writeFileSync(join(c.dir, 'outbox.db'), Buffer.alloc(8192, 0x5a));
    const box = open(cfg(), c);
    await box.start();
    const aside = readdirSync(c.dir).filter((f) => f.startsWith('outbox.db.corrupt-'));
    assert.equal(aside.length, 1, 'moved aside under a timestamped name');
    assert.equal(statSync(join(c.dir, aside[0]!)).size, 8192, 'the old file is kept as it was');
    assert.equal(box.stats().movedAside, join(c.dir, aside[0]!));
    const metric = await c.metrics.errors.get();
    assert.ok(metric.values.some((v) => v.labels.code === 'FG_E_OUTBOX_CORRUPT' && v.value === 1));
    await box.writeSamples(numberBatch('x', 0, 5));
    assert.equal(box.stats().rows, 5);
    await box.stop(1000);
  });

  test('full under drop-oldest: the oldest go, counted exactly, the newest stay in order', async () => {
    const c = ctx();
    const box = open(cfg({ maxBytes: '200KB', whenFull: 'drop-oldest' }), c);
    const cur = box.cursor('slow');
    await box.start();
    const total = 200_000; // a poll is one row of 4-byte values: this many to pass 200KB
    for (let i = 0; i < total; i += 500) await box.writeSamples(numberBatch('x', i, 500));
    const s = box.stats();
    assert.ok(s.dropped.full > 0, 'something was dropped');
    assert.equal(s.dropped.full + s.rows, total, 'dropped + kept = written');
    const kept = cur.read(cur.acked, total);
    assert.equal(kept.length, s.rows);
    assert.deepEqual(values(kept), Array.from({ length: s.rows }, (_, i) => total - s.rows + i), 'the newest, in order');
    assert.ok(s.usedBytes < 200_000 * 1.1, `bounded: ${s.usedBytes}`);
    const dropped = (await c.metrics.dropped.get()).values.filter((v) => v.labels.reason === 'outbox-full');
    // on the outbox, and on the sink that never got them (its cursor moved over them), on source x
    assert.deepEqual(dropped.map((v) => [v.labels.stage, v.labels.source, v.value]), [['outbox', 'x', s.dropped.full], ['sink.slow', 'x', s.dropped.full]], 'the metric counts the same, on its source');
    cur.ack(kept.at(-1)!.seq, kept.length);
    const a = await assertSourceAccounting(box, c.metrics);
    assert.deepEqual(a.sinks.slow!.dropped, { x: { 'outbox-full': s.dropped.full } });
    assert.deepEqual(a.sinks.slow!.confirmed, { x: s.rows });
    await box.stop(1000);
  });

  test('full under block: writers wait, nothing is lost, they go on once the sink confirms', async () => {
    const c = ctx();
    const box = open(cfg({ maxBytes: '200KB', whenFull: 'block' }), c);
    const cur = box.cursor('slow');
    await box.start();
    const total = 200_000; // a poll is one row of 4-byte values: this many to pass 200KB
    let resolved = 0;
    const writes: Promise<void>[] = [];
    for (let i = 0; i < total; i += 500) {
      writes.push(box.writeSamples(numberBatch('x', i, 500)).then(() => { resolved += 500; }));
      await sleep(0);
    }
    await sleep(100);
    const s = box.stats();
    assert.ok(s.full, 'the outbox is full');
    assert.ok(s.blockedWrites > 0 && resolved < total, 'some writers wait');
    assert.equal(resolved, s.rows, 'every resolved write is in the outbox');
    assert.equal(s.dropped.full, 0);

    const got: number[] = [];
    const done = Promise.all(writes);
    let finished = false;
    void done.then(() => { finished = true; });
    while (got.length < total) {
      const recs = cur.read(cur.acked, 2000);
      if (recs.length === 0) {
        assert.ok(!finished || got.length < total);
        await sleep(10);
        continue;
      }
      for (const r of recs) got.push(r.kind === 'sample' ? (r.sample.value as number) : -1);
      cur.ack(recs.at(-1)!.seq);
      await sleep(1);
    }
    await done;
    assert.deepEqual(got, Array.from({ length: total }, (_, i) => i), 'all of them, in order');
    assert.equal(box.stats().dropped.full, 0);
    assert.deepEqual((await assertSourceAccounting(box, c.metrics)).sinks.slow!.confirmed, { x: total });
    await box.stop(1000);
  });

  test('maxAge drops old unconfirmed records, counted', async () => {
    const c = ctx();
    const box = open(cfg({ maxAge: '50ms' }), c);
    const cur = box.cursor('s');
    await box.start();
    await box.writeSamples(numberBatch('x', 0, 10));
    await sleep(80);
    await box.writeSamples(numberBatch('y', 10, 5));
    const s = box.stats();
    assert.equal(s.dropped.expired, 10);
    assert.equal(s.rows, 5);
    assert.equal(cur.rewind(), 10, 'the sink moves over the expired records');
    const a = await assertSourceAccounting(box, c.metrics);
    assert.deepEqual(a.sinks.s!.dropped, { x: { 'outbox-expired': 10 } });
    assert.deepEqual(a.sinks.s!.pending, { y: 5 });
    await box.stop(1000);
  });

  test('positions are persisted, and confirmed rows deleted, at most once per housekeepingInterval (not with every commit); stop persists them', async () => {
    const c = ctx();
    const box = open(cfg({ housekeepingInterval: '400ms' }), c);
    const cur = box.cursor('s');
    await box.start();
    await box.writeSamples(numberBatch('a', 0, 100)); // the first commit housekeeps: nothing to delete yet
    cur.ack(box.stats().lastSeq);
    const t0 = Date.now();
    await box.writeSamples(numberBatch('a', 100, 10));
    const early = box.stats().rows;
    const elapsed = Date.now() - t0;
    if (elapsed < 350) assert.equal(early, 110, `confirmed rows wait for the next housekeeping (${elapsed} ms later)`);
    // the acks alone bring the next housekeeping: the confirmed row goes, the new one stays
    const until = Date.now() + 5_000;
    while (box.stats().rows !== 10) {
      assert.ok(Date.now() < until, `rows ${box.stats().rows}`);
      await sleep(20);
    }
    assert.ok(Date.now() - t0 >= 350, 'not before the interval');
    cur.ack(box.stats().lastSeq);
    await box.stop(1000); // persists the position at once
    const box2 = open(cfg(), c);
    const cur2 = box2.cursor('s');
    await box2.start();
    assert.equal(cur2.acked, 110);
    assert.equal(box2.stats().lastSeq, 110, 'the last seq survives with every row deleted');
    await box2.stop(1000);
  });

  test('stop commits what is pending and leaves no timer, worker or handle', async () => {
    const c = ctx();
    const before = new Set(process.getActiveResourcesInfo());
    const box = open(cfg({ commitInterval: '10s' }), c);
    await box.start();
    const w = box.writeSamples(numberBatch('x', 0, 10));
    await box.stop(1000);
    await w;
    await assert.rejects(box.writeSamples(numberBatch('x', 0, 1)), /FG_E_OUTBOX_WRITE|not accepted/);
    const box2 = open(cfg(), c);
    const cur = box2.cursor('s');
    await box2.start();
    assert.equal(cur.read(0, 100).length, 10);
    await box2.stop(1000);
    const leftover = process.getActiveResourcesInfo().filter((r) => !before.has(r) && r !== 'TTYWrap');
    assert.deepEqual(leftover, []);
  });
});

test('the probe reports the backlog and how long its oldest record has waited', async () => {
  const box = open(cfg(), ctx());
  const cur = box.cursor('s1');
  await box.start();
  assert.equal(box.probe().details?.oldestAgeMs, undefined, 'no backlog, no age');
  await box.writeSamples(numberBatch('a', 0, 3));
  // commit times are kept one a second (lag.ts CommitMarks; the file has one per housekeeping):
  // the two commits must fall in different seconds
  await sleep(1_100);
  const second = Date.now();
  await box.writeSamples(numberBatch('a', 3, 2));
  const d1 = box.probe().details!;
  assert.equal(d1.backlog, 5);
  assert.ok((d1.oldestAgeMs as number) >= 1_050, `oldest age ${d1.oldestAgeMs}`);
  // once the first commit is confirmed, the age is that of the second one: no older than the time
  // since it was written, plus the marks' second (a busy machine may take a while to commit it,
  // so no fixed lower bound)
  cur.ack(3);
  const d2 = box.probe().details!;
  assert.equal(d2.backlog, 2);
  assert.ok((d2.oldestAgeMs as number) <= Date.now() - second + 1_001, `oldest age ${d2.oldestAgeMs}`);
  assert.ok((d2.oldestAgeMs as number) < (d1.oldestAgeMs as number), `oldest age ${d2.oldestAgeMs} < ${d1.oldestAgeMs}`);
  cur.ack(5);
  assert.equal(box.probe().details?.oldestAgeMs, undefined);
});

describe('outbox reconfigure (reload)', () => {
  /**
   * Writes batches of 500, each committed before the next, until the outbox is full; then 4 more,
   * which `block` must hold. Returns those writes and how many samples were written in all.
   */
  async function fillThenBlock(box: Outbox): Promise<{ writes: Promise<void>[]; total: number }> {
    let total = 0;
    while (!box.stats().full) {
      if (total > 1_000_000) assert.fail('the outbox never filled');
      await box.writeSamples(numberBatch('x', total, 500));
      total += 500;
    }
    const writes: Promise<void>[] = [];
    for (let k = 0; k < 4; k++, total += 500) writes.push(box.writeSamples(numberBatch('x', total, 500)));
    assert.equal(box.stats().blockedWrites, 4, 'full under block: the writers wait');
    return { writes, total };
  }

  test('a larger maxBytes releases writers held by block: nothing lost, same file; path and synchronous wait', async () => {
    const c = ctx();
    const box = open(cfg({ maxBytes: '200KB', whenFull: 'block' }), c);
    const cur = box.cursor('slow');
    await box.start();
    const epoch = box.stats().epoch;
    const { writes, total } = await fillThenBlock(box);

    const r = box.reconfigure(cfg({ maxBytes: '64MB', whenFull: 'block', synchronous: 'full', path: 'elsewhere.db' }));
    assert.deepEqual(r.applied, ['maxBytes']);
    assert.deepEqual([...r.atRestart].sort(), ['path', 'synchronous']);
    assert.equal(r.config.maxBytes, 64_000_000);
    assert.equal(r.config.synchronous, 'normal', 'synchronous keeps its running value');
    assert.equal('path' in r.config, false, 'path keeps its running (default) value');

    await Promise.all(writes);
    const s = box.stats();
    assert.equal(s.rows, total, 'every write was accepted');
    assert.equal(s.dropped.full, 0);
    assert.equal(s.full, false);
    assert.equal(s.maxBytes, 64_000_000);
    assert.equal(s.epoch, epoch, 'the same file: not reopened');
    assert.equal(s.file, join(c.dir, 'outbox.db'));
    assert.deepEqual(values(cur.read(0, total)), Array.from({ length: total }, (_, i) => i), 'all of them, in order');

    // nothing changed: nothing applied
    const same = box.reconfigure(cfg({ maxBytes: '64MB', whenFull: 'block' }));
    assert.deepEqual([same.applied, same.atRestart], [[], []]);

    // a smaller bound under drop-oldest applies with the next commit, even with no new write
    const r2 = box.reconfigure(cfg({ maxBytes: '200KB', whenFull: 'drop-oldest' }));
    assert.deepEqual([...r2.applied].sort(), ['maxBytes', 'whenFull']);
    await eventually('the oldest dropped under the new bound', () => box.stats().dropped.full > 0, 20_000);
    const s2 = box.stats();
    assert.equal(s2.rows + s2.dropped.full, total, 'every record is kept or counted as dropped');
    assert.deepEqual(values(cur.read(cur.acked, total)), Array.from({ length: s2.rows }, (_, i) => total - s2.rows + i), 'the newest stay, in order');
    await box.stop(1000);
  });

  test('block -> drop-oldest while full admits the waiting writers at once', async () => {
    const c = ctx();
    const box = open(cfg({ maxBytes: '200KB', whenFull: 'block' }), c);
    box.cursor('slow');
    await box.start();
    const { writes, total } = await fillThenBlock(box);
    const r = box.reconfigure(cfg({ maxBytes: '200KB', whenFull: 'drop-oldest' }));
    assert.deepEqual(r.applied, ['whenFull']);
    assert.equal(box.stats().blockedWrites, 0, 'no writer is held under drop-oldest');
    await Promise.all(writes);
    await eventually('drops applied', () => box.stats().dropped.full > 0, 20_000);
    const s = box.stats();
    assert.equal(s.lastSeq, total, 'every write was accepted');
    assert.equal(s.rows + s.dropped.full, total, 'every record is kept or counted as dropped');
    assert.ok(s.usedBytes < 200_000 * 1.1, `bounded: ${s.usedBytes}`);
    await box.stop(1000);
  });
});
