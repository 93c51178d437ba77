import { DataType, VariantArrayType, type DataValue, type StatusCode } from 'node-opcua-client';
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

/** The scalar DataTypes a sample can carry; arrays of these become one sample per element. */
const SCALAR_TYPES: ReadonlySet<DataType> = new Set([
  DataType.Double, DataType.Float, DataType.Int32, DataType.UInt32, DataType.Int16, DataType.UInt16,
  DataType.SByte, DataType.Byte, DataType.Boolean, DataType.Null, DataType.Int64, DataType.UInt64,
  DataType.String, DataType.DateTime, DataType.LocalizedText,
]);

const typeName = (dataType: DataType): string => DataType[dataType] ?? `DataType ${dataType}`;

/** One scalar (or one array element) of a DataType the sample can carry: numbers, Boolean, String, DateTime (ISO 8601 string). */
export function convertScalar(dataType: DataType, value: unknown): SampleValue | Unsupported {
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
      return (value as string | null | undefined) ?? null;
    case DataType.DateTime:
      return value instanceof Date && !Number.isNaN(value.getTime()) ? value.toISOString() : null;
    case DataType.LocalizedText:
      return (value as { text?: string | null } | null)?.text ?? null;
    default:
      return new Unsupported(typeName(dataType));
  }
}

/** A scalar Variant's value; arrays and matrices are refused here (see convertArray and SampleShaper). */
export function convertValue(dataType: DataType, arrayType: VariantArrayType, value: unknown): SampleValue | Unsupported {
  if (arrayType === VariantArrayType.Array) return new Unsupported(`array of ${typeName(dataType)}`);
  if (arrayType !== VariantArrayType.Scalar) return new Unsupported(`matrix of ${typeName(dataType)}`);
  return convertScalar(dataType, value);
}

/**
 * A one-dimensional array Variant's elements, each converted exactly like the scalar of its
 * DataType, at most `max` of them; `length` is the array's full length (so length - values.length
 * elements were cut off). Matrices, and arrays of types a scalar cannot carry (ExtensionObject,
 * ByteString, Variant, ...), are Unsupported.
 */
export function convertArray(dataType: DataType, arrayType: VariantArrayType, value: unknown, max: number): { values: SampleValue[]; length: number } | Unsupported {
  if (arrayType === VariantArrayType.Matrix) return new Unsupported(`matrix of ${typeName(dataType)}`);
  if (!SCALAR_TYPES.has(dataType)) return new Unsupported(`array of ${typeName(dataType)}`);
  // node-opcua decodes numeric arrays as typed arrays (Float64Array, Int32Array, ...), others as arrays
  const items = value as ArrayLike<unknown> | null | undefined;
  const length = items?.length ?? 0;
  const n = Math.min(length, max);
  const values = new Array<SampleValue>(n);
  for (let i = 0; i < n; i++) values[i] = convertScalar(dataType, items![i]) as SampleValue;
  return { values, length };
}

function timestampOf(dv: DataValue, now: number): number {
  return dv.sourceTimestamp?.getTime() ?? dv.serverTimestamp?.getTime() ?? now;
}

/**
 * One scalar OPC UA DataValue as a sample: ts from the source timestamp (server timestamp, then
 * the time of arrival, as fallbacks), quality from the StatusCode severity, its name as reason.
 * Arrays are refused here; the source expands them with SampleShaper.
 */
export function toSample(source: string, tag: string, dv: DataValue, now: number): Sample {
  const ts = timestampOf(dv, now);
  const sc = dv.statusCode;
  const quality = qualityOf(sc);
  const v = dv.value;
  const value = convertValue(v.dataType, v.arrayType, v.value);
  if (value instanceof Unsupported) return { source, tag, ts, value: null, quality: 'bad', reason: `unsupported type: ${value.what}` };
  const s: Sample = quality === 'good' ? { source, tag, ts, value, quality } : { source, tag, ts, value, quality, reason: sc.name };
  // a Float is a float32 on the wire: sinks print its shortest float32 text (Sample.float32)
  if (v.dataType === DataType.Float && typeof value === 'number') s.float32 = true;
  return s;
}

/** The sample name of element i of an array tag. */
export function elementTag(tag: string, i: number): string {
  return `${tag}[${i}]`;
}

/**
 * Turns DataValues into samples, expanding one-dimensional arrays into one sample per element
 * (`<tag>[0]` .. `<tag>[N-1]`, same ts and quality). It remembers each array tag's last length so
 * that a bad DataValue without a value (what servers usually send) still marks every known element
 * bad, and elements that disappear when an array shrinks get one bad sample each.
 */
export class SampleShaper {
  /** last element count seen per array tag (after the cap) */
  private readonly lengths = new Map<string, number>();
  /** array elements dropped by the cap since start */
  truncated = 0;

  /** @param onTruncate called for every array cut by the cap (the caller rate-limits its logging) */
  constructor(private readonly source: string, private readonly onTruncate: (tag: string, length: number, max: number) => void) {}

  /** Appends the samples of one DataValue of `tag` to out. */
  push(out: Sample[], tag: string, dv: DataValue, now: number, maxArrayLength: number): void {
    const v = dv.value;
    const known = this.lengths.get(tag);
    if (v.arrayType === VariantArrayType.Scalar) {
      if (known !== undefined && v.dataType === DataType.Null && qualityOf(dv.statusCode) !== 'good') {
        // a bad status without a value: every element the array had is now bad
        const sc = dv.statusCode;
        const ts = timestampOf(dv, now);
        for (let i = 0; i < known; i++) out.push({ source: this.source, tag: elementTag(tag, i), ts, value: null, quality: qualityOf(sc), reason: sc.name });
        return;
      }
      if (known !== undefined) this.lengths.delete(tag);
      out.push(toSample(this.source, tag, dv, now));
      return;
    }
    const ts = timestampOf(dv, now);
    const arr = convertArray(v.dataType, v.arrayType, v.value, maxArrayLength);
    if (arr instanceof Unsupported) {
      out.push({ source: this.source, tag, ts, value: null, quality: 'bad', reason: `unsupported type: ${arr.what}` });
      return;
    }
    const sc = dv.statusCode;
    const quality = qualityOf(sc);
    const reason = quality === 'good' ? undefined : sc.name;
    const { values } = arr;
    const float32 = v.dataType === DataType.Float;
    for (let i = 0; i < values.length; i++) {
      const s: Sample = reason === undefined
        ? { source: this.source, tag: elementTag(tag, i), ts, value: values[i]!, quality }
        : { source: this.source, tag: elementTag(tag, i), ts, value: values[i]!, quality, reason };
      if (float32 && typeof s.value === 'number') s.float32 = true;
      out.push(s);
    }
    // elements that were there before and are not now: one bad sample each, so no stale value lingers
    for (let i = values.length; i < (known ?? 0); i++) {
      out.push({ source: this.source, tag: elementTag(tag, i), ts, value: null, quality: 'bad', reason: `not in array (length ${arr.length})` });
    }
    this.lengths.set(tag, values.length);
    if (arr.length > values.length) {
      this.truncated += arr.length - values.length;
      this.onTruncate(tag, arr.length, maxArrayLength);
    }
  }
}

/** A bad sample for a tag that could not be monitored or read at all. */
export function badSample(source: string, tag: string, reason: string, now: number): Sample {
  return { source, tag, ts: now, value: null, quality: 'bad', reason };
}
