// The writer the router and models use hands back the outbox's own promise: the health side's
// taps observe beside it and never delay or alter a write. The outbox here is a real one.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Metrics } from '../core/metrics.ts';
import type { SampleBatch } from '../core/sample.ts';
import { Taps } from '../health/taps.ts';
import { createLogger } from '../log.ts';
import { createOutbox } from '../outbox/index.ts';
import { outboxSchema } from '../outbox/config.ts';
import { tappedWriter } from './tapped-writer.ts';

const dir = mkdtempSync(join(tmpdir(), 'fg-tapped-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the outbox decides; the taps record what it accepted', async () => {
  const ctx = { gateway: { id: 'gw', dataDir: dir }, log: createLogger({ level: 'silent' }), metrics: new Metrics(), resolvePath: (p: string) => p };
  const outbox = createOutbox(outboxSchema.parse({ path: join(dir, 'outbox.db') }), ctx);
  await outbox.start();
  const taps = new Taps();
  const writer = tappedWriter(outbox, taps);
  try {
    const now = Date.now();
    const batch: SampleBatch = { source: 's', samples: [{ source: 's', tag: 't', ts: now, value: 1, quality: 'good' }], receivedAt: now };
    await writer.writeSamples(batch);
    assert.equal(taps.batchesAccepted, 1, 'acceptance is recorded once the outbox committed');
    assert.ok(taps.lastAcceptedAt >= now);
    assert.equal(taps.tags.get('s', 't')?.value, 1);
    assert.equal(outbox.stats().lastSeq, 1, 'the outbox holds the record');
    await writer.writeEvents([{ ts: now, source: 'gateway', kind: 'k', severity: 'info', message: 'm' }]);
    assert.equal(taps.events.toArray().length, 1);
  } finally {
    await outbox.stop(2_000);
  }
  // a write the outbox refuses (it is stopped) fails with the outbox's error and is not counted accepted
  const now = Date.now();
  await assert.rejects(writer.writeSamples({ source: 's', samples: [{ source: 's', tag: 't', ts: now, value: 2, quality: 'good' }], receivedAt: now }));
  assert.equal(taps.batchesAccepted, 1);
});
