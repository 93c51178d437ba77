// The WAL's early-checkpoint bound follows the free space above diskReserve: with room to spare
// a WAL well past half the reserve waits for checkpointInterval (fewer bytes written per tag),
// while on a nearly full filesystem outbox-disk-full.test.ts shows the conservative side.
import assert from 'node:assert/strict';
import { statSync, statfsSync } from 'node:fs';
import { after, test } from 'node:test';
import { Metrics } from '../core/metrics.ts';
import { createOutbox, outboxSchema } from './index.ts';
import { numberBatch, tempContext } from '../../test/support/outbox/testing.ts';

const ctx = tempContext('gw-wal-bound');
after(() => ctx.cleanup());

test('with room to spare, a WAL past half of diskReserve is not checkpointed early', async (t) => {
  const st = statfsSync(ctx.dir);
  const reserve = 1024 * 1024;
  if (st.bavail * st.bsize < reserve + 256 * 1024 * 1024) {
    t.skip('needs 256 MB free above the reserve on the temp filesystem');
    return;
  }
  const box = createOutbox(outboxSchema.parse({ diskReserve: reserve, checkpointInterval: '10m', commitInterval: '2ms' }), { ...ctx, metrics: new Metrics() });
  box.cursor('s');
  await box.start();
  try {
    const wal = `${box.stats().file}-wal`;
    let walBytes = 0;
    for (let i = 0; walBytes < 3 * reserve && i < 2_000_000; i += 2_000) {
      await box.writeSamples(numberBatch(i % 4_000 === 0 ? 'a' : 'b', i, 2_000));
      try { walBytes = statSync(wal).size; } catch { /* not yet */ }
    }
    assert.ok(walBytes >= 3 * reserve, `the WAL grew past the reserve (${walBytes} B)`);
    // the old bound (half the reserve, 512 KB) would have checkpointed several times by now
    assert.equal(box.stats().checkpoints, 0, 'no early checkpoint while the disk has room');
  } finally {
    await box.stop(2_000);
  }
});
