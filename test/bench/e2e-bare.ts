// The ceiling of bench:e2e, run as its own process: the same libraries with nothing of fieldgate's
// pipeline between them. modbus-serial reads every device's registers on the same interval, the
// samples are encoded with the same JSON text as fieldgate's MQTT sink (one message per poll, the
// `batch` shape, in BARE_FORMAT: compact or records), and mqtt.js publishes them with QoS 1 to the same broker. No outbox, no
// channels, no health: what a plain loop over the libraries costs.
import ModbusSerial from 'modbus-serial';
import mqtt from 'mqtt';
import type { OutboxRecord } from '../../src/outbox/index.ts';
import { type JsonStrings, compactSamplesText, recordJsonText } from '../../src/sinks/json.ts';
import { SparkplugSession } from '../../src/sinks/mqtt/sparkplug.ts';
import { benchTagName } from './e2e-config.ts';

const ports = (process.env.BARE_PORTS ?? '').split(',').map(Number);
const tags = Number(process.env.BARE_TAGS ?? 50);
const interval = Number(process.env.BARE_INTERVAL_MS ?? 100);
const url = process.env.BARE_BROKER ?? 'mqtt://127.0.0.1:1883';
const compact = process.env.BARE_FORMAT !== 'records';
// Sparkplug: the sink's encoder (one session for every device, as one edge node), births included
const sparkplug = process.env.BARE_FORMAT?.startsWith('sparkplug')
  ? new SparkplugSession({ groupId: 'bare', edgeNodeId: 'bare', qos: 1, ...(process.env.BARE_FORMAT === 'sparkplug-per-payload' ? { timestamps: 'per-payload' as const } : {}) })
  : undefined;

const client = mqtt.connect(url, { clientId: `bare-${process.pid}`, clean: true });
await new Promise<void>((resolve, reject) => {
  client.once('connect', () => resolve());
  client.once('error', reject);
});
if (sparkplug) {
  sparkplug.newSession();
  const nb = sparkplug.nodeBirth();
  client.publish(nb.topic, nb.payload, { qos: 1 });
}

let seq = 0;
const stop = new AbortController();
process.once('SIGTERM', () => stop.abort());

async function device(i: number, port: number): Promise<void> {
  const m = new ModbusSerial.default();
  await m.connectTCP('127.0.0.1', { port });
  m.setID(1);
  m.setTimeout(1000);
  const source = `dev${String(i).padStart(3, '0')}`;
  const topic = `fieldgate/bare/sample/${source}`;
  const names = Array.from({ length: tags }, (_, j) => `d.${benchTagName(j)}`);
  let next = performance.now();
  while (!stop.signal.aborted) {
    // a read holds at most 125 registers (Modbus): 60 float32 tags per read, as a plan would split them
    const parts: Buffer[] = [];
    for (let at = 0; at < tags * 2; at += 120) parts.push((await m.readHoldingRegisters(at, Math.min(120, tags * 2 - at))).buffer);
    const r = { buffer: parts.length === 1 ? parts[0]! : Buffer.concat(parts) };
    const ts = Date.now();
    const seen: JsonStrings = new Map();
    const recs: OutboxRecord[] = [];
    for (let j = 0; j < tags; j++) {
      recs.push({
        kind: 'sample',
        seq: ++seq,
        id: `bare:1:${seq}`,
        sample: { source, tag: names[j]!, ts, value: r.buffer.readFloatBE(j * 4), quality: 'good', float32: true },
      });
    }
    if (sparkplug) {
      for (const msg of sparkplug.encode(recs).messages) client.publish(msg.topic, msg.payload, { qos: 1 });
      next += interval;
      const wait = next - performance.now();
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
      else next = performance.now();
      continue;
    }
    const text = compact
      ? compactSamplesText('bare', source, 'bare:1:', recs, seen)
      : `{"gateway":"bare","records":[${recs.map((rec) => recordJsonText(rec, seen)).join(',')}]}`;
    client.publish(topic, Buffer.from(text), { qos: 1 });
    next += interval;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((res) => setTimeout(res, wait));
    else next = performance.now(); // overrun: skip, as a poller would
  }
  m.close(() => {});
}

await Promise.all(ports.map((p, i) => device(i, p)));
await client.endAsync();
