import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { createOutbox, outboxSchema, type OutboxRecord } from '../../outbox/index.ts';
import { numberBatch, tempContext } from '../../../test/support/outbox/testing.ts';
import type { Stage } from '../../core/contracts.ts';
import { sinkSchema } from '../config.ts';
import { createSink } from '../index.ts';
import { SparkplugSession, encodePayload } from './sparkplug.ts';
import { encodeData } from './sparkplug-wire.ts';
import { DataType, decodeSpec, recordIds, type SpecPayload } from '../../../test/support/mqtt/sparkplug-spec.ts';
import { TestBroker } from '../../../test/support/mqtt/test-broker.ts';
import { until } from '../../../test/support/wait.ts';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('Sparkplug B payload bytes, by hand from the specification', () => {
  // Payload { timestamp(1) = 1000, metrics(2) = [Metric { alias(2) = 3, timestamp(3) = 999,
  //   datatype(4) = 10 (Double), is_historical(5) = true, double_value(13) = 1.5 }], seq(3) = 7 }
  const bytes = Uint8Array.from([
    0x08, 0xe8, 0x07, // field 1 varint: 1000
    0x12, 0x12, // field 2 length-delimited, 18 bytes: the Metric
    0x10, 0x03, //   field 2 varint: alias 3
    0x18, 0xe7, 0x07, //   field 3 varint: timestamp 999
    0x20, 0x0a, //   field 4 varint: datatype 10 = Double
    0x28, 0x01, //   field 5 varint: is_historical = true
    0x69, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x3f, //   field 13 64-bit: 1.5 little-endian
    0x18, 0x07, // field 3 varint: seq 7
  ]);

  test('the host-side reader decodes the hand-made bytes', () => {
    assert.deepEqual(decodeSpec(bytes), { timestamp: 1000, seq: 7, metrics: [{ alias: 3, timestamp: 999, datatype: DataType.Double, isHistorical: true, value: 1.5 }] });
    assert.throws(() => decodeSpec(bytes.subarray(0, 10)), /truncated/);
  });

  test('the encoder the sink uses writes the same bytes (is_historical is field 5)', () => {
    const enc = encodePayload({ timestamp: 1000, seq: 7, metrics: [{ alias: 3, timestamp: 999, type: 'Double', value: 1.5, isHistorical: true }] });
    assert.deepEqual(Buffer.from(enc).toString('hex'), Buffer.from(bytes).toString('hex'));
  });
});

describe('Sparkplug B DDATA after birth: alias and value only, ids by position (bytes by hand from the specification)', () => {
  // Payload { timestamp(1) = 1000, metrics(2) = [Metric { alias(2) = 3, float_value(12) = 1.5 },
  //   Metric { alias(2) = 200, is_null(7) = true }], seq(3) = 7, uuid(4) = "ids:g:1:5" }
  const bytes = Uint8Array.from([
    0x08, 0xe8, 0x07, // field 1 varint: timestamp 1000
    0x12, 0x07, // field 2, 7 bytes: a Metric
    0x10, 0x03, //   field 2 varint: alias 3
    0x65, 0x00, 0x00, 0xc0, 0x3f, //   field 12 (12 << 3 | 5 = 0x65) 32-bit: 1.5f little-endian
    0x12, 0x05, // field 2, 5 bytes: a Metric
    0x10, 0xc8, 0x01, //   field 2 varint: alias 200 (two bytes)
    0x38, 0x01, //   field 7 varint: is_null = true
    0x18, 0x07, // field 3 varint: seq 7
    0x22, 0x09, 0x69, 0x64, 0x73, 0x3a, 0x67, 0x3a, 0x31, 0x3a, 0x35, // field 4, 9 bytes: uuid "ids:g:1:5"
  ]);

  test('the DATA encoder writes exactly these bytes; the spec reader and the dedupe rule read them back', () => {
    const enc = encodeData({ timestamp: 1000, seq: 7, uuid: 'ids:g:1:5', metrics: [{ alias: 3, type: 'Float', value: 1.5 }, { alias: 200, type: 'Double', value: null }] });
    assert.equal(enc.toString('hex'), Buffer.from(bytes).toString('hex'));
    const p = decodeSpec(bytes);
    assert.deepEqual(p, { timestamp: 1000, seq: 7, uuid: 'ids:g:1:5', metrics: [{ alias: 3, value: 1.5 }, { alias: 200, isNull: true }] });
    assert.deepEqual(recordIds(p), ['g:1:5', 'g:1:6']);
  });

  test('a poll of float32 tags: Float in DBIRTH; DDATA = alias + 4-byte value (+ timestamp per metric, or once with per-payload)', () => {
    const recs: OutboxRecord[] = [1.5, 2.25, -3].map((v, i) => ({ kind: 'sample', seq: 10 + i, id: `gw:k:${10 + i}`, sample: { source: 'plc1', tag: `t${i}`, ts: 5000, value: v, quality: 'good', float32: true } }));
    for (const timestamps of ['per-metric', 'per-payload'] as const) {
      const sp = new SparkplugSession({ groupId: 'g', edgeNodeId: 'e', qos: 1, timestamps });
      sp.newSession();
      sp.nodeBirth();
      const [birth, data] = sp.encode(recs).messages;
      const b = decodeSpec(birth!.payload as Buffer);
      assert.deepEqual(b.metrics.map((m) => [m.name, m.alias, m.datatype, m.value, m.timestamp]), [['t0', 1, DataType.Float, 1.5, 5000], ['t1', 2, DataType.Float, 2.25, 5000], ['t2', 3, DataType.Float, -3, 5000]]);
      const d = Buffer.from(data!.payload as Buffer);
      const p = decodeSpec(d);
      assert.deepEqual(recordIds(p), ['gw:k:10', 'gw:k:11', 'gw:k:12']);
      assert.equal(p.uuid, 'ids:gw:k:10');
      if (timestamps === 'per-payload') {
        assert.equal(p.timestamp, 5000, 'the payload timestamp is the poll time its metrics share');
        // by hand: 3 metrics of [0x12 0x07 | 0x10 alias | 0x65 float32 LE]
        const metrics = '120710016500 00c03f 120710026500 001040 12071003650000 40c0'.replace(/ /g, '');
        assert.equal(d.toString('hex'), `088827${metrics}1802220b${Buffer.from('ids:gw:k:10').toString('hex')}`);
      } else {
        assert.deepEqual(p.metrics.map((m) => [m.alias, m.value, m.timestamp, m.datatype, m.name]), [[1, 1.5, 5000, undefined, undefined], [2, 2.25, 5000, undefined, undefined], [3, -3, 5000, undefined, undefined]]);
      }
    }
  });
});

describe('Sparkplug B: one DDATA per poll of a device', () => {
  test('two polls of a device in one chunk are two DDATA, each with one payload time (per-payload: no metric timestamps)', () => {
    const rec = (seq: number, tag: string, ts: number): OutboxRecord => ({ kind: 'sample', seq, id: `gw:k:${seq}`, sample: { source: 'plc1', tag, ts, value: seq, quality: 'good', float32: true } });
    const sp = new SparkplugSession({ groupId: 'g', edgeNodeId: 'e', qos: 1, timestamps: 'per-payload' });
    sp.newSession();
    sp.nodeBirth();
    const data = sp.encode([rec(1, 'a', 1000), rec(2, 'b', 1000), rec(3, 'a', 1100), rec(4, 'b', 1100)]).messages.filter((m) => m.topic.includes('/DDATA/')).map((m) => decodeSpec(m.payload as Buffer));
    assert.deepEqual(data.map((p) => [p.timestamp, recordIds(p), p.metrics.map((m) => m.timestamp)]), [[1000, ['gw:k:1', 'gw:k:2'], [undefined, undefined]], [1100, ['gw:k:3', 'gw:k:4'], [undefined, undefined]]]);
  });
});

describe('Sparkplug history modes (records stored before the births)', () => {
  const recs: OutboxRecord[] = numberBatch('plc1', 0, 4, 2).samples.map((s, i) => ({ kind: 'sample', seq: i + 1, id: `gw:1:${i + 1}`, sample: s }));
  test('inline: historical runs flagged, then live runs unflagged, in one seq order', () => {
    const sp = new SparkplugSession({ groupId: 'g', edgeNodeId: 'e', qos: 1, history: 'inline' });
    sp.newSession();
    sp.nodeBirth();
    const { messages } = sp.encode(recs, 2);
    const data = messages.filter((m) => m.topic.includes('/DDATA/')).map((m) => decodeSpec(m.payload as Buffer));
    assert.deepEqual(data.map((p) => recordIds(p).map((id, k) => [id, p.metrics[k]!.isHistorical ?? false])), [
      [['gw:1:1', true], ['gw:1:2', true]],
      [['gw:1:3', false], ['gw:1:4', false]],
    ]);
    assert.deepEqual(messages.map((m) => decodeSpec(m.payload as Buffer).seq), [1, 2, 3], 'DBIRTH, DDATA, DDATA');
  });
  test('topic: history on its own topic with names and no seq; live data keeps the session numbering', () => {
    const sp = new SparkplugSession({ groupId: 'g', edgeNodeId: 'e', qos: 1, history: 'topic', historyTopic: 'hist/{group}/{edgeNode}/{device}' });
    sp.newSession();
    sp.nodeBirth();
    const { messages } = sp.encode(recs, 2);
    assert.deepEqual(messages.map((m) => m.topic), ['hist/g/e/plc1', 'spBv1.0/g/DBIRTH/e/plc1', 'spBv1.0/g/DDATA/e/plc1']);
    const h = decodeSpec(messages[0]!.payload as Buffer);
    assert.equal(h.seq, undefined);
    assert.deepEqual(h.metrics.map((x) => [x.name, x.isHistorical, x.value]), [['t0', true, 0], ['t1', true, 1]]);
    assert.deepEqual(messages.slice(1).map((m) => decodeSpec(m.payload as Buffer).seq), [1, 2]);
  });
  test('off: history is not published and is counted', () => {
    const sp = new SparkplugSession({ groupId: 'g', edgeNodeId: 'e', qos: 1, history: 'off' });
    sp.newSession();
    sp.nodeBirth();
    const r = sp.encode(recs, 3);
    assert.equal(r.historyDropped, 3);
    assert.deepEqual(r.messages.filter((m) => m.topic.includes('/DDATA/')).flatMap((m) => recordIds(decodeSpec(m.payload as Buffer))), ['gw:1:4']);
  });
});

interface Seen { topic: string; kind: string; device?: string; p: SpecPayload; at: number }

describe('Sparkplug B primary host awareness, with a host application written against the specification', () => {
  test('host offline -> online: births only while online, no DDATA while offline, stored history flagged and before live data, in order, every record; seq and bdSeq', async (t) => {
    const ctx = tempContext('gw-h');
    const broker = new TestBroker();
    const box = createOutbox(outboxSchema.parse({ commitInterval: '5ms' }), ctx);
    let stage: Stage | undefined;
    let host: mqtt.MqttClient | undefined;
    let writing = false;
    let writer: Promise<void> | undefined;
    cleanups.push(async () => {
      writing = false;
      await writer;
      await host?.endAsync(true);
      await stage?.stop(1000);
      await box.stop(1000);
      await broker.stop();
      ctx.cleanup();
    });
    await broker.start();
    // the host application: subscribes to its group, keeps what it sees in arrival order
    const seen: Seen[] = [];
    host = await mqtt.connectAsync(broker.url, { clientId: 'scada-host', reconnectPeriod: 0 });
    host.on('message', (topic, payload) => {
      const parts = topic.split('/');
      seen.push({ topic, kind: parts[2]!, device: parts[4], p: decodeSpec(payload), at: Date.now() });
    });
    await host.subscribeAsync('spBv1.0/g1/#', { qos: 1 });
    const STATE = 'spBv1.0/STATE/scada';
    const state = (online: boolean, timestamp: number, retain = true) =>
      host!.publishAsync(STATE, JSON.stringify({ online, timestamp }), { qos: 1, retain });

    stage = createSink(sinkSchema.parse({
      id: 'up', type: 'mqtt', url: broker.url, backoff: { initial: '20ms', max: '200ms' }, batchSize: 50,
      payload: 'sparkplug-b', sparkplug: { groupId: 'g1', edgeNodeId: 'edge1', primaryHostId: 'scada' },
    }), box, ctx);
    await box.start();
    await stage.start();

    let next = 0;
    const write = async (n: number) => {
      await Promise.all([box.writeSamples(numberBatch('plc1', next, n)), box.writeSamples(numberBatch('plc2', next, n))]);
      next += n;
    };
    const kinds = (k: string) => seen.filter((s) => s.kind === k);
    const head = () => box.stats().lastSeq;

    // 1. no host yet: connected to the broker, but no birth and no data; the records wait
    await write(30);
    // an observation window (an absence cannot be waited for): the sink is connected to the broker
    // within it, and nothing may be published in it
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(stage.probe().state, 'down', 'not born: the sink is not up');
    assert.equal(seen.length, 0, 'nothing before the host is online');
    assert.equal(stage.probe().details?.backlog, 60);

    // 2. host online: NBIRTH, then the 60 stored records as history, then live data
    const t1 = Date.now();
    await state(true, t1);
    await until('NBIRTH 1', () => kinds('NBIRTH').length === 1, 10_000);
    writing = true;
    writer = (async () => {
      while (writing) {
        await write(10);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await until('live data after the births', () => kinds('DDATA').some((s) => s.p.metrics.some((m) => !m.isHistorical)), 10_000);

    // 3. host offline (its death certificate: the birth's timestamp): NDEATH, then silence while records accumulate
    await state(false, t1);
    await until('NDEATH', () => kinds('NDEATH').length === 1, 10_000);
    const offlineFrom = head();
    const dataAtDeath = kinds('DDATA').length;
    await until('records accumulating while the host is offline', () => head() - offlineFrom >= 200, 10_000);
    assert.equal(kinds('DDATA').length, dataAtDeath, 'no DDATA while the host is offline');
    assert.equal(kinds('NBIRTH').length, 1, 'no birth while the host is offline');
    // an invalid STATE is counted and ignored
    await host.publishAsync(STATE, 'online', { qos: 1 });
    await until('invalid STATE counted', async () => (await ctx.metrics.errors.get()).values.some((v) => v.labels.code === 'FG_E_SPARKPLUG_STATE'), 5000);

    // 4. host online again: NBIRTH (bdSeq + 1), history flagged, then live
    const offlineTo = head();
    const t2 = Date.now() + 1;
    await state(true, t2);
    await until('NBIRTH 2', () => kinds('NBIRTH').length === 2, 10_000);
    await until('live data in session 2', () => seen.slice(seen.indexOf(kinds('NBIRTH')[1]!)).some((s) => s.kind === 'DDATA' && s.p.metrics.some((m) => !m.isHistorical)), 10_000);
    // a stale STATE (older than the last online) is ignored: no NDEATH
    await state(false, t1, false);
    await host.publishAsync(STATE, JSON.stringify({ online: true, timestamp: t2 }), { qos: 1, retain: true }); // a marker after it on the same topic
    writing = false;
    await writer;
    await until('every record delivered', () => stage!.probe().details?.backlog === 0, 15_000);
    await until('the host saw every record', () => new Set(kinds('DDATA').flatMap((s) => recordIds(s.p))).size === 2 * next, 10_000);
    assert.equal(kinds('NDEATH').length, 1, 'the stale offline STATE did not end the session');

    // every record, in outbox order within each session, as the host saw it
    const metrics = kinds('DDATA').flatMap((s) => { const ids = recordIds(s.p); return s.p.metrics.map((m, k) => ({ id: String(ids[k]), seq: Number(String(ids[k]).split(':')[2]), hist: m.isHistorical === true, at: seen.indexOf(s) })); });
    assert.equal(new Set(metrics.map((m) => m.id)).size, 2 * next, 'every record');
    const births = kinds('NBIRTH').map((s) => seen.indexOf(s));
    const death = seen.indexOf(kinds('NDEATH')[0]!);
    const sessions = [metrics.filter((m) => m.at > births[0]! && m.at < death), metrics.filter((m) => m.at > births[1]!)];
    assert.equal(metrics.filter((m) => m.at > death && m.at < births[1]!).length, 0, 'no DDATA between NDEATH and the next NBIRTH');
    for (const ses of sessions) for (let i = 1; i < ses.length; i++) assert.ok(ses[i]!.seq > ses[i - 1]!.seq, `in order: ${ses[i - 1]!.id} then ${ses[i]!.id}`);
    // at least once: a DDATA the broker delivered while the session was ending, whose PUBACK the
    // edge node did not wait for, comes again in the next session, as history, with the same recordId
    const first = new Set(sessions[0]!.map((m) => m.id));
    const again = sessions[1]!.filter((m) => first.has(m.id));
    assert.ok(again.every((m) => m.hist), 'a record seen twice comes again as history');
    assert.equal(metrics.length, 2 * next + again.length, 'no other duplicates');
    t.diagnostic(`${2 * next} records; ${again.length} sent again after the host went offline (unacknowledged when the session ended)`);

    // per session: history first, then live; what was stored while away is history
    for (const [i, ses] of sessions.entries()) {
      const firstLive = ses.findIndex((m) => !m.hist);
      assert.ok(firstLive > 0, `session ${i + 1} starts with history`);
      assert.ok(ses.slice(firstLive).every((m) => !m.hist), `session ${i + 1}: no history after live data`);
    }
    assert.deepEqual(sessions[0]!.filter((m) => m.hist).map((m) => m.seq), Array.from({ length: 60 }, (_, i) => i + 1), 'the 60 records stored before the host came online');
    const away = metrics.filter((m) => m.seq > offlineFrom && m.seq <= offlineTo);
    assert.ok(away.length >= 200 && away.every((m) => m.hist), 'every record stored while the host was offline is flagged historical');

    // seq: 0 on NBIRTH, +1 on every message of the session after it (the NDEATH has none)
    for (const [i, b] of births.entries()) {
      const end = i === 0 ? death : seen.length;
      const msgs = seen.slice(b, end).filter((s) => s.topic.includes('/edge1'));
      msgs.forEach((s, j) => assert.equal(s.p.seq, j % 256, `session ${i + 1}, message ${j} (${s.kind})`));
    }
    // bdSeq: the NDEATH carries its session's NBIRTH value; the next session increments it
    const bd = (s: Seen) => Number(s.p.metrics.find((m) => m.name === 'bdSeq')!.value);
    const [nb1, nb2] = kinds('NBIRTH');
    assert.equal(bd(kinds('NDEATH')[0]!), bd(nb1!));
    assert.equal(bd(nb2!), (bd(nb1!) + 1) % 256);
    assert.equal(nb1!.p.metrics.find((m) => m.name === 'bdSeq')!.datatype, DataType.Int64);
  });
});

describe('Sparkplug B history after a broker outage (no primary host configured)', () => {
  test('records stored while the broker was down come after the new births, flagged is_historical, in order, then live data', async () => {
    const ctx = tempContext('gw-b');
    const broker = new TestBroker();
    const box = createOutbox(outboxSchema.parse({ commitInterval: '5ms' }), ctx);
    let stage: Stage | undefined;
    let host: mqtt.MqttClient | undefined;
    cleanups.push(async () => {
      await host?.endAsync(true);
      await stage?.stop(1000);
      await box.stop(1000);
      await broker.stop();
      ctx.cleanup();
    });
    await broker.start();
    const seen: Seen[] = [];
    const hostConnect = async () => {
      host = await mqtt.connectAsync(broker.url, { clientId: 'host-b', reconnectPeriod: 0 });
      host.on('message', (topic, payload) => {
        const parts = topic.split('/');
        seen.push({ topic, kind: parts[2]!, device: parts[4], p: decodeSpec(payload), at: Date.now() });
      });
      await host.subscribeAsync('spBv1.0/g1/#', { qos: 1 });
    };
    await hostConnect();
    stage = createSink(sinkSchema.parse({
      id: 'up', type: 'mqtt', url: broker.url, backoff: { initial: '20ms', max: '200ms' }, batchSize: 50,
      payload: 'sparkplug-b', sparkplug: { groupId: 'g1', edgeNodeId: 'edge1' },
    }), box, ctx);
    await box.start();
    await stage.start();
    let next = 0;
    const write = async (n: number) => {
      await box.writeSamples(numberBatch('plc1', next, n));
      next += n;
    };
    const kinds = (k: string) => seen.filter((s) => s.kind === k);
    await until('NBIRTH 1', () => kinds('NBIRTH').length === 1, 10_000);
    await write(50);
    await until('live data', () => kinds('DDATA').length > 0 && stage!.probe().details?.backlog === 0, 10_000);

    // the broker goes away; the records written meanwhile wait in the outbox
    await host!.endAsync(true);
    await broker.stop();
    await until('sink down', () => stage!.probe().state === 'down', 10_000);
    await write(120);
    const storedUntil = box.stats().lastSeq;
    await broker.start();
    await hostConnect();
    await until('NBIRTH 2', () => kinds('NBIRTH').length === 2, 15_000);
    await write(40); // after the births: live
    await until('everything delivered', () => stage!.probe().details?.backlog === 0, 15_000);
    await until('the host saw the live records', () => kinds('DDATA').flatMap((s) => s.p.metrics).filter((m) => !m.isHistorical).length >= 90, 10_000);

    const b2 = seen.indexOf(kinds('NBIRTH')[1]!);
    const after = seen.slice(b2).filter((s) => s.kind === 'DDATA').flatMap((s) => { const ids = recordIds(s.p); return s.p.metrics.map((m, k) => ({ seq: Number(String(ids[k]).split(':')[2]), hist: m.isHistorical === true })); });
    assert.deepEqual(after.filter((m) => m.hist).map((m) => m.seq), Array.from({ length: 120 }, (_, i) => 51 + i), 'the 120 stored records, flagged, in order');
    assert.ok(after.filter((m) => m.hist).every((m) => m.seq <= storedUntil));
    const firstLive = after.findIndex((m) => !m.hist);
    assert.equal(firstLive, 120, 'history first, then live');
    assert.deepEqual(after.slice(firstLive).map((m) => m.seq), Array.from({ length: 40 }, (_, i) => 171 + i));
    const bd = (s: Seen) => Number(s.p.metrics.find((m) => m.name === 'bdSeq')!.value);
    // bdSeq goes up by one per MQTT CONNECT, and the attempts while the broker was down count too
    const step = (bd(kinds('NBIRTH')[1]!) - bd(kinds('NBIRTH')[0]!) + 256) % 256;
    assert.ok(step >= 1 && step < 128, `a new MQTT session: bdSeq moved on by ${step}`);
  });
});
