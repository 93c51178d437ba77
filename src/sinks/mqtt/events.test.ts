import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { GatewayEvent } from '../../core/sample.ts';
import { numberBatch } from '../../../test/support/outbox/testing.ts';
import { encodePayload } from './sparkplug.ts';
import { DataType, decodeSpec, recordIds, type SpecMetric, type SpecPayload } from '../../../test/support/mqtt/sparkplug-spec.ts';
import { NCMD, sparkplugRig } from '../../../test/support/mqtt/sparkplug-rig.ts';
import { until } from '../../../test/support/wait.ts';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

// the host's view, decoded with the reader written from the specification (DDATA has no datatypes: the birth has them)
type Payload = SpecPayload;
type Metric = SpecMetric;
interface Msg { topic: string; kind: string; device: string | undefined; p: Payload }

const num = (v: unknown) => Number(String(v));

describe('mqtt sink, Sparkplug B gateway events', () => {
  test('events become DDATA Events/<kind> of device <source> after a DBIRTH declaring them; exactly once; seq continuous; rebirth re-declares them', async () => {
    const rig = sparkplugRig('gw-e');
    cleanups.push(rig.stop); // before anything can throw: a failed test must not leave the broker running
    await rig.start();
    const { ctx, broker, box, stage, host, stop } = rig;

    const sent = (): Msg[] => broker.received.filter((m) => !m.topic.startsWith(NCMD)).map((m) => {
      const parts = m.topic.split('/');
      return { topic: m.topic, kind: parts[2]!, device: parts[4], p: decodeSpec(m.payload) };
    });
    const count = (kind: string) => broker.received.filter((m) => m.topic.split('/')[2] === kind).length;
    const ddataIds = () => sent().filter((m) => m.kind === 'DDATA').flatMap((m) => recordIds(m.p));

    // the events written, by their (unique) message
    const events = new Map<string, GatewayEvent>();
    let samples = 0;
    let n = 0;
    const event = (source: string, kind: string, severity: GatewayEvent['severity'], data?: GatewayEvent['data']): GatewayEvent => {
      const e: GatewayEvent = { source, kind, severity, ts: 1_700_000_000_000 + n, message: `${source} ${kind} #${n}` };
      if (data) e.data = data;
      n++;
      events.set(e.message, e);
      return e;
    };
    let next = 0;
    /** samples of plc1 and plc2 with events in between; `kinds` varies so new event metrics appear later */
    const write = async (rounds: number, kinds: string[]) => {
      for (let i = 0; i < rounds; i++) {
        await box.writeSamples(numberBatch('plc1', next, 30));
        await box.writeEvents([
          event('source.plc1', 'health', 'critical', { state: 'down', previous: 'up', retries: 3, fatal: false }),
          event('reload', kinds[i % kinds.length]!, 'info'),
        ]);
        await box.writeSamples(numberBatch('plc2', next, 30));
        // an event whose source is a sample device: its metric joins that device's tags (new metric: DDEATH + DBIRTH)
        await box.writeEvents([event('plc2', 'threshold', 'warning', { value: 81.5 }), event('a/b#c', 'odd', 'info')]);
        samples += 60;
        next += 30;
      }
    };
    const written = () => samples + events.size;
    const allDelivered = () => new Set(ddataIds()).size >= written();

    await until('NBIRTH (NCMD subscribed)', () => count('NBIRTH') === 1, 15_000);
    await write(4, ['reload']);
    await until('first records', allDelivered, 20_000);
    await host.publishAsync(NCMD, Buffer.from(encodePayload({ timestamp: Date.now(), metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }] })), { qos: 0 });
    await until('rebirth NBIRTH', () => count('NBIRTH') === 2, 15_000);
    await write(4, ['reload', 'reload-partial']); // a new event metric after the rebirth
    await until('every record', allDelivered, 20_000);
    await until('cursor caught up', () => stage.probe().details?.backlog === 0, 15_000);

    const msgs = sent();
    assert.equal(count('NDEATH'), 0, 'one session throughout');
    // seq: 0 on each NBIRTH, +1 (mod 256) on every other message, across the rebirth
    for (let i = 1; i < msgs.length; i++) {
      const want = msgs[i]!.kind === 'NBIRTH' ? 0 : (num(msgs[i - 1]!.p.seq) + 1) % 256;
      assert.equal(num(msgs[i]!.p.seq), want, `seq of message ${i} (${msgs[i]!.kind})`);
    }

    // replay the host's view: a device's DDATA only while it is born, every alias declared by its DBIRTH
    const alive = new Map<string, Map<number, Metric>>(); // device -> alias -> declared metric
    const lastBirth = new Map<string, Metric[]>();
    const seenEvents = new Map<string, number>(); // message -> deliveries
    const ids: string[] = [];
    let rebirthChecked = false;
    for (const [i, m] of msgs.entries()) {
      if (m.kind === 'NBIRTH') {
        if (i > 0) {
          // the rebirth: before any further DDATA, a DBIRTH for every device born so far, same names and aliases
          const firstData = msgs.findIndex((x, j) => j > i && x.kind === 'DDATA');
          const births = msgs.slice(i + 1, firstData);
          assert.ok(births.every((b) => b.kind === 'DBIRTH'), 'only DBIRTHs between the rebirth NBIRTH and the next DDATA');
          assert.deepEqual(births.map((b) => b.device).sort(), [...lastBirth.keys()].sort());
          for (const b of births) {
            const shape = (ms: Metric[]) => ms.map((x) => [x.name, num(x.alias), x.datatype]);
            assert.deepEqual(shape(b.p.metrics!), shape(lastBirth.get(b.device!)!), `${b.device}: the rebirth declares the same metrics`);
          }
          const reborn = new Map(births.map((b) => [b.device!, b.p.metrics!.map((x) => x.name)]));
          assert.deepEqual(reborn.get('source.plc1'), ['Events/health']);
          assert.deepEqual(reborn.get('reload'), ['Events/reload']);
          assert.deepEqual(reborn.get('a_b_c'), ['Events/odd']);
          assert.ok(reborn.get('plc2')!.includes('Events/threshold'), 'an event metric of a sample device is re-declared too');
          rebirthChecked = true;
        }
        alive.clear();
        continue;
      }
      const dev = m.device!;
      if (m.kind === 'DDEATH') {
        assert.ok(alive.delete(dev), `DDEATH of a born device (${dev})`);
        continue;
      }
      if (m.kind === 'DBIRTH') {
        assert.ok(!alive.has(dev), `DBIRTH of ${dev} only when it is not born`);
        alive.set(dev, new Map(m.p.metrics!.map((x) => [num(x.alias), x])));
        lastBirth.set(dev, m.p.metrics!);
        for (const x of m.p.metrics!) if (String(x.name).startsWith('Events/')) assert.equal(x.datatype, DataType.String);
        continue;
      }
      assert.equal(m.kind, 'DDATA');
      const declared = alive.get(dev);
      assert.ok(declared, `DDATA of ${dev} after its DBIRTH`);
      const idsOf = recordIds(m.p);
      for (const [k, x] of m.p.metrics!.entries()) {
        assert.equal(x.name, undefined, 'DDATA carries aliases only');
        assert.equal(x.datatype, undefined, 'DDATA carries no datatype (Sparkplug 3.0: SHOULD NOT)');
        assert.equal(x.properties?.recordId, undefined, 'ids by position, not per metric');
        const def = declared.get(num(x.alias));
        assert.ok(def, `alias ${num(x.alias)} declared in the DBIRTH of ${dev}`);
        const id = String(idsOf[k]);
        assert.match(id, /^gw-e:[0-9a-z]+:\d+$/);
        ids.push(id);
        if (!String(def.name).startsWith('Events/')) continue;
        const e = events.get(String(x.value));
        assert.ok(e, `an event message as the value: ${String(x.value)}`);
        seenEvents.set(e.message, (seenEvents.get(e.message) ?? 0) + 1);
        assert.equal(dev, e.source.replace(/[/+#]/g, '_'), 'device = event source');
        assert.equal(def.name, `Events/${e.kind}`);
        assert.equal(def.datatype, DataType.String);
        assert.equal(num(x.timestamp), e.ts, 'timestamp = event ts');
        assert.equal(x.properties?.severity, e.severity);
        const data = x.properties?.data;
        if (e.data) {
          assert.deepEqual(data, e.data);
        } else {
          assert.equal(data, undefined);
        }
      }
    }
    assert.ok(rebirthChecked, 'the rebirth was seen');
    // every record exactly once; every event delivered exactly once
    assert.equal(ids.length, written());
    assert.equal(new Set(ids).size, written());
    assert.equal(seenEvents.size, events.size);
    assert.ok([...seenEvents.values()].every((c) => c === 1));
    // the event metric was declared before its first DDATA
    const firstEventData = msgs.findIndex((m) => m.kind === 'DDATA' && m.device === 'source.plc1');
    assert.ok(msgs.slice(0, firstEventData).some((m) => m.kind === 'DBIRTH' && m.device === 'source.plc1' && m.p.metrics!.some((x) => x.name === 'Events/health')));
    // a later event kind: DDEATH + DBIRTH of the reload device with both metrics
    const reloadBirths = msgs.filter((m) => m.kind === 'DBIRTH' && m.device === 'reload').map((m) => m.p.metrics!.map((x) => x.name));
    assert.deepEqual(reloadBirths.at(-1), ['Events/reload', 'Events/reload-partial']);
    // nothing dropped for want of a mapping
    const dropped = (await ctx.metrics.dropped.get()).values.filter((v) => v.labels.reason === 'no-sparkplug-mapping');
    assert.equal(dropped.reduce((a, v) => a + v.value, 0), 0);
    await stop();
  });
});
