import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { createOutbox, outboxSchema, type Outbox } from '../../outbox/index.ts';
import { numberBatch, tempContext } from '../../../test/support/outbox/testing.ts';
import type { Stage } from '../../core/contracts.ts';
import { sinkSchema } from '../config.ts';
import { createSink } from '../index.ts';
import { type CompactSamplesJson, decodeCompactSamples } from '../json.ts';
import { decodePayload } from './sparkplug.ts';
import { decodeSpec, recordIds } from '../../../test/support/mqtt/sparkplug-spec.ts';
import { TestBroker } from '../../../test/support/mqtt/test-broker.ts';
import { until as waitUntil } from '../../../test/support/wait.ts';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function setup(sink: Record<string, unknown>) {
  const ctx = tempContext('gw-m');
  const broker = new TestBroker();
  await broker.start();
  const box: Outbox = createOutbox(outboxSchema.parse({ commitInterval: '5ms' }), ctx);
  const cfg = sinkSchema.parse({ id: 'up', type: 'mqtt', url: broker.url, backoff: { initial: '20ms', max: '200ms' }, ...sink });
  const stage: Stage = createSink(cfg, box, ctx);
  await box.start();
  await stage.start();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await stage.stop(1000);
    await box.stop(1000);
    await broker.stop();
    ctx.cleanup();
  };
  cleanups.push(stop);
  return { ctx, broker, box, stage, stop };
}

/** the shared poller, with this file's longer default (broker restarts take a while) */
async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  await waitUntil(what, cond, ms, 10);
}

interface JsonRecord { id: string; source: string; tag: string; value: number }

describe('mqtt sink', () => {
  test('json batches: broker stopped and restarted, zero loss and in order, cursor moves on PUBACK', async () => {
    const { broker, box, stage, stop } = await setup({ batchSize: 200 });
    const records = () => broker.received.flatMap((m) => (JSON.parse(m.payload.toString()) as { records: JsonRecord[] }).records);
    let next = 0;
    const write = async (n: number) => {
      for (let i = 0; i < n; i += 100) {
        await Promise.all([box.writeSamples(numberBatch('plc1', next, 100)), box.writeSamples(numberBatch('plc2', next, 100))]);
        next += 100;
      }
    };
    await write(2000);
    await until('first delivery', () => records().length >= 4000);
    assert.equal(stage.probe().state, 'up');
    assert.ok(broker.received.every((m) => m.qos === 1));
    assert.ok(broker.received.some((m) => m.topic === 'fieldgate/gw-m/sample/plc1'));

    await broker.stop();
    await write(3000); // accepted while the upstream is down
    await until('probe down', () => stage.probe().state === 'down');
    const p = stage.probe();
    assert.match(p.reason ?? '', /unreachable/);
    assert.ok((p.details?.backlog as number) > 0, 'the backlog shows');

    await broker.start();
    await write(1000);
    await until('all delivered', () => new Set(records().map((r) => r.id)).size >= 2 * next);
    const seen = new Map<string, JsonRecord>();
    for (const r of records()) {
      const prev = seen.get(r.id);
      if (prev) assert.deepEqual(prev, r, 'a duplicate carries the same id and content');
      else seen.set(r.id, r);
    }
    for (const src of ['plc1', 'plc2']) {
      const vals = [...seen.values()].filter((r) => r.source === src).map((r) => r.value);
      assert.deepEqual(vals, Array.from({ length: next }, (_, i) => i), `${src}: every record, in order`);
    }
    await until('cursor caught up', () => stage.probe().details?.backlog === 0);
    await stop();
  });

  test('compact json: one columnar message per source per chunk, broker restarted, every sample once in order with its id', async () => {
    const { broker, box, stop } = await setup({ batchSize: 300, format: 'compact' });
    const samples = () => broker.received.flatMap((m) => {
      const msg = JSON.parse(m.payload.toString()) as CompactSamplesJson;
      assert.ok(!('records' in msg), 'samples travel compact');
      assert.equal(msg.gateway, 'gw-m');
      assert.equal(m.topic, `fieldgate/gw-m/sample/${msg.source}`);
      return decodeCompactSamples(msg);
    });
    let next = 0;
    const write = async (n: number) => {
      for (let i = 0; i < n; i += 100) {
        await Promise.all([box.writeSamples(numberBatch('plc1', next, 100)), box.writeSamples(numberBatch('plc2', next, 100))]);
        next += 100;
      }
    };
    await write(1000);
    await until('first delivery', () => samples().length >= 2000);
    await broker.stop();
    await write(1000);
    await broker.start();
    await write(500);
    await until('all delivered', () => new Set(samples().map((r) => r.id)).size >= 2 * next);
    const seen = new Map<string, ReturnType<typeof decodeCompactSamples>[number]>();
    for (const r of samples()) {
      const prev = seen.get(r.id);
      if (prev) assert.deepEqual(prev, r, 'a duplicate carries the same id and content');
      else seen.set(r.id, r);
      assert.match(r.id, /^gw-m:[0-9a-z]+:[0-9]+$/);
    }
    for (const src of ['plc1', 'plc2']) {
      const mine = [...seen.values()].filter((r) => r.source === src);
      assert.deepEqual(mine.map((r) => r.value), Array.from({ length: next }, (_, i) => i), `${src}: every sample, in order`);
      assert.ok(mine.every((r) => r.quality === 'good' && r.tag === `t${Number(r.value) % 10}`));
    }
    // the per-record shape gives the same ids: seq runs + idBase name the outbox rows
    const ids = [...seen.keys()].map((id) => Number(id.slice(id.lastIndexOf(':') + 1))).sort((a, b) => a - b);
    assert.equal(new Set(ids).size, 2 * next);
    await stop();
  });

  test('compact json: events keep the records shape on their own topic', async () => {
    const { broker, box, stop } = await setup({ format: 'compact' });
    await box.writeSamples({ source: 'plc1', receivedAt: 1, samples: [
      { source: 'plc1', tag: 'temp', ts: 5, value: 21.5, quality: 'good' },
      { source: 'plc1', tag: 'flow', ts: 5, value: 0, quality: 'bad', reason: 'exception 2' },
    ] });
    await box.writeEvents([{ source: 'router', kind: 'test', ts: 6, severity: 'info', message: 'hello' }]);
    await until('two messages', () => broker.received.length >= 2);
    const byTopic = new Map(broker.received.map((m) => [m.topic, JSON.parse(m.payload.toString()) as Record<string, unknown>]));
    const s = byTopic.get('fieldgate/gw-m/sample/plc1') as unknown as CompactSamplesJson;
    assert.deepEqual({ ...s, idBase: 'X' }, { gateway: 'gw-m', source: 'plc1', idBase: 'X', seq: [s.seq[0]!, 2], ts: 5, tag: ['temp', 'flow'], value: [21.5, 0], quality: { 1: 'bad' }, reason: { 1: 'exception 2' } });
    const e = byTopic.get('fieldgate/gw-m/event/router') as { records: { kind: string; message: string }[] };
    assert.deepEqual(e.records.map((r) => [r.kind, r.message]), [['event', 'hello']]);
    await stop();
  });

  test('format: compact needs messages: batch', () => {
    const r = sinkSchema.safeParse({ id: 'up', type: 'mqtt', url: 'mqtt://127.0.0.1:1', format: 'compact', messages: 'sample' });
    assert.equal(r.success, false);
    assert.match(JSON.stringify(r.error?.issues), /format: compact needs messages: batch/);
  });

  test('one message per sample with a topic template', async () => {
    const { broker, box, stop } = await setup({ messages: 'sample', topic: 'plant/{gateway}/{source}/{tag}', qos: 0 });
    await box.writeSamples({ source: 'plc1', receivedAt: 1, samples: [
      { source: 'plc1', tag: 'temp', ts: 1, value: 21.5, quality: 'good' },
      { source: 'plc1', tag: 'count', ts: 2, value: 2n ** 62n, quality: 'good' },
    ] });
    await until('two messages', () => broker.received.length === 2);
    assert.deepEqual(broker.received.map((m) => m.topic), ['plant/gw-m/plc1/temp', 'plant/gw-m/plc1/count']);
    const second = JSON.parse(broker.received[1]!.payload.toString()) as JsonRecord & { value: unknown };
    assert.equal(second.value, (2n ** 62n).toString(), 'int64 travels as a decimal string');
    assert.match(second.id, /^gw-m:[0-9a-z]+:2$/);
    await stop();
  });

  test('sparkplug B: NBIRTH, DBIRTH, DDATA with aliases and seq, NDEATH will with the same bdSeq', async () => {
    const { broker, box, stop } = await setup({ payload: 'sparkplug-b', sparkplug: { groupId: 'g1', edgeNodeId: 'edge1' } });
    await box.writeSamples({ source: 'plc1', receivedAt: 1, samples: [
      { source: 'plc1', tag: 'temp', ts: 1000, value: 20.5, quality: 'good' },
      { source: 'plc1', tag: 'on', ts: 1000, value: true, quality: 'good' },
    ] });
    await box.writeSamples({ source: 'plc1', receivedAt: 2, samples: [
      { source: 'plc1', tag: 'temp', ts: 2000, value: 21, quality: 'bad', reason: 'timeout' },
      { source: 'plc1', tag: 'big', ts: 2000, value: 2n ** 40n + 7n, quality: 'good' },
    ] });
    await until('6 messages', () => broker.received.length >= 6);
    broker.dropClients(); // no DISCONNECT: the broker publishes the will
    await until('NDEATH', () => broker.received.some((m) => m.topic.includes('NDEATH')));
    const msgs = broker.received.map((m) => ({ topic: m.topic, p: decodePayload(m.payload) }));
    const kinds = msgs.map((m) => m.topic.split('/')[2]);
    assert.deepEqual(kinds.slice(0, 7), ['NBIRTH', 'DBIRTH', 'DDATA', 'DDEATH', 'DBIRTH', 'DDATA', 'NDEATH']);
    assert.equal(msgs[0]!.topic, 'spBv1.0/g1/NBIRTH/edge1');
    assert.equal(msgs[1]!.topic, 'spBv1.0/g1/DBIRTH/edge1/plc1');
    // seq: NBIRTH 0, then +1 on every message of the session
    assert.deepEqual(msgs.slice(0, 6).map((m) => Number(m.p.seq)), [0, 1, 2, 3, 4, 5]);
    const bd = (m: (typeof msgs)[number]) => Number(String(m.p.metrics!.find((x) => x.name === 'bdSeq')!.value));
    assert.equal(bd(msgs[6]!), bd(msgs[0]!), 'the will carries the NBIRTH bdSeq');
    // first DBIRTH: temp and on, with names and aliases; DDATA: alias only, bad quality property
    const birth = msgs[1]!.p.metrics!;
    assert.deepEqual(birth.map((m) => [m.name, m.type, m.value]), [['temp', 'Double', 20.5], ['on', 'Boolean', true]]);
    // DDATA as a host reads it (no datatype after birth: the reader written from the spec, not the library's)
    const ddata = decodeSpec(broker.received[2]!.payload);
    const data = ddata.metrics;
    assert.deepEqual(data.map((m) => [Number(m.alias), m.value, m.name, m.datatype]), [[Number(birth[0]!.alias), 20.5, undefined, undefined], [Number(birth[1]!.alias), true, undefined, undefined]]);
    assert.match(String(recordIds(ddata)[0]), /^gw-m:[0-9a-z]+:1$/);
    assert.match(String(ddata.uuid), /^ids:gw-m:[0-9a-z]+:1$/, 'the record ids: the first in uuid, the rest by position');
    const ddata2 = decodeSpec(broker.received[5]!.payload);
    const data2 = ddata2.metrics;
    assert.equal(data2[0]!.value, 21);
    assert.equal(data2[0]!.properties?.Quality, 0, 'bad quality travels as a Quality property');
    assert.match(String(recordIds(ddata2)[1]), /^gw-m:[0-9a-z]+:4$/);
    // a new metric: DDEATH then a DBIRTH with all three, the Int64 exact
    const rebirth = msgs[4]!.p.metrics!;
    assert.deepEqual(rebirth.map((m) => m.name), ['temp', 'on', 'big']);
    assert.equal(rebirth[2]!.type, 'Int64');
    assert.equal(String(rebirth[2]!.value), (2n ** 40n + 7n).toString());

    // the runner reconnects: a new session has bdSeq + 1 and starts again at NBIRTH seq 0
    await until('rebirth after reconnect', () => broker.received.filter((m) => m.topic.includes('NBIRTH')).length === 2);
    const births = broker.received.filter((m) => m.topic.includes('NBIRTH')).map((m) => decodePayload(m.payload));
    assert.equal(Number(births[1]!.seq), 0);
    assert.equal(Number(String(births[1]!.metrics![0]!.value)), (bd(msgs[0]!) + 1) % 256);
    await stop();
  });
});
