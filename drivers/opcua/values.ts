import { DataType, VariantArrayType, type DataValue, type StatusCode } from 'node-opcua';
import type { Quality, Sample, SampleValue } from '../../src/core/sample.ts';

/** StatusCode severity (the top two bits) to quality: 00 Good, 01 Uncertain, 1x Bad. */
export function qualityOf(sc: StatusCode): Quality {
  const severity = sc.value >>> 30;
  return severity === 0 ? 'good' : severity === 1 ? 'uncertain' : 'bad';
}

/** Int64/UInt64 arrive from node-opcua as [high, low] 32-bit words; bigint only beyond 2^53. */
function int64(words: unknown, signed: boolean): SampleValue {
  if (!Array.isArray(words) || words.length !== 2) return typeof words === 'number' ? words : null;
  const raw = (BigInt(words[0] as number >>> 0) << 32n) | BigInt(words[1] as number >>> 0);
  const v = signed ? BigInt.asIntN(64, raw) : raw;
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** What convertValue returns for a type it does not carry (no allocation on the common path). */
export class Unsupported {
  constructor(readonly what: string) {}
}

/** Scalars of every numeric type, Boolean, String, DateTime (ISO 8601 string). Arrays and structures are not supported yet. */
export function convertValue(dataType: DataType, arrayType: VariantArrayType, value: unknown): SampleValue | Unsupported {
  if (arrayType !== VariantArrayType.Scalar) return new Unsupported(`array of ${DataType[dataType]}`);
  switch (dataType) {
    case DataType.Double: case DataType.Float: case DataType.Int32: case DataType.UInt32:
    case DataType.Int16: case DataType.UInt16: case DataType.SByte: case DataType.Byte:
      return value as number;
    case DataType.Boolean:
      return Boolean(value);
    case DataType.Null:
      return null;
    case DataType.Int64:
      return int64(value, true);
    case DataType.UInt64:
      return int64(value, false);
    case DataType.String:
      return value as string | null;
    case DataType.DateTime:
      return value instanceof Date && !Number.isNaN(value.getTime()) ? value.toISOString() : null;
    case DataType.LocalizedText:
      return (value as { text?: string | null } | null)?.text ?? null;
    default:
      return new Unsupported(DataType[dataType] ?? `DataType ${dataType}`);
  }
}

/**
 * One OPC UA DataValue as a sample: ts from the source timestamp (server timestamp, then the
 * time of arrival, as fallbacks), quality from the StatusCode severity, its name as reason.
 */
export function toSample(source: string, tag: string, dv: DataValue, now: number): Sample {
  const ts = dv.sourceTimestamp?.getTime() ?? dv.serverTimestamp?.getTime() ?? now;
  const sc = dv.statusCode;
  const quality = qualityOf(sc);
  const v = dv.value;
  const value = convertValue(v.dataType, v.arrayType, v.value);
  if (value instanceof Unsupported) return { source, tag, ts, value: null, quality: 'bad', reason: `unsupported type: ${value.what}` };
  if (quality === 'good') return { source, tag, ts, value, quality };
  return { source, tag, ts, value, quality, reason: sc.name };
}

/** A bad sample for a tag that could not be monitored or read at all. */
export function badSample(source: string, tag: string, reason: string, now: number): Sample {
  return { source, tag, ts: now, value: null, quality: 'bad', reason };
}
