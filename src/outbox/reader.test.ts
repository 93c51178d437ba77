// A sink behind the in-memory tail reads its rows from the file off the main thread: the reader
// thread fetches the next chunk while the sink sends the last one. Real files; the records are
// the same as a read on the main thread, in order; stop leaves no thread behind.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Metrics } from '../core/metrics.ts';
import { outboxSchema } from './config.ts';
import { createOutbox, type Outbox } from './index.ts';
import { assertSourceAccounting, numberBatch, tempContext } from '../../test/support/outbox/testing.ts';
import { until } from '../../test/support/wait.ts';

const contexts: ReturnType<typeof tempContext>[] = [];
const boxes: Outbox[] = [];
after(async () => {
  for (const b of boxes) await b.stop(1000);
  for (const c of contexts) c.cleanup();
});

test('a sink behind the tail (after a restart) gets its chunks from the reader thread: every record, in order, exactly once; no thread left after stop', async (t) => {
  const c = tempContext('gw-reader');
  contexts.push(c);
  const open = () => {
    const ctx = { ...c, metrics: new Metrics() };
    const box = createOutbox(outboxSchema.parse({ commitInterval: '2ms' }), ctx);
    boxes.push(box);
    return { box, ctx };
  };
  const one = open();
  one.box.cursor('s');
  await one.box.start();
  const total = 20_000;
  for (let i = 0; i < total; i += 100) await one.box.writeSamples(numberBatch(i % 200 === 0 ? 'plc' : 'rtu', i, 100));
  await one.box.stop(2000);

  const before = new Set(process.getActiveResourcesInfo());
  const two = open();
  const cur = two.box.cursor('s');
  await two.box.start();
  // a sink: reads a chunk, sends it (an upstream round trip), confirms it, reads the next
  const got: number[] = [];
  let pos = cur.rewind();
  // no sink has fallen behind yet: no reader thread (its isolate costs ~10 MB)
  assert.equal(two.box.stats().readerThread, 'off');
  // the first read behind the tail starts it (that read and those until it is up are made here)
  const first = cur.read(pos, 500);
  for (const r of first) got.push(r.kind === 'sample' ? (r.sample.value as number) : -1);
  pos = first.at(-1)!.seq;
  cur.ack(pos, first.length);
  assert.equal(two.box.stats().readerThread, 'starting');
  await until('the reader thread is up', () => two.box.stats().readerThread === 'up');
  for (;;) {
    const recs = cur.read(pos, 500);
    if (recs.length === 0) break;
    for (const r of recs) got.push(r.kind === 'sample' ? (r.sample.value as number) : -1);
    pos = recs.at(-1)!.seq;
    await new Promise((r) => setTimeout(r, 5)); // the send
    cur.ack(pos, recs.length);
  }
  assert.deepEqual(got, Array.from({ length: total }, (_, i) => i), 'every record, in order, once');
  const reads = two.box.stats().readerReads;
  t.diagnostic(`${reads} of ${Math.ceil(total / 500)} chunks read on the reader thread`);
  assert.ok(reads >= 30, `most of the 39 chunks after it was up came from the reader thread (${reads})`);
  const a = await assertSourceAccounting(two.box, two.ctx.metrics);
  assert.deepEqual(a.sinks.s!.confirmed, { plc: 10_000, rtu: 10_000 });
  // a read in flight when the outbox stops is dropped with the thread
  cur.rewind();
  await two.box.writeSamples(numberBatch('plc', total, 10));
  await two.box.stop(2000);
  const leftover = process.getActiveResourcesInfo().filter((r) => !before.has(r) && r !== 'TTYWrap');
  assert.deepEqual(leftover, []);
});
