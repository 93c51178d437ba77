// Per-sink lag bounds and the accounting identity on a real outbox file: a sink past its
// drop-oldest bound skips its oldest records for itself only, and every record a cursor moves
// over is either delivered or counted dropped for that sink, exactly once, also for records that
// were in flight when the bound (or the outbox's own drop-oldest) moved past them.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { outboxSchema } from './config.ts';
import { createOutbox, type Outbox, type OutboxCursor } from './index.ts';
import { CommitMarks, GlobalDrops } from './lag.ts';
import { assertSourceAccounting, numberBatch, tempContext } from '../../test/support/outbox/testing.ts';

const contexts: ReturnType<typeof tempContext>[] = [];
const boxes: Outbox[] = [];
after(async () => {
  for (const b of boxes) await b.stop(1000);
  for (const c of contexts) c.cleanup();
});

function setup(over: Record<string, unknown> = {}) {
  const c = tempContext('gw-lag');
  contexts.push(c);
  // every commit persists positions and deletes (the tests look at the rows right after a write)
  const box = createOutbox(outboxSchema.parse({ commitInterval: '2ms', housekeepingInterval: 0, ...over }), c);
  boxes.push(box);
  return { c, box };
}

/** A sink that confirms what it reads, chunk by chunk, and tallies what it got. */
function drain(cur: OutboxCursor, got: number[], chunk = 100): number {
  let pos = cur.rewind();
  let delivered = 0;
  for (;;) {
    const recs = cur.read(pos, chunk);
    if (recs.length === 0) return delivered;
    for (const r of recs) got.push(r.kind === 'sample' ? (r.sample.value as number) : -1);
    pos = recs.at(-1)!.seq;
    cur.ack(pos, recs.length);
    delivered += recs.length;
  }
}

function dropped(cur: OutboxCursor): number {
  return cur.dropped.lag + cur.dropped['outbox-full'] + cur.dropped['outbox-expired'];
}

/** summed over sources (the outbox's drops carry a source label) */
async function metric(c: ReturnType<typeof tempContext>, stage: string, reason: string): Promise<number> {
  return (await c.metrics.dropped.get()).values.filter((x) => x.labels.stage === stage && x.labels.reason === reason).reduce((n, v) => n + v.value, 0);
}

describe('per-sink lag bounds', () => {
  test('fieldgate_sink_lag_seconds: how long the oldest unconfirmed record of each sink has waited; 0 once caught up', async () => {
    const { c, box } = setup();
    const slow = box.cursor('slow');
    const fast = box.cursor('fast');
    await box.start();
    await box.writeSamples(numberBatch('plc', 0, 50));
    const t0 = Date.now();
    fast.ack(box.stats().lastSeq);
    const lag = async (sink: string) => (await c.metrics.registry.getSingleMetric('fieldgate_sink_lag_seconds')!.get()).values.find((v) => v.labels.sink === sink)?.value;
    // the gauges move with commits: keep writing (the fast sink keeps up) until 300 ms have passed
    while (Date.now() - t0 < 300) {
      await box.writeSamples(numberBatch('plc', 50, 50));
      fast.ack(box.stats().lastSeq);
      await new Promise((r) => setTimeout(r, 20));
    }
    await box.writeSamples(numberBatch('plc', 100, 1));
    const waited = (Date.now() - t0) / 1000;
    const l = (await lag('slow'))!;
    // commit times are kept per second (lag.ts CommitMarks): the gauge may read up to 1 s over, never under
    assert.ok(l >= 0.25 && l <= waited + 1.05, `slow sink lag ${l} s (waited ${waited} s)`);
    assert.ok(((await lag('fast')) ?? 9) <= 1.05, 'the fast sink is behind by one commit at most');
    slow.ack(box.stats().lastSeq);
    fast.ack(box.stats().lastSeq);
    await box.writeSamples(numberBatch('plc', 101, 1));
    slow.ack(box.stats().lastSeq);
    fast.ack(box.stats().lastSeq);
    const until = Date.now() + 3000;
    // the acks are persisted by the next commit, which sets the gauges again
    while ((await lag('slow')) !== 0) {
      assert.ok(Date.now() < until, 'lag back to 0');
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(await lag('fast'), 0);
  });

  test('a dead sink past its bound skips its oldest records for itself only; the live sink gets all; it resumes in order', async () => {
    const { c, box } = setup();
    const live = box.cursor('live');
    const dead = box.cursor('dead', { records: 200, whenBehind: 'drop-oldest' });
    await box.start();
    const total = 3000;
    const liveGot: number[] = [];
    let liveDelivered = 0;
    for (let i = 0; i < total; i += 100) {
      // two sources, so the skips are split between them
      await box.writeSamples(numberBatch(i % 300 === 0 ? 'rtu' : 'plc', i, 100));
      liveDelivered += drain(live, liveGot);
    }
    await box.writeEvents([]); // nothing: the last commit's lag step already ran
    assert.deepEqual(liveGot, Array.from({ length: total }, (_, i) => i), 'the live sink got every record, in order');
    assert.ok(dead.dropped.lag > 0, 'the dead sink skipped records');
    assert.ok(dead.backlog() <= 200, `the dead sink holds at most its bound: ${dead.backlog()}`);
    assert.ok(box.stats().rows <= 200 + 100, `rows are deleted once the live sink confirmed them: ${box.stats().rows}`);
    assert.equal(await metric(c, 'sink.dead', 'lag'), dead.dropped.lag, 'counted on the sink, reason lag');
    assert.equal(await metric(c, 'sink.live', 'lag'), 0);
    // back: it reads on from its new cursor, in order, to the end
    const deadGot: number[] = [];
    const delivered = drain(dead, deadGot);
    assert.deepEqual(deadGot, Array.from({ length: deadGot.length }, (_, i) => total - deadGot.length + i), 'the newest, in order, no gap');
    assert.equal(delivered + dropped(dead), total, 'accepted = delivered + dropped, for the dead sink');
    assert.equal(liveDelivered + dropped(live), total, 'and for the live one');
    // and per source: 'rtu' wrote every third batch
    const a = await assertSourceAccounting(box, c.metrics);
    assert.deepEqual(a.accepted, { rtu: 1000, plc: 2000 });
    assert.deepEqual(a.sinks.live!.confirmed, { rtu: 1000, plc: 2000 });
    const rtuGot = deadGot.filter((v) => Math.floor(v / 100) % 3 === 0).length;
    assert.equal(a.sinks.dead!.confirmed.rtu ?? 0, rtuGot, 'confirmed per source = what the sink got of that source');
    assert.equal(a.sinks.dead!.confirmed.plc ?? 0, deadGot.length - rtuGot);
    assert.equal((a.sinks.dead!.dropped.rtu?.lag ?? 0) + rtuGot, 1000);
  });

  test('records in flight when the bound moves past them are delivered, not also counted dropped', async () => {
    const { c, box } = setup();
    const cur = box.cursor('slow', { records: 100, whenBehind: 'drop-oldest' });
    await box.start();
    await box.writeSamples(numberBatch('plc', 0, 50));
    const inFlight = cur.read(cur.rewind(), 50); // handed out, not confirmed
    assert.equal(inFlight.length, 50);
    for (let i = 50; i < 1050; i += 100) await box.writeSamples(numberBatch('plc', i, 100));
    assert.equal(cur.dropped.lag, 0, 'nothing counted while a chunk is in flight');
    cur.ack(inFlight.at(-1)!.seq, inFlight.length); // confirmed: delivered
    const got: number[] = [];
    const rest = drain(cur, got);
    assert.equal(50 + rest + dropped(cur), 1050, 'exact');
    assert.ok(cur.dropped.lag > 0 && cur.dropped.lag <= 1000);
    await assertSourceAccounting(box, c.metrics);
    assert.deepEqual(got, Array.from({ length: got.length }, (_, i) => 1050 - got.length + i));
  });

  test('records in flight when the bound moves past them and then failing are counted dropped once', async () => {
    const { c, box } = setup();
    const cur = box.cursor('slow', { records: 100, whenBehind: 'drop-oldest' });
    await box.start();
    await box.writeSamples(numberBatch('plc', 0, 50));
    const first = cur.read(cur.rewind(), 50);
    assert.equal(first.length, 50);
    for (let i = 50; i < 1050; i += 100) await box.writeSamples(numberBatch(i % 200 === 50 ? 'rtu' : 'plc', i, 100));
    // the send failed: the sink gives its chunk up and starts over from its cursor
    const pos = cur.rewind();
    assert.ok(pos > 50, 'the cursor moved over the given-up chunk (it lies under the bound)');
    const got: number[] = [];
    const delivered = drain(cur, got);
    assert.equal(delivered + dropped(cur), 1050, 'exact');
    assert.equal(cur.rewind(), box.stats().lastSeq);
    const a = await assertSourceAccounting(box, c.metrics);
    assert.deepEqual(a.accepted, { plc: 550, rtu: 500 });
    assert.ok((a.sinks.slow!.dropped.rtu?.lag ?? 0) > 0 && (a.sinks.slow!.dropped.plc?.lag ?? 0) > 0, 'both sources lost records to the bound, each counted on its own');
  });

  test('the outbox\'s own drop-oldest (maxBytes) counts on each sink exactly, in-flight chunks included', async () => {
    const { c, box } = setup({ maxBytes: '200KB', whenFull: 'drop-oldest' });
    const cur = box.cursor('s', { whenBehind: 'block' });
    await box.start();
    await box.writeSamples(numberBatch('plc', 0, 300));
    const inFlight = cur.read(cur.rewind(), 300);
    const total = 200_300; // a poll is one row of 4-byte values: this many to pass 200KB
    for (let i = 300; i < total; i += 500) await box.writeSamples(numberBatch(i % 1000 === 300 ? 'rtu' : 'plc', i, 500));
    assert.ok(box.stats().dropped.full > 0, 'the outbox dropped rows');
    cur.ack(inFlight.at(-1)!.seq, inFlight.length); // they were in memory: delivered
    const got: number[] = [];
    const rest = drain(cur, got, 1000);
    assert.equal(inFlight.length + rest + cur.dropped['outbox-full'], total, 'accepted = delivered + dropped(outbox-full)');
    assert.equal(cur.dropped.lag, 0);
    assert.equal(await metric(c, 'sink.s', 'outbox-full'), cur.dropped['outbox-full']);
    // the outbox counts rows it removed unconfirmed, whoever had them in flight: 300 more than the sink lost here
    assert.equal(box.stats().dropped.full, cur.dropped['outbox-full'] + inFlight.length);
    const a = await assertSourceAccounting(box, c.metrics);
    assert.deepEqual(a.accepted, { plc: 100_300, rtu: 100_000 });
    assert.ok((a.sinks.s!.dropped.rtu?.['outbox-full'] ?? 0) > 0 && (a.sinks.s!.dropped.plc?.['outbox-full'] ?? 0) > 0);
    // the outbox's own drops per source add up to its total
    const byOutbox = (await c.metrics.dropped.get()).values.filter((v) => v.labels.stage === 'outbox' && v.labels.reason === 'outbox-full');
    assert.deepEqual(new Set(byOutbox.map((v) => v.labels.source)), new Set(['plc', 'rtu']));
    assert.equal(byOutbox.reduce((n, v) => n + v.value, 0), box.stats().dropped.full);
  });

  test('block: a sink with whenBehind block holds every record (the outbox bound applies)', async () => {
    const { c, box } = setup();
    const cur = box.cursor('keep', { records: 10, whenBehind: 'block' });
    await box.start();
    for (let i = 0; i < 500; i += 100) await box.writeSamples(numberBatch('plc', i, 100));
    assert.equal(cur.backlog(), 500);
    assert.equal(dropped(cur), 0);
    assert.deepEqual((await assertSourceAccounting(box, c.metrics)).sinks.keep!.pending, { plc: 500 });
  });

  test('age bound: records older than the bound are skipped', async () => {
    const { c, box } = setup();
    const cur = box.cursor('aged', { age: 300, whenBehind: 'drop-oldest' });
    await box.start();
    await box.writeSamples(numberBatch('plc', 0, 100));
    await new Promise((r) => setTimeout(r, 1_300)); // marks are one a second
    await box.writeSamples(numberBatch('plc', 100, 100));
    await box.writeSamples(numberBatch('plc', 200, 1));
    assert.equal(cur.dropped.lag, 100, 'the first 100 are older than 300 ms');
    const got: number[] = [];
    drain(cur, got);
    assert.deepEqual(got, Array.from({ length: 101 }, (_, i) => 100 + i));
    await assertSourceAccounting(box, c.metrics);
  });
});

describe('lag bookkeeping', () => {
  test('commit marks find the newest seq committed before a time', () => {
    const m = new CommitMarks();
    m.add(10, 1_000);
    m.add(20, 1_500); // same second: the mark moves on
    m.add(30, 2_600);
    m.add(40, 4_000);
    assert.equal(m.seqBefore(1_000), 0);
    assert.equal(m.seqBefore(1_501), 20);
    assert.equal(m.seqBefore(3_000), 30);
    assert.equal(m.seqBefore(5_000), 40);
    m.pruneThrough(20);
    assert.equal(m.size, 2);
    assert.equal(m.seqBefore(3_000), 30);
  });

  test('commit marks under steady commits: one mark a second, commit times within the second, estimates close', () => {
    const m = new CommitMarks();
    // a commit of 10 records every 50 ms for 10 s
    for (let i = 1; i <= 200; i++) m.add(i * 10, i * 50);
    assert.ok(m.size >= 9 && m.size <= 11, `one mark a second (${m.size})`);
    for (const seq of [5, 500, 1_001, 1_995]) {
      const truth = Math.ceil(seq / 10) * 50;
      const early = m.committedAt(seq)!;
      assert.ok(early <= truth && truth - early < 1_000, `committedAt(${seq}) = ${early}, committed at ${truth}`);
      const est = m.estimateCommittedAt(seq)!;
      assert.ok(Math.abs(est - truth) <= 100, `estimateCommittedAt(${seq}) = ${est}, committed at ${truth}`);
    }
    assert.equal(m.estimateCommittedAt(2_001), undefined);
    // a sink near the head: the marks below it are pruned, the estimate stays as close
    m.pruneThrough(1_900);
    const est = m.estimateCommittedAt(1_995)!;
    assert.ok(Math.abs(est - 10_000) <= 100, `after pruning: estimateCommittedAt(1995) = ${est}, committed at 10000`);
  });

  test('global drops are attributed by range', () => {
    const g = new GlobalDrops();
    g.add(100, 'outbox-expired');
    g.add(250, 'outbox-full');
    assert.deepEqual(g.attribute(50, 300, 'outbox-full'), [['outbox-expired', 50], ['outbox-full', 150], ['outbox-full', 50]]);
    g.pruneThrough(100);
    assert.deepEqual(g.attribute(120, 200, 'lag'), [['outbox-full', 80]]);
  });
});
