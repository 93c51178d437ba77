import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createOutbox, outboxSchema } from '../../outbox/index.ts';
import { numberBatch, tempContext } from '../../../test/support/outbox/testing.ts';
import { sinkSchema } from '../config.ts';
import { createSink } from '../index.ts';
import { type CompactSamplesJson, decodeCompactSamples } from '../json.ts';

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

test('file sink, format: compact: one line per source of a chunk, the MQTT compact shape; every sample once, in order', async () => {
  const ctx = tempContext('gw-fc');
  try {
    const box = createOutbox(outboxSchema.parse({ commitInterval: '5ms' }), ctx);
    const stage = createSink(sinkSchema.parse({ id: 'f', type: 'file', path: 'out/c.jsonl', format: 'compact', batchSize: 70 }), box, ctx);
    await box.start();
    await stage.start();
    for (let i = 0; i < 200; i += 50) {
      await box.writeSamples(numberBatch('plc1', i, 50));
      await box.writeSamples(numberBatch('plc2', i, 50));
    }
    const end = Date.now() + 10_000;
    while (stage.probe().details?.backlog !== 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    await stage.stop(1000);
    await box.stop(1000);
    const lines = readFileSync(join(ctx.dir, 'out/c.jsonl'), 'utf8').trim().split('\n');
    const msgs = lines.map((l) => JSON.parse(l) as CompactSamplesJson);
    assert.ok(msgs.every((m) => m.gateway === 'gw-fc' && Array.isArray(m.tag) && m.tag.length === m.value.length));
    assert.ok(lines.length < 20, `${lines.length} lines for 400 samples`);
    const samples = msgs.flatMap(decodeCompactSamples);
    for (const src of ['plc1', 'plc2']) assert.deepEqual(samples.filter((s) => s.source === src).map((s) => s.value), Array.from({ length: 200 }, (_, i) => i));
    assert.equal(new Set(samples.map((s) => s.id)).size, 400);
  } finally {
    ctx.cleanup();
  }
});
