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
