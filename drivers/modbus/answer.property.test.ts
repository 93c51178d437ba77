/**
 * Properties of the answer path: MBAP framing (mbap.ts), the strict checks (answer.ts) and the
 * decoders (codec.ts), fed random and mutated frames cut into random chunks.
 *
 * - nothing throws out of framing or checking; a decoder throws only its coded FG_E_MODBUS_DECODE;
 * - no out-of-bounds read: a decoder given too few bytes throws, it never makes up a zero;
 * - no good value from an inconsistent frame: data is accepted only when an independent reading
 *   of the raw bytes (the oracle below) finds the frame consistent with its request, and then the
 *   data is exactly the frame's data bytes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isFgError } from '../../src/core/errors.ts';
import { ReadError, checkAnswer, expectedBytes, type FunctionCode } from './answer.ts';
import { DATA_TYPES, ORDERS, compileDecoder, widthOf, type Area, type DataType } from './codec.ts';
import { MbapReader } from './mbap.ts';

interface Req {
  unit: number;
  fc: FunctionCode;
  start: number;
  count: number;
}

const reqArb: fc.Arbitrary<Req> = fc.record({
  unit: fc.integer({ min: 0, max: 255 }),
  fc: fc.constantFrom<FunctionCode>(1, 2, 3, 4),
  start: fc.integer({ min: 0, max: 65535 }),
  count: fc.integer({ min: 1, max: 125 }),
});

function validFrame(tid: number, r: Req, data: Buffer): Buffer {
  const b = Buffer.alloc(9 + data.length);
  b.writeUInt16BE(tid, 0);
  b.writeUInt16BE(0, 2);
  b.writeUInt16BE(3 + data.length, 4);
  b[6] = r.unit;
  b[7] = r.fc;
  b[8] = data.length;
  data.copy(b, 9);
  return b;
}

type Mutation =
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; to: number }
  | { kind: 'append'; bytes: number[] }
  | { kind: 'byteCount'; delta: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(300), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), to: fc.nat(300) }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 12 }) }),
  fc.record({ kind: fc.constant('byteCount' as const), delta: fc.integer({ min: -4, max: 4 }).filter((d) => d !== 0) }),
);

function mutate(frame: Buffer, ms: Mutation[]): Buffer {
  let b = Buffer.from(frame);
  for (const m of ms) {
    if (m.kind === 'set' && b.length > 0) b[m.at % b.length] = m.value;
    else if (m.kind === 'truncate') b = b.subarray(0, Math.min(b.length, m.to));
    else if (m.kind === 'append') b = Buffer.concat([b, Buffer.from(m.bytes)]);
    else if (m.kind === 'byteCount' && b.length > 8) b[8] = (b[8]! + m.delta) & 0xff;
  }
  return b;
}

/** Cuts `bytes` at the given points (each taken modulo the length). */
function chunks(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % bytes.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out;
}

/**
 * The oracle: reads the first frame of `raw` field by field, with nothing shared with the code
 * under test, and says what data a correct client may accept for request `r` (or undefined).
 */
function oracle(raw: Buffer, tid: number, r: Req): Buffer | undefined {
  if (raw.length < 9) return undefined;
  const frameTid = raw[0]! * 256 + raw[1]!;
  const proto = raw[2]! * 256 + raw[3]!;
  const length = raw[4]! * 256 + raw[5]!;
  if (frameTid !== tid || proto !== 0 || length < 2 || length > 254 || raw.length < 6 + length) return undefined;
  if (raw[6] !== r.unit || raw[7] !== r.fc) return undefined;
  const want = r.fc <= 2 ? Math.ceil(r.count / 8) : r.count * 2;
  if (raw[8] !== want || length !== 3 + want) return undefined;
  return raw.subarray(9, 9 + want);
}

/** Feeds raw bytes in chunks through reader and checker, as the wire does. */
function run(raw: Buffer, cuts: number[], tid: number, r: Req): { accepted: Buffer[]; errors: ReadError[]; broken?: string } {
  const reader = new MbapReader();
  const accepted: Buffer[] = [];
  const errors: ReadError[] = [];
  let outstanding = true;
  let broken: string | undefined;
  for (const c of chunks(raw, cuts)) {
    broken = reader.push(c, (t, unit, pdu) => {
      if (t !== tid || !outstanding) return; // stray: no request waits for it
      outstanding = false;
      const res = checkAnswer(r.unit, r.fc, r.start, r.count, unit, pdu);
      if (res instanceof ReadError) errors.push(res);
      else accepted.push(Buffer.from(res));
    });
    if (broken) break;
  }
  return { accepted, errors, broken };
}

test('random bytes in random chunks: nothing throws, nothing is accepted that the oracle refuses', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), fc.array(fc.nat(), { maxLength: 6 }), reqArb, fc.integer({ min: 0, max: 65535 }), (bytes, cuts, r, tid) => {
      const raw = Buffer.from(bytes);
      const { accepted } = run(raw, cuts, tid, r);
      for (const a of accepted) {
        const ok = oracle(raw, tid, r);
        assert.ok(ok, 'accepted a frame the oracle refuses');
        assert.deepEqual(a, Buffer.from(ok));
        assert.equal(a.length, expectedBytes(r.fc, r.count));
      }
    }),
    { numRuns: 3000 },
  );
});

test('mutated valid answers: data is accepted only from a consistent frame, and exactly its data', () => {
  fc.assert(
    fc.property(reqArb, fc.integer({ min: 0, max: 65535 }), fc.array(mutationArb, { maxLength: 3 }), fc.array(fc.nat(), { maxLength: 5 }), fc.nat(), (r, tid, ms, cuts, seed) => {
      const n = expectedBytes(r.fc, r.count);
      const data = Buffer.alloc(n);
      for (let i = 0; i < n; i++) data[i] = (seed + i * 31) & 0xff;
      const raw = mutate(validFrame(tid, r, data), ms);
      const { accepted, errors, broken } = run(raw, cuts, tid, r);
      const ok = oracle(raw, tid, r);
      if (ok) {
        // a consistent frame (possibly with a mutated data byte, which no check can see) is taken whole
        assert.equal(accepted.length, 1, `consistent frame refused: ${errors[0]?.reason ?? broken}`);
        assert.deepEqual(accepted[0], Buffer.from(ok));
      } else {
        assert.equal(accepted.length, 0, `accepted an inconsistent frame ${raw.toString('hex')}`);
      }
      for (const e of errors) assert.ok(e.code === 'FG_E_MODBUS_FRAME' || e.code === 'FG_E_MODBUS_EXCEPTION', e.code);
      if (ms.length === 0) assert.equal(accepted.length, 1);
    }),
    { numRuns: 3000 },
  );
});

const specArb = fc
  .record({
    area: fc.constantFrom<Area>('holding', 'input', 'coil', 'discrete'),
    type: fc.constantFrom<DataType>(...DATA_TYPES),
    order: fc.constantFrom(...ORDERS),
    length: fc.integer({ min: 1, max: 10 }),
    scaled: fc.boolean(),
    bit: fc.option(fc.integer({ min: 0, max: 15 }), { nil: undefined }),
  })
  .map((s) => {
    const bits = s.area === 'coil' || s.area === 'discrete';
    const type: DataType = bits ? 'bool' : s.type;
    const numeric = type !== 'bool' && type !== 'string';
    return {
      area: s.area,
      type,
      order: s.order,
      length: type === 'string' ? s.length : undefined,
      bit: !bits && type === 'bool' ? s.bit : undefined,
      scale: numeric && s.scaled ? 0.5 : undefined,
      offset: numeric && s.scaled ? 3 : undefined,
    };
  });

test('decoders read only inside their buffer: too few bytes is FG_E_MODBUS_DECODE, never a made-up value', () => {
  fc.assert(
    fc.property(specArb, fc.uint8Array({ maxLength: 24 }), fc.integer({ min: -2, max: 200 }), (spec, bytes, at) => {
      const decode = compileDecoder(spec);
      const buf = Buffer.from(bytes);
      const bits = spec.area === 'coil' || spec.area === 'discrete';
      const fits = bits ? at >= 0 && at < buf.length * 8 : at >= 0 && (at + widthOf(spec.area, spec.type, spec.length)) * 2 <= buf.length;
      let threw: unknown;
      let v: unknown;
      try {
        v = decode(buf, at);
      } catch (e) {
        threw = e;
      }
      if (fits) {
        assert.equal(threw, undefined, `threw on a value that fits: ${String(threw)}`);
        // the same bytes with different bytes around them decode the same: nothing outside was read
        const padded = Buffer.concat([Buffer.alloc(8, 0xa5), buf, Buffer.alloc(8, 0x5a)]).subarray(8, 8 + buf.length);
        const again = decode(padded, at);
        if (typeof v === 'number' && Number.isNaN(v)) assert.ok(Number.isNaN(again));
        else assert.deepEqual(again, v);
      } else {
        assert.ok(isFgError(threw, 'FG_E_MODBUS_DECODE'), `no coded error for a value that does not fit: ${String(threw)} / ${String(v)}`);
      }
    }),
    { numRuns: 5000 },
  );
});
