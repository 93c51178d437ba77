import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Downsampled, SeriesBlock, TieredSeries } from './history.ts';
import { TagStore, declaredTags } from './tags.ts';

const T0 = 1_700_000_000_000;

test('a bucket keeps min, max and last of its values; memory is fixed', () => {
  const d = new Downsampled(1_000, 10, T0);
  assert.equal(d.bytes, 10 * 16);
  d.add(T0 + 100, 5);
  d.add(T0 + 200, 9);
  d.add(T0 + 300, 1);
  d.add(T0 + 900, 4);
  d.add(T0 + 1_100, 7);
  const r = d.read(T0 - 10_000, T0 + 1_500);
  assert.deepEqual(r.t, [T0, T0 + 1_000]);
  assert.deepEqual(r.min, [1, 7]);
  assert.deepEqual(r.max, [9, 7]);
  assert.deepEqual(r.last, [4, 7]);
});

test('the ring forgets what is older than its span and never answers stale buckets', () => {
  fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 60_000 }), fc.integer({ min: -1000, max: 1000 })), { maxLength: 300 }), (pts) => {
    const d = new Downsampled(1_000, 10, T0);
    pts.sort((a, b) => a[0] - b[0]);
    for (const [dt, v] of pts) d.add(T0 + dt, v);
    const now = T0 + 60_000;
    const r = d.read(0, now);
    // only buckets of the last 10 s, each holding exactly the values that fell in it
    for (let i = 0; i < r.t.length; i++) {
      assert.ok(r.t[i]! > now - 10_000 - 1);
      const inBucket = pts.filter(([dt]) => Math.floor((T0 + dt) / 1000) * 1000 === r.t[i]).map(([, v]) => v);
      assert.ok(inBucket.length > 0);
      assert.equal(r.min[i], Math.min(...inBucket));
      assert.equal(r.max[i], Math.max(...inBucket));
      assert.equal(r.last[i], inBucket.at(-1));
    }
    const expected = new Set(pts.filter(([dt]) => T0 + dt > now - 10_000 - 1000 && Math.floor((T0 + dt) / 1000) > Math.floor(now / 1000) - 10).map(([dt]) => Math.floor((T0 + dt) / 1000) * 1000));
    assert.equal(r.t.length, expected.size);
  }));
});

test('a tiered series answers coarse buckets then the fine ones', () => {
  const s = new TieredSeries({ resolution: 1_000, span: 10_000 }, { resolution: 10_000, span: 100_000 });
  const now = Date.now();
  for (let t = now - 90_000; t <= now; t += 500) s.add(t, (t / 1000) % 7);
  const r = s.read(now - 100_000, now);
  for (let i = 1; i < r.t.length; i++) assert.ok(r.t[i]! > r.t[i - 1]!, 'times increase');
  assert.ok(r.t.length >= 16 && r.t.length <= 20, `coarse ~8 + fine 10, got ${r.t.length}`);
  assert.equal(s.read(now - 5_000, now).resolutionMs, 1_000);
});

test('the tag store keeps the latest sample per tag, groups by source and device, and filters', () => {
  const store = new TagStore();
  store.declare('press', declaredTags({ devices: [{ name: 'press1', tags: [{ name: 'temperature', engUnit: '°C' }, { name: 'running' }] }, { name: 'chiller', tags: [{ name: 'supply' }] }] }));
  store.declare('line1', declaredTags({ tags: [{ name: 'ambient' }, 'ns=1;s=X'] }));
  assert.equal(store.size, 5);
  const now = Date.now();
  store.record({ source: 'press', receivedAt: now, samples: [
    { source: 'press', tag: 'press1.temperature', ts: now - 5, value: 88.5, quality: 'good' },
    { source: 'press', tag: 'press1.running', ts: now - 5, value: true, quality: 'good' },
    { source: 'press', tag: 'chiller.supply', ts: now - 5, value: null, quality: 'bad', reason: 'timeout' },
  ] });
  const doc = store.list({ now, spark: 60 });
  assert.equal(doc.total, 5);
  const press = doc.sources.find((s) => s.source === 'press')!;
  assert.deepEqual(press.devices.map((d) => d.device), ['press1', 'chiller']);
  const temp = press.devices[0]!.tags[0]!;
  assert.equal(temp.value, 88.5);
  assert.equal(temp.unit, '°C');
  assert.equal(temp.quality, 'good');
  assert.deepEqual(temp.spark, [88.5]);
  const supply = press.devices[1]!.tags[0]!;
  assert.equal(supply.quality, 'bad');
  assert.equal(supply.reason, 'timeout');
  const line = doc.sources.find((s) => s.source === 'line1')!;
  assert.equal(line.devices[0]!.tags[0]!.quality, 'none');
  assert.equal(store.list({ q: 'CHILL' }).shown, 1);
  assert.equal(store.list({ limit: 2 }).shown, 2);
  assert.equal(store.history('press', 'press1.running', now - 60_000, now)!.last[0], 1);
  assert.equal(store.history('press', 'nope', 0, now), undefined);
});

test('the tag store is bounded by maxTags', () => {
  const store = new TagStore({ fine: { resolution: 1_000, span: 2_000 }, coarse: { resolution: 1_000, span: 2_000 }, maxTags: 3 });
  const now = Date.now();
  store.record({ source: 's', receivedAt: now, samples: [1, 2, 3, 4, 5].map((i) => ({ source: 's', tag: `t${i}`, ts: now, value: i, quality: 'good' as const })) });
  assert.equal(store.size, 3);
  assert.equal(store.refused, 2);
});

test('series sharing a bucket store (a block) answer exactly as series of their own (property)', () => {
  const pt = fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 400_000 }), fc.integer({ min: -1000, max: 1000 }));
  fc.assert(fc.property(fc.array(pt, { maxLength: 300 }), fc.integer({ min: 0, max: 400_000 }), (pts, since) => {
    const fine = { resolution: 1_000, span: 10_000 };
    const coarse = { resolution: 10_000, span: 100_000 };
    const block = new SeriesBlock(fine, coarse, 4);
    const shared = [0, 1, 2, 3].map(() => block.take());
    assert.equal(block.full, true);
    const own = [0, 1, 2, 3].map(() => new TieredSeries(fine, coarse));
    // series start at the clock (their ring begins there): the points follow it
    const t0 = Date.now() + 1_000;
    pts.sort((a, b) => a[1] - b[1]);
    for (const [k, dt, v] of pts) {
      shared[k]!.add(t0 + dt, v);
      own[k]!.add(t0 + dt, v);
    }
    const now = t0 + 400_000;
    let seen = 0;
    for (let k = 0; k < 4; k++) {
      const r = own[k]!.read(t0 + since, now);
      seen += r.t.length;
      assert.deepEqual(shared[k]!.read(t0 + since, now), r, `series ${k}`);
    }
    // not vacuous: a point well inside the coarse tier's hour (and after since) is in the answers
    if (pts.some(([, dt]) => dt > 310_000 && dt < 370_000 && dt >= since + 10_000)) assert.ok(seen > 0);
  }), { numRuns: 200 });
});
