import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BinaryStream, DataType, StatusCodes, VariantArrayType, decodeDataValue, decodeVariant } from 'node-opcua';
import { Unsupported, convertValue, qualityOf, toSample } from './values.ts';

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

  it('converts Boolean, String, DateTime, Float; refuses arrays with a reason', () => {
    // encoding byte 0x0c = String, length 2, "ok"
    const str = decodeVariant(new BinaryStream(hex('0c 02 00 00 00 6f 6b')));
    assert.deepEqual(convertValue(str.dataType, str.arrayType, str.value), 'ok');
    // 0x0d = DateTime 2024-01-01T00:00:00Z
    const dt = decodeVariant(new BinaryStream(hex('0d 00 c0 89 76 45 3c da 01')));
    assert.deepEqual(convertValue(dt.dataType, dt.arrayType, dt.value), '2024-01-01T00:00:00.000Z');
    // 0x0a = Float 0.5
    const f = decodeVariant(new BinaryStream(hex('0a 00 00 00 3f')));
    assert.deepEqual(convertValue(f.dataType, f.arrayType, f.value), 0.5);
    // 0x8b = array flag | Double, 2 elements
    const arr = decodeVariant(new BinaryStream(hex('8b 02 00 00 00 00 00 00 00 00 00 f0 3f 00 00 00 00 00 00 00 40')));
    assert.equal(arr.arrayType, VariantArrayType.Array);
    assert.deepEqual(convertValue(arr.dataType, arr.arrayType, arr.value), new Unsupported('array of Double'));
    assert.deepEqual(convertValue(DataType.ByteString, VariantArrayType.Scalar, Buffer.from('x')), new Unsupported('ByteString'));
  });
});
