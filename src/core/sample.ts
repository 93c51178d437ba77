/** The values that travel through fieldgate. Timestamps are milliseconds since the Unix epoch. */

export type Quality = 'good' | 'uncertain' | 'bad';

/** int64/uint64 values outside the safe integer range travel as bigint. */
export type SampleValue = number | boolean | string | bigint | null;

export interface Sample {
  /** source id from the config */
  source: string;
  tag: string;
  /** source timestamp where the protocol has one, else the time of reading (ms since epoch) */
  ts: number;
  value: SampleValue;
  quality: Quality;
  /** why a sample is not good: 'timeout', 'exception 2', 'BadNodeIdUnknown', ... */
  reason?: string;
  /**
   * The device sent the value as a float32 (an unscaled Modbus float32 register, an OPC UA Float):
   * sinks may print it as the shortest decimal that reads back as that float32 (23.4567, not
   * 23.45669937133789) and Sparkplug declares it Float. Absent: a double, printed exactly.
   */
  float32?: true;
}

/** One poll or one notification: channels carry batches, never single values. */
export interface SampleBatch {
  source: string;
  samples: Sample[];
  /** when the gateway received the batch (ms since epoch) */
  receivedAt: number;
}

/**
 * A batch of good number samples held in columns: a driver's hot path (a Modbus poll of number
 * registers) makes one object per poll instead of one per value. The data path reads the columns
 * (router, outbox, tag store, the outbox's in-memory tail, which makes each record's sample only
 * when a sink reads it); `samples` makes the Sample objects on first use, for anything else (a
 * model, a conflating channel, the CLI). Per-sample objects that waited from the poll to the
 * sinks' read outlived the young generation and were copied into the old one, per value.
 */
export class ColumnarBatch implements SampleBatch {
  private made?: Sample[];

  constructor(
    readonly source: string,
    /** the tag of each position */
    readonly tags: readonly string[],
    /** the timestamp of each position (ms since epoch) */
    readonly ts: Float64Array,
    readonly values: Float64Array,
    /** 1 where the device sent the value as a float32 (`Sample.float32`) */
    readonly float32: Uint8Array,
    readonly receivedAt: number,
  ) {}

  get length(): number {
    return this.values.length;
  }

  /** the samples as objects, made once */
  get samples(): Sample[] {
    if (this.made === undefined) {
      const out = new Array<Sample>(this.values.length);
      for (let i = 0; i < out.length; i++) out[i] = this.sampleAt(i);
      this.made = out;
    }
    return this.made;
  }

  /** a new Sample for position i */
  sampleAt(i: number): Sample {
    const s: Sample = { source: this.source, tag: this.tags[i]!, ts: this.ts[i]!, value: this.values[i]!, quality: 'good' };
    if (this.float32[i] === 1) s.float32 = true;
    return s;
  }
}

/** How many samples a batch holds, without making a columnar batch's objects. */
export function batchLength(b: SampleBatch): number {
  return b instanceof ColumnarBatch ? b.values.length : b.samples.length;
}

/**
 * `conflate` on a source channel: the queued batch and a newer one of the same source become
 * one batch holding the newest sample of every tag in either. Drivers do not send every tag in
 * every batch (a Modbus deadband leaves unchanged tags out, an OPC UA notification carries only
 * changed items), so replacing the queued batch whole would lose tags it alone held.
 */
export function mergeNewestPerTag(queued: SampleBatch, newer: SampleBatch): SampleBatch {
  const byTag = new Map<string, Sample>();
  for (const s of queued.samples) byTag.set(s.tag, s);
  for (const s of newer.samples) {
    const had = byTag.get(s.tag);
    if (had === undefined || s.ts >= had.ts) byTag.set(s.tag, s);
  }
  return { source: newer.source, samples: [...byTag.values()], receivedAt: newer.receivedAt };
}

/** A model output for one window. */
export interface Prediction {
  model: string;
  /** timestamp of the window's last sample */
  ts: number;
  outputs: Record<string, number>;
  latencyMs: number;
}

export type EventSeverity = 'info' | 'warning' | 'critical';

/** Something that happened: a threshold crossed, a stage went down. */
export interface GatewayEvent {
  /** the stage or model that raised it */
  source: string;
  kind: string;
  ts: number;
  severity: EventSeverity;
  message: string;
  data?: Record<string, number | string | boolean>;
}
