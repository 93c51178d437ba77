import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BinaryStream, DataType, DataValue, StatusCodes, Variant, VariantArrayType, decodeDataValue, decodeVariant } from 'node-opcua';
import type { Sample } from '../../src/core/sample.ts';
import { SampleShaper, Unsupported, convertArray, convertValue, qualityOf, toSample } from './values.ts';

// Fixtures are written byte by byte from OPC UA Part 6 (5.2 built-in types, 5.2.2.16 Variant,
// 5.2.2.17 DataValue), not produced by node-opcua's encoder.
const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');

describe('opcua values', () => {
  it('maps StatusCode severity bits to quality (Part 4, 7.39: 00 good, 01 uncertain, 10/11 bad)', () => {
    assert.equal(StatusCodes.BadNodeIdUnknown.value, 0x80340000);
    assert.equal(StatusCodes.UncertainLastUsableValue.value, 0x40900000);
    assert.equal(qualityOf(StatusCodes.Good), 'good');
    assert.equal(qualityOf(StatusCodes.UncertainLastUsableValue), 'uncertain');
    assert.equal(qualityOf(StatusCodes.BadNodeIdUnknown), 'bad');
    assert.equal(qualityOf(StatusCodes.BadSensorFailure), 'bad');
  });

  it('decodes an Int64 Variant from its bytes to a number, and 64-bit values beyond 2^53 to bigint', () => {
    // encoding byte 0x08 = Int64, then -5,000,000,000 little-endian two's complement
    const v = decodeVariant(new BinaryStream(hex('08 00 0e fa d5 fe ff ff ff')));
    assert.deepEqual(convertValue(v.dataType, v.arrayType, v.value), -5_000_000_000);
    // encoding byte 0x09 = UInt64, 2^63 + 1
    const u = decodeVariant(new BinaryStream(hex('09 01 00 00 00 00 00 00 80')));
    assert.deepEqual(convertValue(u.dataType, u.arrayType, u.value), 9223372036854775809n);
    // Int64 -1
    const m = decodeVariant(new BinaryStream(hex('08 ff ff ff ff ff ff ff ff')));
    assert.deepEqual(convertValue(m.dataType, m.arrayType, m.value), -1);
  });

  it('decodes a DataValue (value, status, source timestamp) from its bytes into a sample', () => {
    // mask 0x07: value + status + source timestamp; Double 1.5; BadNodeIdUnknown; 2024-01-01T00:00:00Z
    // as 100 ns ticks since 1601-01-01: (1704067200000 + 11644473600000) * 10000
    const dv = decodeDataValue(new BinaryStream(hex('07  0b 00 00 00 00 00 00 f8 3f  00 00 34 80  00 c0 89 76 45 3c da 01')));
    const s = toSample('plc', 'temp', dv, 42);
    assert.deepEqual(s, { source: 'plc', tag: 'temp', ts: Date.UTC(2024, 0, 1), value: 1.5, quality: 'bad', reason: 'BadNodeIdUnknown' });
    // no source timestamp: falls back to the time of arrival
    const bare = decodeDataValue(new BinaryStream(hex('01 01 01')));
    assert.deepEqual(toSample('plc', 'on', bare, 42), { source: 'plc', tag: 'on', ts: 42, value: true, quality: 'good' });
  });

  it('converts Boolean, String, DateTime, Float; convertValue leaves arrays to convertArray', () => {
    // encoding byte 0x0c = String, length 2, "ok"
    const str = decodeVariant(new BinaryStream(hex('0c 02 00 00 00 6f 6b')));
    assert.deepEqual(convertValue(str.dataType, str.arrayType, str.value), 'ok');
    // 0x0d = DateTime 2024-01-01T00:00:00Z
    const dt = decodeVariant(new BinaryStream(hex('0d 00 c0 89 76 45 3c da 01')));
    assert.deepEqual(convertValue(dt.dataType, dt.arrayType, dt.value), '2024-01-01T00:00:00.000Z');
    // 0x0a = Float 0.5
    const f = decodeVariant(new BinaryStream(hex('0a 00 00 00 3f')));
    assert.deepEqual(convertValue(f.dataType, f.arrayType, f.value), 0.5);
    // a Float DataValue (mask 0x01: value only) is flagged float32 (sinks print its shortest float32 text); the Double above is not
    assert.deepEqual(toSample('plc', 'f', decodeDataValue(new BinaryStream(hex('01 0a cd cc 8c 3f'))), 42), { source: 'plc', tag: 'f', ts: 42, value: Math.fround(1.1), quality: 'good', float32: true });
    // 0x8b = array flag | Double, 2 elements
    const arr = decodeVariant(new BinaryStream(hex('8b 02 00 00 00 00 00 00 00 00 00 f0 3f 00 00 00 00 00 00 00 40')));
    assert.equal(arr.arrayType, VariantArrayType.Array);
    assert.deepEqual(convertValue(arr.dataType, arr.arrayType, arr.value), new Unsupported('array of Double'));
    assert.deepEqual(convertValue(DataType.ByteString, VariantArrayType.Scalar, Buffer.from('x')), new Unsupported('ByteString'));
  });

  it('converts one-dimensional arrays element by element like the scalar, up to a cap', () => {
    // 0x8b = array flag | Double, length 2, 1.0 and 2.0
    const d = decodeVariant(new BinaryStream(hex('8b 02 00 00 00  00 00 00 00 00 00 f0 3f  00 00 00 00 00 00 00 40')));
    assert.deepEqual(convertArray(d.dataType, d.arrayType, d.value, 1000), { values: [1, 2], length: 2 });
    assert.deepEqual(convertArray(d.dataType, d.arrayType, d.value, 1), { values: [1], length: 2 });
    // 0x88 = array | Int64, length 2: -5,000,000,000 and 2^53 + 1 (kept exact as bigint, like the scalar)
    const i64 = decodeVariant(new BinaryStream(hex('88 02 00 00 00  00 0e fa d5 fe ff ff ff  01 00 00 00 00 00 20 00')));
    assert.deepEqual(convertArray(i64.dataType, i64.arrayType, i64.value, 1000), { values: [-5_000_000_000, 9007199254740993n], length: 2 });
    // 0x81 = array | Boolean, length 3: true false true
    const b = decodeVariant(new BinaryStream(hex('81 03 00 00 00 01 00 01')));
    assert.deepEqual(convertArray(b.dataType, b.arrayType, b.value, 1000), { values: [true, false, true], length: 3 });
    // 0x8c = array | String, length 2: "ok" and a null string (length -1)
    const str = decodeVariant(new BinaryStream(hex('8c 02 00 00 00  02 00 00 00 6f 6b  ff ff ff ff')));
    assert.deepEqual(convertArray(str.dataType, str.arrayType, str.value, 1000), { values: ['ok', null], length: 2 });
    // 0x86 = array | Int32, length 0
    const empty = decodeVariant(new BinaryStream(hex('86 00 00 00 00')));
    assert.deepEqual(convertArray(empty.dataType, empty.arrayType, empty.value, 1000), { values: [], length: 0 });
  });

  it('refuses matrices and arrays of structures or byte strings', () => {
    // 0xcb = array | dimensions | Double, 4 elements, then 2 dimensions: 2 x 2
    const m = decodeVariant(new BinaryStream(hex('cb 04 00 00 00  00 00 00 00 00 00 f0 3f  00 00 00 00 00 00 00 40  00 00 00 00 00 00 08 40  00 00 00 00 00 00 10 40  02 00 00 00 02 00 00 00 02 00 00 00')));
    assert.equal(m.arrayType, VariantArrayType.Matrix);
    assert.deepEqual(convertArray(m.dataType, m.arrayType, m.value, 1000), new Unsupported('matrix of Double'));
    assert.deepEqual(convertValue(m.dataType, m.arrayType, m.value), new Unsupported('matrix of Double'));
    assert.deepEqual(convertArray(DataType.ExtensionObject, VariantArrayType.Array, [], 1000), new Unsupported('array of ExtensionObject'));
    assert.deepEqual(convertArray(DataType.ByteString, VariantArrayType.Array, [Buffer.from('x')], 1000), new Unsupported('array of ByteString'));
    const shaper = new SampleShaper('plc', () => {});
    const out: Sample[] = [];
    shaper.push(out, 'm', decodeDataValue(new BinaryStream(Buffer.concat([hex('01'), hex('cb 01 00 00 00 00 00 00 00 00 00 f0 3f 02 00 00 00 01 00 00 00 01 00 00 00')]))), 42, 1000);
    assert.deepEqual(out, [{ source: 'plc', tag: 'm', ts: 42, value: null, quality: 'bad', reason: 'unsupported type: matrix of Double' }]);
  });

  it('shapes array DataValues into <tag>[i] samples with one ts and quality, and counts the cut', () => {
    const cuts: [string, number, number][] = [];
    const shaper = new SampleShaper('plc', (tag, length, max) => cuts.push([tag, length, max]));
    const ts = new Date(Date.UTC(2024, 0, 1));
    const dv = (value: number[] | null, statusCode = StatusCodes.Good) => new DataValue({
      value: value === null ? new Variant({ dataType: DataType.Null }) : new Variant({ dataType: DataType.Double, arrayType: VariantArrayType.Array, value }),
      statusCode,
      sourceTimestamp: ts,
    });
    const push = (d: DataValue, max = 1000) => {
      const out: Sample[] = [];
      shaper.push(out, 'p', d, 42, max);
      return out.map((s) => [s.tag, s.value, s.quality, s.reason ?? '', s.ts]);
    };
    const t = ts.getTime();
    assert.deepEqual(push(dv([1, 2, 3])), [['p[0]', 1, 'good', '', t], ['p[1]', 2, 'good', '', t], ['p[2]', 3, 'good', '', t]]);
    // a bad status with the values: every element bad, values kept
    assert.deepEqual(push(dv([1, 2, 3], StatusCodes.BadSensorFailure)).map((r) => r.slice(0, 4)), [
      ['p[0]', 1, 'bad', 'BadSensorFailure'], ['p[1]', 2, 'bad', 'BadSensorFailure'], ['p[2]', 3, 'bad', 'BadSensorFailure'],
    ]);
    // a bad status without a value (what servers usually send): every known element bad
    assert.deepEqual(push(dv(null, StatusCodes.BadCommunicationError)).map((r) => r.slice(0, 4)), [
      ['p[0]', null, 'bad', 'BadCommunicationError'], ['p[1]', null, 'bad', 'BadCommunicationError'], ['p[2]', null, 'bad', 'BadCommunicationError'],
    ]);
    // uncertain: the status name as reason
    assert.deepEqual(push(dv([5], StatusCodes.UncertainLastUsableValue)).slice(0, 1).map((r) => r.slice(0, 4)), [['p[0]', 5, 'uncertain', 'UncertainLastUsableValue']]);
    // the array shrank from 3 (known) to 1 above: the vanished elements got a bad sample each
    assert.deepEqual(push(dv([7, 8, 9])).length, 3);
    assert.deepEqual(push(dv([4])).map((r) => r.slice(0, 4)), [['p[0]', 4, 'good', ''], ['p[1]', null, 'bad', 'not in array (length 1)'], ['p[2]', null, 'bad', 'not in array (length 1)']]);
    // the cap: the first two elements, the rest counted and reported
    assert.deepEqual(push(dv([1, 2, 3, 4, 5]), 2).map((r) => r[0]), ['p[0]', 'p[1]']);
    assert.equal(shaper.truncated, 3);
    assert.deepEqual(cuts, [['p', 5, 2]]);
    // a scalar tag is one sample under its own name
    const out: Sample[] = [];
    shaper.push(out, 'temp', new DataValue({ value: new Variant({ dataType: DataType.Double, value: 1.5 }) }), 42, 1000);
    assert.deepEqual(out, [{ source: 'plc', tag: 'temp', ts: 42, value: 1.5, quality: 'good' }]);
  });
});
