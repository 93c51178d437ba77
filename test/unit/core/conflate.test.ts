import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { Channel } from '../../../src/core/channel.ts';
import { Metrics } from '../../../src/core/metrics.ts';
import { mergeNewestPerTag, type Sample, type SampleBatch } from '../../../src/core/sample.ts';
import { silentLogger } from '../../../src/log.ts';
import type { DriverDefinition } from '../../../src/core/contracts.ts';
import { SourceStage } from '../../../src/pipeline/source-stage.ts';

const sample = (tag: string, value: number, ts: number): Sample => ({ source: 's', tag, ts, value, quality: 'good' });
const batch = (ts: number, values: Record<string, number>): SampleBatch => ({
  source: 's',
  samples: Object.entries(values).map(([tag, v]) => sample(tag, v, ts)),
  receivedAt: ts,
});
const view = (b: SampleBatch): Record<string, number> => Object.fromEntries(b.samples.map((s) => [s.tag, s.value as number]));

test('mergeNewestPerTag keeps every tag of either batch, the newest sample of each', () => {
  assert.deepEqual(view(mergeNewestPerTag(batch(1, { a: 1, b: 1 }), batch(2, { a: 2, c: 2 }))), { a: 2, b: 1, c: 2 });
  // an older sample arriving later does not replace a newer one
  assert.deepEqual(view(mergeNewestPerTag(batch(5, { a: 5 }), batch(3, { a: 3, b: 3 }))), { a: 5, b: 3 });
});

test('a conflating channel with merge never loses a tag that only the queued batch held', () => {
  const ch = new Channel<SampleBatch>({ name: 't', capacity: 4, whenFull: 'conflate', keyOf: (b) => b.source, merge: mergeNewestPerTag });
  ch.trySend(batch(1, { a: 1, b: 1 }));
  ch.trySend(batch(2, { a: 2 })); // deadband: b unchanged, left out
  ch.trySend(batch(3, { c: 3 }));
  assert.equal(ch.depth, 1);
  assert.deepEqual(view(ch.tryRecv()!), { a: 2, b: 1, c: 3 });
  assert.equal(ch.stats().dropped.conflated, 2);
});

// The source stage wires it: a driver whose batches carry only changed tags (as Modbus deadband
// and OPC UA notifications do) fills a conflating channel nobody reads; what is queued then
// holds the newest value of every tag, in one batch. Keyed on each batch's first tag (before),
// these four batches queued as three, {b: 4} replacing {b: 2} and b's newest value arriving
// after c's and a's older ones.
test('SourceStage conflate keeps the newest value of every tag across batches of changing tag sets', async () => {
  const sent: SampleBatch[] = [batch(1, { a: 1, b: 1, c: 1 }), batch(2, { b: 2 }), batch(3, { c: 3, a: 3 }), batch(4, { b: 4 })];
  let done!: () => void;
  const finished = new Promise<void>((r) => { done = r; });
  const driver: DriverDefinition = {
    type: 'scripted',
    description: 'sends a fixed list of batches, then waits',
    schema: z.object({ id: z.string(), type: z.string() }) as unknown as DriverDefinition['schema'],
    channelDefaults: { capacity: 8, whenFull: 'conflate' },
    create: (_cfg, ctx) => ({
      async run(signal) {
        for (const b of sent) await ctx.out.send(b);
        done();
        await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
      },
      probe: () => ({ state: 'up' }),
    }),
  };
  const stage = new SourceStage({ id: 's', type: 'scripted' }, driver, { gateway: { id: 'gw', dataDir: '/tmp' }, log: silentLogger(), metrics: new Metrics(), resolvePath: (p) => p });
  await stage.start();
  await finished;
  await stage.stop(1000);
  const got: SampleBatch[] = [];
  for (let b = stage.channel.tryRecv(); b !== undefined; b = stage.channel.tryRecv()) got.push(b);
  assert.equal(got.length, 1);
  assert.deepEqual(view(got[0]!), { a: 3, b: 4, c: 3 });
});
