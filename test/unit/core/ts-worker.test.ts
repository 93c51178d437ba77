// Worker threads started by startTsWorker keep a small young generation whatever the main
// thread's --max-semi-space-size (V8 would otherwise size theirs from the same flag).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { WORKER_YOUNG_GENERATION_MB, startTsWorker, workerModule } from '../../../src/core/ts-worker.ts';

async function newSpaceOf(opts: Parameters<typeof startTsWorker>[1] = {}): Promise<number> {
  const w = startTsWorker(workerModule('./fixtures/churn-worker', import.meta.url), opts);
  const [m] = (await once(w, 'message')) as [{ newSpace: number }];
  await w.terminate();
  return m.newSpace / 1048576;
}

test('a worker thread gets a young generation of WORKER_YOUNG_GENERATION_MB unless its caller sets one', async () => {
  // new_space is the two semi-spaces: two thirds of the young generation at most
  const small = await newSpaceOf();
  assert.ok(small <= (WORKER_YOUNG_GENERATION_MB * 2) / 3 + 0.5, `new space ${small.toFixed(1)} MB`);
  // the control: the same churn with a larger limit grows larger, so the bound above is the limit's doing
  const large = await newSpaceOf({ resourceLimits: { maxYoungGenerationSizeMb: 96 } });
  assert.ok(large > small * 2, `new space ${large.toFixed(1)} MB with 96 MB allowed, ${small.toFixed(1)} MB by default`);
});
