import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { SampleValue } from '../core/sample.ts';
import type { OutboxRecord } from '../outbox/index.ts';
import { type CompactSamplesJson, type JsonStrings, batchTexts, compactSamplesText, decodeCompactSamples, recordJson } from './json.ts';

const sample = (seq: number, tag: string, ts: number, value: SampleValue, quality: 'good' | 'uncertain' | 'bad' = 'good', reason?: string): OutboxRecord => {
  const s: Extract<OutboxRecord, { kind: 'sample' }>['sample'] = { source: 'plc1', tag, ts, value, quality };
  if (reason !== undefined) s.reason = reason;
  return { kind: 'sample', seq, id: `gw:k1:${seq}`, sample: s };
};

describe('compact JSON samples', () => {
  test('hand-written bytes: one ts, runs of seq, quality and reason only where not good', () => {
    const recs = [sample(7, 'a', 1000, 1.5), sample(8, 'b', 1000, true), sample(10, 'c', 1000, 2n ** 62n, 'bad', 'timeout')];
    const text = compactSamplesText('gw', 'plc1', 'gw:k1:', recs, new Map());
    assert.equal(text,
      '{"gateway":"gw","source":"plc1","idBase":"gw:k1:","seq":[7,2,10,1],"ts":1000,"tag":["a","b","c"],' +
      '"value":[1.5,true,"4611686018427387904"],"quality":{"2":"bad"},"reason":{"2":"timeout"}}');
  });

  test('a timestamp per sample when they differ; NaN and Infinity as null, as JSON.stringify', () => {
    const text = compactSamplesText('gw', 'plc1', 'gw:k1:', [sample(1, 'a', 1, NaN), sample(2, 'b', 2, Infinity), sample(3, 'c', 2, null)], new Map());
    assert.equal(text, '{"gateway":"gw","source":"plc1","idBase":"gw:k1:","seq":[1,3],"ts":[1,2,2],"tag":["a","b","c"],"value":[null,null,null]}');
  });

  test('property: decoding gives back exactly the per-record JSON of every sample (ids included)', () => {
    const value = fc.oneof(fc.double(), fc.boolean(), fc.string(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }), fc.constant(null));
    const rec = fc.record({
      gap: fc.nat({ max: 3 }), tag: fc.string({ minLength: 1, maxLength: 12 }), ts: fc.integer({ min: 0, max: 2 ** 45 }), sameTs: fc.boolean(),
      value, quality: fc.constantFrom('good', 'good', 'uncertain', 'bad') as fc.Arbitrary<'good' | 'uncertain' | 'bad'>,
      reason: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }),
      float32: fc.option(fc.float(), { nil: undefined }),
    });
    fc.assert(fc.property(fc.array(rec, { minLength: 1, maxLength: 60 }), fc.nat({ max: 1e9 }), (specs, start) => {
      let seq = start;
      const ts0 = specs[0]!.ts;
      const recs = specs.map((s) => {
        const r = sample((seq += 1 + s.gap), s.tag, s.sameTs ? ts0 : s.ts, s.float32 ?? s.value, s.quality, s.reason);
        if (s.float32 !== undefined && r.kind === 'sample') r.sample.float32 = true; // a float32 tag of the device
        return r;
      });
      const seen: JsonStrings = new Map();
      const parsed = JSON.parse(compactSamplesText('gw', 'plc1', 'gw:k1:', recs, seen)) as CompactSamplesJson;
      const back = decodeCompactSamples(parsed);
      // the per-record shape after a JSON round trip, without `kind`
      const want = recs.map((r) => {
        const { kind: _kind, ...o } = JSON.parse(JSON.stringify(recordJson(r))) as Record<string, unknown>;
        return o;
      });
      // a float32 value comes as its shortest text: it reads back as the same float32, not the same double
      back.forEach((b, i) => {
        const r = recs[i]!;
        if (r.kind === 'sample' && r.sample.float32 && typeof b.value === 'number') {
          assert.ok(Math.fround(b.value) === r.sample.value, `${b.value} reads back as ${String(r.sample.value)}`); // -0 is written 0, as JSON.stringify
          b.value = want[i]!.value as number;
        }
      });
      assert.deepEqual(back, want);
    }), { numRuns: 300 });
  });

  test('float32 values: the shortest text that reads back as the float32; doubles keep their exact text', () => {
    const f = sample(1, 'a', 1000, Math.fround(23.4567));
    const d = sample(2, 'b', 1000, Math.fround(23.4567)); // the same bits, but a double (not flagged)
    if (f.kind === 'sample') f.sample.float32 = true;
    const text = compactSamplesText('gw', 'plc1', 'gw:k1:', [f, d], new Map());
    assert.equal(text, '{"gateway":"gw","source":"plc1","idBase":"gw:k1:","seq":[1,2],"ts":1000,"tag":["a","b"],"value":[23.4567,23.45669937133789]}');
  });

  test('wire size: 50 float32 tags with 10-character names (the bench workload), bytes per tag', () => {
    const recs = Array.from({ length: 50 }, (_, j) => sample(1_000_000 + j, `d.sensor_${String(j).padStart(3, '0')}`, 1764500000000, Math.fround(50 + 10 * Math.sin(j))));
    for (const r of recs) if (r.kind === 'sample') r.sample.float32 = true;
    const compact = Buffer.byteLength(compactSamplesText('bench', 'dev000', 'bench:mfx3k2:', recs, new Map())) / 50;
    const records = Buffer.byteLength(JSON.stringify({ gateway: 'bench', records: recs.map(recordJson) })) / 50;
    // the tag name (14 B with quotes and comma) and the float32 text (~8-9 B) are most of it
    assert.ok(compact <= 28, `compact ${compact} B/tag`);
    assert.ok(compact * 5 < records, `compact ${compact} B/tag vs records ${records} B/tag`);
  });

  test('one message per poll: the next poll of a source in a chunk starts a new message; per-sample times stay in one', () => {
    const polls = [sample(1, 'a', 1000, 1), sample(2, 'b', 1000, 2), sample(3, 'a', 1100, 3), sample(4, 'b', 1100, 4)];
    const texts = batchTexts(polls, 'gw', true, () => 't').map((m) => JSON.parse(m.text) as CompactSamplesJson);
    assert.deepEqual(texts.map((m) => [m.ts, m.seq]), [[1000, [1, 2]], [1100, [3, 2]]]);
    // samples that each carry their own time (OPC UA source timestamps): one message with a ts array
    const own = [sample(1, 'a', 1000, 1), sample(2, 'b', 1001, 2), sample(3, 'c', 1002, 3), sample(4, 'd', 1003, 4)];
    assert.deepEqual(batchTexts(own, 'gw', true, () => 't').map((m) => (JSON.parse(m.text) as CompactSamplesJson).ts), [[1000, 1001, 1002, 1003]]);
  });
});
