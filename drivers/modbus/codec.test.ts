// Decoding against hand-computed byte fixtures (IEEE 754 tables, the Modbus Application Protocol
// Specification V1.1b3 examples, and the word-swapped layouts vendor manuals document), then the
// simulator's encoder against the same bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileDecoder, compileEncoder, permutation, type DataType, type Order, type ValueSpec } from './codec.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

interface Fixture {
  type: DataType;
  order: Order;
  bytes: string;
  value: number | bigint | string | boolean;
  length?: number;
}

// float32 123.456 = 0x42F6E979 (IEEE 754 single), int32 -123456789 = 0xF8A432EB,
// float64 123.456 = 0x405EDD2F1A9FBE77, int64 0x0102030405060708 = 72623859790382856.
const FIXTURES: Fixture[] = [
  { type: 'float32', order: 'ABCD', bytes: '42 F6 E9 79', value: 123.45600128173828 },
  { type: 'float32', order: 'CDAB', bytes: 'E9 79 42 F6', value: 123.45600128173828 },
  { type: 'float32', order: 'BADC', bytes: 'F6 42 79 E9', value: 123.45600128173828 },
  { type: 'float32', order: 'DCBA', bytes: '79 E9 F6 42', value: 123.45600128173828 },
  // a vendor-manual classic: 12.5 = 0x41480000, sent low word first (CDAB)
  { type: 'float32', order: 'CDAB', bytes: '00 00 41 48', value: 12.5 },
  { type: 'float32', order: 'ABCD', bytes: 'C0 20 00 00', value: -2.5 },
  { type: 'int16', order: 'ABCD', bytes: 'FF FE', value: -2 },
  { type: 'int16', order: 'BADC', bytes: 'FE FF', value: -2 },
  { type: 'int16', order: 'CDAB', bytes: '80 00', value: -32768 },
  { type: 'uint16', order: 'ABCD', bytes: 'FF FE', value: 65534 },
  { type: 'uint16', order: 'DCBA', bytes: '2B 02', value: 555 },
  { type: 'int32', order: 'ABCD', bytes: 'F8 A4 32 EB', value: -123456789 },
  { type: 'int32', order: 'CDAB', bytes: '32 EB F8 A4', value: -123456789 },
  { type: 'int32', order: 'BADC', bytes: 'A4 F8 EB 32', value: -123456789 },
  { type: 'int32', order: 'DCBA', bytes: 'EB 32 A4 F8', value: -123456789 },
  { type: 'uint32', order: 'ABCD', bytes: 'FF FF FF FF', value: 4294967295 },
  { type: 'uint32', order: 'CDAB', bytes: '56 78 12 34', value: 0x12345678 },
  { type: 'int64', order: 'ABCD', bytes: '01 02 03 04 05 06 07 08', value: 72623859790382856n },
  { type: 'int64', order: 'CDAB', bytes: '07 08 05 06 03 04 01 02', value: 72623859790382856n },
  { type: 'int64', order: 'BADC', bytes: '02 01 04 03 06 05 08 07', value: 72623859790382856n },
  { type: 'int64', order: 'DCBA', bytes: '08 07 06 05 04 03 02 01', value: 72623859790382856n },
  { type: 'int64', order: 'ABCD', bytes: 'FF FF FF FF FF FF FF FF', value: -1 },
  { type: 'int64', order: 'ABCD', bytes: 'FF E0 00 00 00 00 00 01', value: -9007199254740991 },
  { type: 'uint64', order: 'ABCD', bytes: 'FF FF FF FF FF FF FF FF', value: 18446744073709551615n },
  { type: 'uint64', order: 'DCBA', bytes: 'E8 03 00 00 00 00 00 00', value: 1000 },
  { type: 'float64', order: 'ABCD', bytes: '40 5E DD 2F 1A 9F BE 77', value: 123.456 },
  { type: 'float64', order: 'CDAB', bytes: 'BE 77 1A 9F DD 2F 40 5E', value: 123.456 },
  { type: 'float64', order: 'BADC', bytes: '5E 40 2F DD 9F 1A 77 BE', value: 123.456 },
  { type: 'float64', order: 'DCBA', bytes: '77 BE 9F 1A 2F DD 5E 40', value: 123.456 },
  { type: 'float64', order: 'ABCD', bytes: '3F F0 00 00 00 00 00 00', value: 1 },
  { type: 'string', order: 'ABCD', bytes: '41 42 43 44', value: 'ABCD', length: 2 },
  { type: 'string', order: 'BADC', bytes: '42 41 44 43', value: 'ABCD', length: 2 },
  { type: 'string', order: 'ABCD', bytes: '48 69 00 00 00 00', value: 'Hi', length: 3 },
];

test('every type in every order decodes hand-computed bytes', () => {
  for (const f of FIXTURES) {
    const spec: ValueSpec = { area: 'holding', type: f.type, order: f.order, length: f.length };
    // place the value at register 1 after one filler register, as inside a coalesced read
    const buf = Buffer.concat([hex('AA AA'), hex(f.bytes), hex('BB BB')]);
    assert.deepEqual(compileDecoder(spec)(buf, 1), f.value, `${f.type} ${f.order} ${f.bytes}`);
  }
});

test('the encoder writes the same bytes (the simulator serves what the spec says)', () => {
  for (const f of FIXTURES) {
    const spec: ValueSpec = { area: 'holding', type: f.type, order: f.order, length: f.length };
    const buf = Buffer.alloc(hex(f.bytes).length + 2);
    compileEncoder(spec)(f.value, buf, 1);
    assert.equal(buf.subarray(2).toString('hex'), hex(f.bytes).toString('hex'), `${f.type} ${f.order}`);
  }
});

test('spec example FC3: registers 108-110 answer 02 2B 00 00 00 64', () => {
  const data = hex('02 2B 00 00 00 64');
  const u16 = compileDecoder({ area: 'holding', type: 'uint16', order: 'ABCD' });
  assert.deepEqual([u16(data, 0), u16(data, 1), u16(data, 2)], [555, 0, 100]);
});

test('spec example FC1: coils 20-38 answer CD 6B 05 (LSB of the first byte is coil 20)', () => {
  const data = hex('CD 6B 05');
  const bit = compileDecoder({ area: 'coil', type: 'bool', order: 'ABCD' });
  const coils20to27 = Array.from({ length: 8 }, (_, i) => bit(data, i));
  assert.deepEqual(coils20to27, [true, false, true, true, false, false, true, true]);
  // 6B = 0110 1011 -> coils 28..35; 05 -> coils 36..38 = 1, 0, 1
  assert.deepEqual([bit(data, 8), bit(data, 10), bit(data, 15)], [true, false, false]);
  assert.deepEqual([bit(data, 16), bit(data, 17), bit(data, 18)], [true, false, true]);
});

test('single bits of a register, and bool registers', () => {
  const data = hex('80 01');
  const b = (bit: number, order: Order = 'ABCD') => compileDecoder({ area: 'holding', type: 'bool', order, bit })(data, 0);
  assert.equal(b(15), true);
  assert.equal(b(0), true);
  assert.equal(b(1), false);
  // byte-swapped device: the same bytes mean 0x0180
  assert.equal(b(15, 'BADC'), false);
  assert.equal(b(8, 'BADC'), true);
  assert.equal(compileDecoder({ area: 'input', type: 'bool', order: 'ABCD' })(hex('00 00'), 0), false);
  assert.equal(compileDecoder({ area: 'input', type: 'bool', order: 'ABCD' })(hex('00 02'), 0), true);
  const enc = compileEncoder({ area: 'holding', type: 'bool', order: 'ABCD', bit: 3 });
  const buf = hex('80 00');
  enc(true, buf, 0);
  assert.equal(buf.toString('hex'), '8008');
});

test('scale and offset, also on 64-bit values', () => {
  assert.equal(compileDecoder({ area: 'input', type: 'int16', order: 'ABCD', scale: 0.1, offset: -10 })(hex('00 FA'), 0), 15);
  assert.equal(compileDecoder({ area: 'input', type: 'uint64', order: 'ABCD', scale: 0.001 })(hex('00 00 00 00 00 0F 42 40'), 0), 1000);
});

test('NaN and infinities decode as such (the source marks them bad)', () => {
  const f = compileDecoder({ area: 'holding', type: 'float32', order: 'ABCD' });
  assert.ok(Number.isNaN(f(hex('7F C0 00 00'), 0)));
  assert.equal(f(hex('7F 80 00 00'), 0), Infinity);
});

test('permutations: 16-bit values ignore the word swap', () => {
  assert.deepEqual(permutation(1, 'CDAB'), [0, 1]);
  assert.deepEqual(permutation(2, 'DCBA'), [3, 2, 1, 0]);
});
