// Rows already in the file when the outbox starts: they count per source as `pending at start`
// for each sink (so the accounting identity closes across a restart), and a sink's age bound
// applies to them by their commit times. Real files, written by one outbox and reopened by another.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Metrics } from '../core/metrics.ts';
import { outboxSchema } from './config.ts';
import { createOutbox, type Outbox, type OutboxCursor } from './index.ts';
import { assertSourceAccounting, numberBatch, tempContext } from '../../test/support/outbox/testing.ts';

const contexts: ReturnType<typeof tempContext>[] = [];
const boxes: Outbox[] = [];
after(async () => {
  for (const b of boxes) await b.stop(1000);
  for (const c of contexts) c.cleanup();
});

/** A fresh data dir, and outboxes on it that each get their own metrics (a new process) */
function dir() {
  const c = tempContext('gw-start');
  contexts.push(c);
  return (over: Record<string, unknown> = {}) => {
    const ctx = { ...c, metrics: new Metrics() };
    const box = createOutbox(outboxSchema.parse({ commitInterval: '2ms', housekeepingInterval: 0, ...over }), ctx);
    boxes.push(box);
    return { box, ctx };
  };
}

function drain(cur: OutboxCursor): number[] {
  const got: number[] = [];
  let pos = cur.rewind();
  for (;;) {
    const recs = cur.read(pos, 70);
    if (recs.length === 0) return got;
    for (const r of recs) got.push(r.kind === 'sample' ? (r.sample.value as number) : -1);
    pos = recs.at(-1)!.seq;
    cur.ack(pos, recs.length);
  }
}

test('rows in the file at start count per source and sink as pending at start: the identity closes across a restart', async () => {
  const open = dir();
  const one = open();
  const a1 = one.box.cursor('a');
  one.box.cursor('b');
  await one.box.start();
  for (let i = 0; i < 500; i += 50) await one.box.writeSamples(numberBatch(i % 100 === 0 ? 'plc' : 'rtu', i, 50));
  await one.box.writeEvents([{ source: 'gateway', kind: 'reload', ts: Date.now(), severity: 'info', message: 'x' }]);
  // sink a confirms the first 275 records (half way into a batch row), sink b nothing
  const first = a1.read(a1.rewind(), 275);
  a1.ack(first.at(-1)!.seq, first.length);
  await one.box.stop(2000); // persists the cursor
  await assertSourceAccounting(one.box, one.ctx.metrics);

  const two = open();
  const a = two.box.cursor('a');
  const b = two.box.cursor('b');
  await two.box.start();
  const start = two.box.accounting();
  assert.deepEqual(start.accepted, {});
  // a: records 276..500 (plc 300-349, 400-449; rtu 275-299, 350-399, 450-499) and the event
  assert.deepEqual(start.sinks.a!.pendingAtStart, { plc: 100, rtu: 125, gateway: 1 });
  assert.deepEqual(start.sinks.b!.pendingAtStart, { plc: 250, rtu: 250, gateway: 1 });
  await assertSourceAccounting(two.box, two.ctx.metrics);
  await two.box.writeSamples(numberBatch('plc', 1000, 30));
  const gotA = drain(a);
  const gotB = drain(b);
  assert.deepEqual(gotA.slice(0, 225), Array.from({ length: 225 }, (_, i) => 275 + i));
  assert.equal(gotB.length, 531);
  const end = await assertSourceAccounting(two.box, two.ctx.metrics);
  assert.deepEqual(end.accepted, { plc: 30 });
  assert.equal(Object.keys(start.sinks.a!.pendingAtStart).length, 3);
  assert.deepEqual(end.sinks.a!.confirmed, { plc: 130, rtu: 125, gateway: 1 });
  assert.deepEqual(end.sinks.b!.confirmed, { plc: 280, rtu: 250, gateway: 1 });
  assert.deepEqual(end.sinks.b!.pending, {});
});

test('the age bound applies to rows present in the file at start (written by another outbox)', async () => {
  const open = dir();
  const one = open();
  one.box.cursor('live');
  one.box.cursor('aged');
  await one.box.start();
  for (let i = 0; i < 200; i += 50) await one.box.writeSamples(numberBatch(i < 100 ? 'plc' : 'rtu', i, 50));
  await one.box.stop(2000);
  // older than the bound by the time the next outbox opens the file
  await new Promise((r) => setTimeout(r, 700));

  const two = open();
  const live = two.box.cursor('live');
  const aged = two.box.cursor('aged', { age: 300, whenBehind: 'drop-oldest' });
  const events: string[] = [];
  two.box.onEvent = (e) => events.push(e.kind);
  await two.box.start();
  // at once, before any new write: the old rows are past the bound
  assert.equal(aged.dropped.lag, 200, 'the 200 records from before the start are older than 300 ms');
  assert.equal(aged.backlog(), 0);
  assert.deepEqual(aged.read(aged.rewind(), 10), []);
  assert.ok(events.includes('sink-behind'));
  assert.equal(live.backlog(), 200, 'the sink without a bound keeps them');
  await two.box.writeSamples(numberBatch('plc', 200, 10));
  assert.deepEqual(drain(aged), Array.from({ length: 10 }, (_, i) => 200 + i), 'then it gets what is new');
  const a = await assertSourceAccounting(two.box, two.ctx.metrics);
  assert.deepEqual(a.sinks.aged!.dropped, { plc: { lag: 100 }, rtu: { lag: 100 } });
  assert.equal(drain(live).length, 210);
  await two.box.writeSamples(numberBatch('plc', 210, 1)); // the next commit deletes
  assert.equal(two.box.stats().rows, 1, 'the 210 confirmed or skipped by both are deleted');
  await assertSourceAccounting(two.box, two.ctx.metrics);
});

test('a sink added while running (a reload) starts at the file\'s first row: its pending at start closes the identity', async () => {
  const open = dir();
  const { box, ctx } = open();
  const old = box.cursor('old');
  await box.start();
  await box.writeSamples(numberBatch('plc', 0, 100));
  drain(old);
  await box.writeSamples(numberBatch('plc', 100, 100)); // its commit deletes the first row: the old sink confirmed it
  const added = box.cursor('added');
  await box.writeSamples(numberBatch('rtu', 200, 100));
  assert.deepEqual(drain(added), Array.from({ length: 200 }, (_, i) => 100 + i));
  const a = await assertSourceAccounting(box, ctx.metrics);
  assert.deepEqual(a.sinks.added!.pendingAtStart, { plc: -100 }, 'the 100 records deleted before it existed were never its');
});
