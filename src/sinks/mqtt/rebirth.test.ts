import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { numberBatch } from '../../../test/support/outbox/testing.ts';
import { decodePayload, encodePayload } from './sparkplug.ts';
import { decodeSpec, recordIds, type SpecPayload } from '../../../test/support/mqtt/sparkplug-spec.ts';
import { NCMD, sparkplugRig } from '../../../test/support/mqtt/sparkplug-rig.ts';
import type { Received } from '../../../test/support/mqtt/test-broker.ts';
import { until } from '../../../test/support/wait.ts';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function setup() {
  const rig = sparkplugRig('gw-r');
  cleanups.push(rig.stop);
  await rig.start();
  const { ctx, broker, box, stage, host, stop } = rig;
  let next = 0;
  /** `rounds` batches of 100 samples for each of plc1 and plc2 */
  const write = async (rounds: number) => {
    for (let i = 0; i < rounds; i++) {
      await Promise.all([box.writeSamples(numberBatch('plc1', next, 100)), box.writeSamples(numberBatch('plc2', next, 100))]);
      next += 100;
    }
  };
  const written = () => 2 * next;
  // what the edge node published (the host's NCMDs pass through the same broker)
  const sent = () => broker.received.filter((m) => !m.topic.startsWith(NCMD)).map((m) => ({ topic: m.topic, kind: m.topic.split('/')[2]!, p: decodeSpec(m.payload) }));
  const count = (kind: string) => broker.received.filter((m: Received) => m.topic.split('/')[2] === kind).length;
  const ids = () => sent().filter((m) => m.kind === 'DDATA').flatMap((m) => recordIds(m.p).map(String));
  const ncmdErrors = async () => (await ctx.metrics.errors.get()).values.find((v) => v.labels.code === 'FG_E_SPARKPLUG_NCMD')?.value ?? 0;
  return { ctx, broker, stage, host, stop, write, written, sent, count, recordIds: ids, ncmdErrors };
}

const ncmd = (metrics: { name: string; type: 'Boolean'; value: boolean }[]) => Buffer.from(encodePayload({ timestamp: Date.now(), metrics }));
const bdSeq = (p: SpecPayload) => Number(String(p.metrics!.find((x) => x.name === 'bdSeq')!.value));
const device = (topic: string) => topic.split('/')[4];

describe('mqtt sink, Sparkplug B rebirth requests', () => {
  test('NCMD Node Control/Rebirth mid-stream: NBIRTH with the same bdSeq, DBIRTHs before more DDATA, no record lost or doubled', async () => {
    const r = await setup();
    await until('NBIRTH (NCMD subscribed)', () => r.count('NBIRTH') === 1, 15_000);
    await r.write(10);
    await until('both devices born', () => new Set(r.sent().filter((m) => m.kind === 'DDATA').map((m) => device(m.topic))).size === 2, 15_000);
    await r.host.publishAsync(NCMD, ncmd([{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }]), { qos: 0 });
    await r.write(10); // while the request is on its way
    await until('rebirth NBIRTH', () => r.count('NBIRTH') === 2, 15_000);
    await r.write(5); // certainly after the rebirth
    await until('every record', () => new Set(r.recordIds()).size >= r.written(), 20_000);

    const msgs = r.sent();
    assert.equal(r.count('NDEATH'), 0, 'no reconnect: the rebirth happened within the session');
    const births = msgs.flatMap((m, i) => (m.kind === 'NBIRTH' ? [i] : []));
    assert.equal(births.length, 2);
    const [b0, b1] = [births[0]!, births[1]!];
    assert.equal(bdSeq(msgs[b1]!.p), bdSeq(msgs[b0]!.p), 'same bdSeq: the MQTT session and its will are unchanged');
    assert.equal(Number(msgs[b1]!.p.seq), 0);
    assert.equal(r.broker.received.filter((m) => m.topic.includes('NBIRTH'))[1]!.qos, 1, 'the rebirth NBIRTH cannot overtake DDATA in flight');

    // before the rebirth: devices born with their DBIRTHs; after it: exactly one DBIRTH each, then DDATA
    const bornBefore = new Set(msgs.slice(b0, b1).filter((m) => m.kind === 'DBIRTH').map((m) => device(m.topic)));
    assert.deepEqual([...bornBefore].sort(), ['plc1', 'plc2']);
    const firstData = msgs.findIndex((m, i) => i > b1 && m.kind === 'DDATA');
    assert.ok(firstData > b1, 'DDATA follows the rebirth');
    const rebirths = msgs.slice(b1 + 1, firstData);
    assert.deepEqual(rebirths.map((m) => m.kind), ['DBIRTH', 'DBIRTH']);
    assert.deepEqual(rebirths.map((m) => device(m.topic)).sort(), ['plc1', 'plc2']);
    // the rebirth declares the same names and aliases as the first birth (the host's alias table stays valid)
    for (const m of rebirths) {
      const first = msgs.find((x) => x.kind === 'DBIRTH' && x.topic === m.topic)!;
      const names = (x: typeof m) => x.p.metrics.map((y) => [y.name, Number(y.alias), y.datatype]);
      assert.deepEqual(names(m), names(first));
    }
    // seq: 0 on each NBIRTH, +1 (mod 256) on every other message, across the rebirth
    for (let i = 1; i < msgs.length; i++) {
      const want = msgs[i]!.kind === 'NBIRTH' ? 0 : (Number(msgs[i - 1]!.p.seq) + 1) % 256;
      assert.equal(Number(msgs[i]!.p.seq), want, `seq of message ${i} (${msgs[i]!.kind})`);
    }
    // every record exactly once
    const ids = r.recordIds();
    assert.equal(ids.length, r.written());
    assert.equal(new Set(ids).size, r.written());
    await until('cursor caught up', () => r.stage.probe().details?.backlog === 0, 15_000);
    await r.stop();
  });

  test('an undecodable NCMD is counted and ignored; other commands are ignored; data keeps flowing', async () => {
    const r = await setup();
    await until('NBIRTH (NCMD subscribed)', () => r.count('NBIRTH') === 1, 15_000);
    await r.write(2);
    // fixed pseudo-random bytes, checked to be no Sparkplug payload
    let x = 12345;
    const garbage = Buffer.alloc(64);
    for (let i = 0; i < garbage.length; i++) { x = (x * 1103515245 + 12345) >>> 0; garbage[i] = x >>> 24; }
    assert.throws(() => decodePayload(garbage));
    // sent in this order on one connection, so once the error is counted the write request was handled too
    await r.host.publishAsync(NCMD, ncmd([{ name: 'Node Control/Rebirth', type: 'Boolean', value: false }, { name: 'plc1/t0', type: 'Boolean', value: true }]), { qos: 0 });
    await r.host.publishAsync(NCMD, garbage, { qos: 0 });
    await until('error counted', async () => (await r.ncmdErrors()) >= 1, 15_000);
    await r.write(3);
    await until('every record', () => new Set(r.recordIds()).size >= r.written(), 20_000);
    assert.equal(await r.ncmdErrors(), 1);
    assert.equal(r.count('NBIRTH'), 1, 'neither command caused a rebirth');
    assert.equal(r.count('NDEATH'), 0, 'the connection stayed up');
    assert.equal(r.stage.probe().state, 'up');
    assert.equal(r.recordIds().length, r.written());
    await r.stop();
  });
});
