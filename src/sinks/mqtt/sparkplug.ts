import { createRequire } from 'node:module';
import type { GatewayEvent, SampleValue } from '../../core/sample.ts';
import type { OutboxRecord } from '../../outbox/index.ts';
import { startsNextPoll } from '../json.ts';
import type { OutgoingMessage } from './json.ts';
import { type DataMetric, type PropValue, SP_TYPE, encodeData } from './sparkplug-wire.ts';

// sparkplug-payload is CommonJS with a namespace getter: get('spBv1.0') -> { encodePayload, decodePayload }
type SpModule = typeof import('sparkplug-payload/lib/sparkplugbpayload.js');
type UPayload = import('sparkplug-payload/lib/sparkplugbpayload.js').UPayload;
type UMetric = import('sparkplug-payload/lib/sparkplugbpayload.js').UMetric;
type TypeStr = import('sparkplug-payload/lib/sparkplugbpayload.js').TypeStr;
// required on first use, not at import: a JSON-only configuration never loads it (nor protobufjs)
let sp: SpModule | undefined;
const spModule = (): SpModule => (sp ??= (createRequire(import.meta.url)('sparkplug-payload') as { get(ns: string): SpModule | null }).get('spBv1.0')!);

export const encodePayload: SpModule['encodePayload'] = (payload) => spModule().encodePayload(payload);
export const decodePayload: SpModule['decodePayload'] = (proto) => spModule().decodePayload(proto);

/** The types a metric of fieldgate's can have. */
type MetricType = 'Float' | 'Double' | 'Int64' | 'UInt64' | 'Boolean' | 'String';

/**
 * Sparkplug has no data type for "unknown yet": a metric first seen as null is born a Double.
 * A number the device sent as float32 (`Sample.float32`) is a Float: 4 bytes on the wire, exact.
 */
function typeOf(v: SampleValue, float32 = false): MetricType {
  switch (typeof v) {
    case 'boolean': return 'Boolean';
    case 'string': return 'String';
    case 'bigint': return v > 0x7fff_ffff_ffff_ffffn ? 'UInt64' : 'Int64';
    case 'number': return float32 ? 'Float' : 'Double';
    default: return 'Double';
  }
}

/** A Long-shaped value protobufjs encodes as-is (no dependency on the `long` package). */
function longOf(v: bigint): { low: number; high: number; unsigned: boolean } {
  const u = BigInt.asUintN(64, v);
  return { low: Number(u & 0xffff_ffffn) | 0, high: Number(u >> 32n) | 0, unsigned: v >= 0n };
}

function metricValue(type: TypeStr, v: SampleValue): UMetric['value'] {
  if (v === null) return null;
  if (type === 'Int64' || type === 'UInt64') return longOf(typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)))) as unknown as UMetric['value'];
  if (type === 'Double' || type === 'Float') return typeof v === 'number' ? v : Number(v);
  if (type === 'Boolean') return Boolean(v);
  return String(v);
}

// OPC-style quality codes, the convention Sparkplug host applications read from a "Quality" property
const QUALITY: Record<string, number> = { good: 192, uncertain: 64, bad: 0 };

interface MetricDef { alias: number; type: MetricType; last: SampleValue; ts: number }
interface Device { metrics: Map<string, MetricDef>; born: boolean }
/**
 * One DDATA metric to be: `props` are extra properties (events: severity, data) next to Quality.
 * `seq` is its record's outbox seq; `shared` marks a record that gives several metrics (a prediction's outputs).
 */
interface Point { name: string; value: SampleValue; float32: boolean; ts: number; quality: string; id: string; seq: number; shared: boolean; props?: Record<string, PropValue> }

/** Where records stored while the host or the broker was away go: see the README. */
export type HistoryMode = 'inline' | 'topic' | 'off';

/** The metric folder event metrics live in: `Events/<kind>`, apart from tags and model outputs. */
export const EVENT_FOLDER = 'Events/';

/** A device id for an event source: Sparkplug ids cannot hold / + or # (they would add topic levels). */
export function eventDevice(source: string): string {
  return source.replace(/[/+#]/g, '_') || '_';
}

/** An event's properties: `severity` (String) and, when it has data, `data` (PropertySet, one property per field). */
function eventProps(e: GatewayEvent): Record<string, PropValue> {
  const props: Record<string, PropValue> = { severity: { type: 'String', value: String(e.severity) } };
  if (e.data && typeof e.data === 'object') {
    const data: Record<string, PropValue> = {};
    for (const [k, v] of Object.entries(e.data as Record<string, unknown>)) {
      if (typeof v === 'boolean') data[k] = { type: 'Boolean', value: v };
      else if (typeof v === 'number') data[k] = { type: 'Double', value: v };
      else if (typeof v === 'string') data[k] = { type: 'String', value: v };
      else data[k] = { type: 'String', value: JSON.stringify(v) ?? String(v) };
    }
    if (Object.keys(data).length > 0) props.data = { type: 'PropertySet', value: data };
  }
  return props;
}

export interface SparkplugOptions {
  groupId: string;
  edgeNodeId: string;
  qos: 0 | 1;
  history?: HistoryMode;
  /** with history: topic; {group} {edgeNode} {device} */
  historyTopic?: string;
  /**
   * per-metric (default, Sparkplug 3.0 tck-id-payloads-name-birth-data-requirement): every DATA
   * metric carries its timestamp, the payload's is the publish time. per-payload: the payload's
   * timestamp is the acquisition time its metrics share, and only a metric whose time differs
   * carries one (7 bytes a metric less; a deviation from the spec's MUST, for hosts that read it so).
   */
  timestamps?: 'per-metric' | 'per-payload';
}

/** The prefix of the payload `uuid` that gives the record ids of a DATA payload's metrics by position. */
export const IDS_UUID = 'ids:';

/**
 * One edge node's Sparkplug B 3.0 session state: bdSeq per MQTT session (the NDEATH will carries
 * the same bdSeq as the NBIRTH), seq 0..255 over every message after NBIRTH (which has seq 0),
 * aliases per metric, DBIRTH before a device's first DDATA of the session, and a new DBIRTH
 * (after a DDEATH) when a device shows a metric it was not born with.
 * Samples become DDATA of device <source>; predictions DDATA of device <model>; events DDATA of
 * device <event source> (a stage name such as `source.plc1`, `model.m1`, `reload`), one String
 * metric `Events/<kind>` = the message, with `severity` and `data` properties.
 */
export class SparkplugSession {
  private bdSeq = -1;
  private seq = 0;
  private nextAlias = 1;
  private readonly devices = new Map<string, Device>();
  private readonly prefix: string;

  constructor(private readonly o: SparkplugOptions) {
    this.prefix = `spBv1.0/${o.groupId}`;
  }

  /** Starts a new MQTT session: returns the will (NDEATH) to connect with. */
  newSession(): OutgoingMessage {
    this.bdSeq = (this.bdSeq + 1) % 256;
    for (const d of this.devices.values()) d.born = false;
    return {
      topic: `${this.prefix}/NDEATH/${this.o.edgeNodeId}`,
      payload: Buffer.from(encodePayload({ timestamp: Date.now(), metrics: [this.bdSeqMetric()] })),
      qos: 1,
    };
  }

  get currentBdSeq(): number {
    return this.bdSeq;
  }

  /** NBIRTH, the first message of a session (seq 0). */
  nodeBirth(): OutgoingMessage {
    this.seq = 0;
    for (const d of this.devices.values()) d.born = false;
    const payload: UPayload = {
      timestamp: Date.now(),
      seq: 0,
      metrics: [this.bdSeqMetric(), { name: 'Node Control/Rebirth', type: 'Boolean', value: false }],
    };
    return { topic: `${this.prefix}/NBIRTH/${this.o.edgeNodeId}`, payload: Buffer.from(encodePayload(payload)), qos: 0 };
  }

  /** The topic the host sends node commands on. */
  get commandTopic(): string {
    return `${this.prefix}/NCMD/${this.o.edgeNodeId}`;
  }

  /**
   * The answer to a host's rebirth request: NBIRTH (seq 0, the same bdSeq: the MQTT session and
   * its will are unchanged) then a DBIRTH for every device already born in this session, so the
   * DDATA encoded after it continues the numbering. Devices not born yet get theirs on first data.
   * This NBIRTH uses the DDATA QoS: a broker may deliver a QoS 0 message ahead of QoS 1 DDATA
   * still in flight (aedes does), and the host would see seq go back.
   */
  rebirth(): OutgoingMessage[] {
    const born = [...this.devices].filter(([, d]) => d.born);
    const out = [{ ...this.nodeBirth(), qos: this.o.qos }];
    for (const [id, d] of born) {
      out.push(this.deviceBirth(id, d));
      d.born = true;
    }
    return out;
  }

  /**
   * The messages for a chunk of records. Each run of consecutive records of one device becomes
   * one DDATA carrying every record (with its id), preceded by a DBIRTH when the device is not
   * born in this session, or by DDEATH + DBIRTH when the run shows a metric it was not born with.
   * Records with seq <= `historyUntil` were stored before this session's births (the host or the
   * broker was away): they go as the history mode says (inline: is_historical on every metric).
   * `skipped` counts records of a kind with no Sparkplug mapping (none today; the caller counts them),
   * `historyDropped` records not published because history is off.
   */
  encode(records: OutboxRecord[], historyUntil = 0): { messages: OutgoingMessage[]; skipped: number; historyDropped: number } {
    const messages: OutgoingMessage[] = [];
    let skipped = 0;
    let historyDropped = 0;
    let device: string | undefined;
    let historical = false;
    let run: Point[] = [];
    let runUniform = true; // every point of the run so far has the first one's timestamp
    const flush = () => {
      if (device !== undefined && run.length > 0) {
        if (!historical || this.o.history === undefined || this.o.history === 'inline') this.encodeRun(device, run, messages, historical);
        else if (this.o.history === 'topic') messages.push(this.historyMessage(device, run));
        else historyDropped += new Set(run.map((p) => p.id)).size;
      }
      run = [];
      runUniform = true;
    };
    for (const r of records) {
      let dev: string;
      const h = r.seq <= historyUntil;
      if (h !== historical) { flush(); historical = h; }
      // a DATA payload's record ids are its first id plus the metric's position: a gap in seq starts a new one;
      // so does the next poll of the device (one DDATA per poll: its metrics share the payload's time)
      const last = run[run.length - 1];
      if (last !== undefined) {
        if (r.seq !== last.seq + 1) flush();
        else if (r.kind === 'sample' && startsNextPoll(run.length, runUniform, run[0]!.ts, r.sample.ts)) flush();
      }
      if (r.kind === 'sample') {
        dev = r.sample.source;
        if (dev !== device) { flush(); device = dev; }
        const s = r.sample;
        if (run.length > 0 && s.ts !== run[0]!.ts) runUniform = false;
        run.push({ name: s.tag, value: s.value, float32: s.float32 === true, ts: s.ts, quality: s.quality, id: r.id, seq: r.seq, shared: false });
      } else if (r.kind === 'prediction') {
        dev = r.prediction.model;
        if (dev !== device) { flush(); device = dev; }
        for (const [k, v] of Object.entries(r.prediction.outputs)) run.push({ name: k, value: v, float32: false, ts: r.prediction.ts, quality: 'good', id: r.id, seq: r.seq, shared: true });
      } else if (r.kind === 'event') {
        dev = eventDevice(r.event.source);
        if (dev !== device) { flush(); device = dev; }
        const e = r.event;
        run.push({ name: EVENT_FOLDER + e.kind, value: String(e.message), float32: false, ts: e.ts, quality: 'good', id: r.id, seq: r.seq, shared: false, props: eventProps(e) });
      } else {
        skipped++;
      }
    }
    flush();
    return { messages, skipped, historyDropped };
  }

  /**
   * The timestamps of a DATA payload and where record ids go. per-metric: the payload's is now and
   * every metric has its own. per-payload: the payload's is the first metric's, and a metric carries
   * one only when it differs. Ids: one `uuid` (`ids:<first record id>`, metric i has the record id
   * whose seq is the first's + i) when every metric is a record of its own and seqs run without gap
   * (encode() splits at gaps); else (a prediction's outputs share a record) a `recordId` property per metric.
   */
  private dataPayload(run: Point[], metricOf: (p: Point) => DataMetric): { timestamp: number; uuid?: string; metrics: DataMetric[] } {
    const perPayload = this.o.timestamps === 'per-payload';
    const timestamp = perPayload ? run[0]!.ts : Date.now();
    const byPosition = !run.some((p) => p.shared);
    const metrics = run.map((p) => {
      const m = metricOf(p);
      if (!perPayload || p.ts !== timestamp) m.timestamp = p.ts;
      if (p.quality !== 'good' || p.props !== undefined || !byPosition) {
        const props: Record<string, PropValue> = { ...p.props };
        if (!byPosition) props.recordId = { type: 'String', value: p.id };
        if (p.quality !== 'good') props.Quality = { type: 'Int32', value: QUALITY[p.quality] ?? 0 };
        m.properties = props;
      }
      return m;
    });
    return byPosition ? { timestamp, uuid: IDS_UUID + run[0]!.id, metrics } : { timestamp, metrics };
  }

  /** history: topic — outside the session: no seq, no births, metric names and datatypes instead of aliases. */
  private historyMessage(dev: string, run: Point[]): OutgoingMessage {
    const payload = this.dataPayload(run, (p) => {
      const type = typeOf(p.value, p.float32);
      return { name: p.name, datatype: SP_TYPE[type], type, value: p.value, historical: true };
    });
    const vars: Record<string, string> = { group: this.o.groupId, edgeNode: this.o.edgeNodeId, device: dev };
    const topic = (this.o.historyTopic ?? 'fieldgate/history/{group}/{edgeNode}/{device}').replace(/\{(group|edgeNode|device)\}/g, (_, k: string) => vars[k]!.replace(/[/+#]/g, '_'));
    return { topic, payload: encodeData(payload), qos: this.o.qos };
  }

  private encodeRun(dev: string, run: Point[], out: OutgoingMessage[], historical = false): void {
    const d = this.device(dev);
    let changed = false;
    for (const p of run) {
      const def = d.metrics.get(p.name);
      const t = typeOf(p.value, p.float32);
      if (!def) {
        d.metrics.set(p.name, { alias: this.nextAlias++, type: t, last: p.value, ts: p.ts });
        changed = true;
      } else if (p.value !== null && def.type !== t) {
        def.type = t;
        def.last = p.value;
        changed = true;
      }
    }
    if (changed && d.born) {
      out.push(this.deviceDeath(dev));
      d.born = false;
    }
    if (!d.born) {
      out.push(this.deviceBirth(dev, d));
      d.born = true;
    }
    // after birth a DATA metric is its alias and its value (no name, no datatype: Sparkplug 3.0 6.4.3)
    const payload = this.dataPayload(run, (p) => {
      const def = d.metrics.get(p.name)!;
      def.last = p.value;
      def.ts = p.ts;
      const m: DataMetric = { alias: def.alias, type: def.type, value: p.value };
      if (historical) m.historical = true;
      return m;
    });
    out.push({ topic: `${this.prefix}/DDATA/${this.o.edgeNodeId}/${dev}`, payload: encodeData({ ...payload, seq: this.nextSeq() }), qos: this.o.qos });
  }

  private device(id: string): Device {
    let d = this.devices.get(id);
    if (!d) {
      d = { metrics: new Map(), born: false };
      this.devices.set(id, d);
    }
    return d;
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) % 256;
    return this.seq;
  }

  private bdSeqMetric(): UMetric {
    return { name: 'bdSeq', type: 'Int64', value: this.bdSeq };
  }

  private deviceBirth(id: string, d: Device): OutgoingMessage {
    const metrics: UMetric[] = [];
    for (const [name, def] of d.metrics) {
      const m: UMetric = { name, alias: def.alias, type: def.type, value: metricValue(def.type, def.last), timestamp: def.ts };
      if (def.last === null) m.isNull = true;
      metrics.push(m);
    }
    const payload: UPayload = { timestamp: Date.now(), seq: this.nextSeq(), metrics };
    return { topic: `${this.prefix}/DBIRTH/${this.o.edgeNodeId}/${id}`, payload: Buffer.from(encodePayload(payload)), qos: this.o.qos };
  }

  private deviceDeath(id: string): OutgoingMessage {
    const payload: UPayload = { timestamp: Date.now(), seq: this.nextSeq() };
    return { topic: `${this.prefix}/DDEATH/${this.o.edgeNodeId}/${id}`, payload: Buffer.from(encodePayload(payload)), qos: this.o.qos };
  }

}

export type NodeCommand = { kind: 'rebirth' } | { kind: 'ignored'; metrics: string[] };

/** Reads an NCMD payload; throws on a payload that is not a Sparkplug B protobuf. */
export function parseNodeCommand(payload: Uint8Array): NodeCommand {
  const metrics = decodePayload(payload).metrics ?? [];
  if (metrics.some((m) => m.name === 'Node Control/Rebirth' && m.value === true)) return { kind: 'rebirth' };
  return { kind: 'ignored', metrics: metrics.map((m) => String(m.name ?? `alias ${String(m.alias)}`)) };
}
