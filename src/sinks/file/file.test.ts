import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createOutbox, outboxSchema } from '../../outbox/index.ts';
import { numberBatch, tempContext } from '../../../test/support/outbox/testing.ts';
import { sinkSchema } from '../config.ts';
import { createSink } from '../index.ts';

test('file sink: JSON lines in order, rotated by size, cursor moves after the write', async () => {
  const ctx = tempContext('gw-f');
  try {
    const box = createOutbox(outboxSchema.parse({ commitInterval: '5ms' }), ctx);
    const stage = createSink(sinkSchema.parse({ id: 'f', type: 'file', path: 'out/records.jsonl', maxBytes: '20KB', keep: 2, batchSize: 50 }), box, ctx);
    await box.start();
    await stage.start();
    for (let i = 0; i < 600; i += 100) await box.writeSamples(numberBatch('plc1', i, 100));
    const end = Date.now() + 10_000;
    while (stage.probe().details?.backlog !== 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    await stage.stop(1000);
    await box.stop(1000);
    const base = join(ctx.dir, 'out/records.jsonl');
    assert.ok(existsSync(`${base}.1`) && existsSync(`${base}.2`) && !existsSync(`${base}.3`), 'rotated, keep 2');
    const lines = [`${base}.2`, `${base}.1`, base].flatMap((p) => readFileSync(p, 'utf8').trim().split('\n'));
    for (const p of [`${base}.1`, base]) assert.ok(readFileSync(p).length <= 20_000);
    const values = lines.map((l) => (JSON.parse(l) as { value: number }).value);
    // the oldest rotated file is gone by design; what is kept is the newest suffix, in order
    assert.deepEqual(values, Array.from({ length: values.length }, (_, i) => 600 - values.length + i));
    assert.ok(values.length > 100);
  } finally {
    ctx.cleanup();
  }
});
