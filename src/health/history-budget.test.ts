import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BUCKET_BYTES, fitHistory } from './history-budget.ts';
import { slotsOf } from './history.ts';
import { DEFAULT_TAG_STORE } from './tags.ts';

const bytes = (o: typeof DEFAULT_TAG_STORE, tags: number): number => tags * (slotsOf(o.fine) + slotsOf(o.coarse)) * BUCKET_BYTES;

test('under the budget nothing changes; over it only the coarse resolution widens, in whole seconds, until the tags fit', () => {
  // 480 buckets of 16 B = 7,680 B a tag: 2,083 tags fit in 16 MB at the defaults
  assert.equal(fitHistory(DEFAULT_TAG_STORE, 2_000, 16e6).widened, undefined);
  assert.equal(fitHistory(DEFAULT_TAG_STORE, 1e6, 0).widened, undefined, '0: no bound');
  const fit = fitHistory(DEFAULT_TAG_STORE, 5_000, 16e6);
  assert.deepEqual(fit.options.fine, DEFAULT_TAG_STORE.fine);
  assert.equal(fit.options.coarse.span, DEFAULT_TAG_STORE.coarse.span);
  // 16e6 / 16 / 5,000 = 200 buckets a tag, 120 of them live: 80 over the hour, 45 s each
  assert.equal(fit.options.coarse.resolution, 45_000);
  assert.equal(fit.widened?.wanted, 5_000 * 480 * 16);
  assert.ok(bytes(fit.options, 5_000) <= 16e6);
});

test('the widened tiers fit the budget whenever 12 coarse buckets do; never finer than asked', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 200_000 }), fc.integer({ min: 1e5, max: 1e9 }), fc.integer({ min: 1, max: 60 }), (tags, maxBytes, res) => {
    const asked = { ...DEFAULT_TAG_STORE, coarse: { resolution: res * 1_000, span: 3_600_000 } };
    const fit = fitHistory(asked, tags, maxBytes);
    assert.ok(fit.options.coarse.resolution >= asked.coarse.resolution);
    assert.equal(fit.options.coarse.resolution % 1_000, 0);
    assert.deepEqual(fit.options.fine, asked.fine);
    if (fit.widened === undefined) assert.ok(bytes(asked, tags) <= maxBytes, 'left alone only when it fits');
    else if (tags * (120 + 12) * BUCKET_BYTES <= maxBytes) assert.ok(bytes(fit.options, tags) <= maxBytes, `${tags} tags in ${maxBytes} B`);
    else assert.equal(slotsOf(fit.options.coarse), 12, 'past the floor: 12 buckets over the span');
  }));
});
