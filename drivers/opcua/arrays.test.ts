import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { browseOpcua } from './browse.ts';
import { opcuaSourceSchema } from './config.ts';
import type { OpcuaSimulatorHandle } from './sim/server.ts';
import { runSource, startSim, tempDataDir } from '../../test/support/opcua/testkit.ts';

// Array variables over real opc.tcp (security None): one sample per element, named <tag>[i].
describe('opcua arrays over opc.tcp', () => {
  let data: Awaited<ReturnType<typeof tempDataDir>>;
  let sim: OpcuaSimulatorHandle;

  before(async () => {
    data = await tempDataDir();
    sim = await startSim(data.dir, {
      variables: [
        // element i is the generator's value plus i
        { path: 'Line1/Profile', dataType: 'Double', arrayLength: 5, generator: { kind: 'constant', value: 1.5 } },
        { path: 'Line1/Counts', dataType: 'Int32', arrayLength: 4, generator: { kind: 'constant', value: 10 } },
        { path: 'Line1/Long', dataType: 'Int32', arrayLength: 1200, generator: { kind: 'constant', value: 0 } },
        { path: 'Line1/Failed', dataType: 'Double', arrayLength: 3, generator: { kind: 'constant', value: 2 }, status: 'BadSensorFailure' },
        { path: 'Line1/Temp', generator: { kind: 'constant', value: 21 } },
      ],
    });
  });
  after(async () => {
    await sim?.stop();
    await data?.remove();
  });

  const tags = [
    { name: 'profile', nodeId: 'ns=1;s=Line1.Profile' },
    { name: 'counts', nodeId: 'ns=1;s=Line1.Counts', maxArrayLength: 3 }, // the per-tag cap
    { name: 'long', nodeId: 'ns=1;s=Line1.Long' }, // the source default cap, 1000
    { name: 'failed', nodeId: 'ns=1;s=Line1.Failed' },
    { name: 'temp', nodeId: 'ns=1;s=Line1.Temp' },
  ];
  const expectedTags = 5 + 3 + 1000 + 3 + 1;

  for (const mode of ['subscription', 'polling'] as const) {
    it(`expands arrays into <tag>[i] samples, capped, with the array's status (${mode})`, async () => {
      const src = runSource(data.dir, {
        endpoint: sim.address, securityMode: 'None', mode, pollInterval: '200ms',
        publishingInterval: '100ms', samplingInterval: '100ms', tags,
      });
      try {
        await src.until(() => src.latest.size >= expectedTags, 15_000, `all ${expectedTags} element samples`);
        const s = (tag: string) => src.latest.get(tag)?.sample;
        // Double: five elements, same timestamp and quality, no sample under the bare tag name
        assert.deepEqual([0, 1, 2, 3, 4].map((i) => s(`profile[${i}]`)?.value), [1.5, 2.5, 3.5, 4.5, 5.5]);
        const ts = s('profile[0]')!.ts;
        for (let i = 0; i < 5; i++) {
          assert.equal(s(`profile[${i}]`)!.quality, 'good');
          assert.equal(s(`profile[${i}]`)!.reason, undefined);
          assert.equal(s(`profile[${i}]`)!.source, 'plc');
          assert.equal(s(`profile[${i}]`)!.ts, ts, 'one DataValue, one timestamp');
        }
        assert.equal(s('profile[5]'), undefined);
        assert.equal(s('profile'), undefined);
        // Int32 with maxArrayLength 3 on the tag: elements 0..2 only
        assert.deepEqual([0, 1, 2].map((i) => s(`counts[${i}]`)?.value), [10, 11, 12]);
        assert.equal(s('counts[3]'), undefined);
        // 1200 elements against the default cap of 1000
        assert.equal(s('long[999]')?.value, 999);
        assert.equal(s('long[1000]'), undefined);
        // a bad status on the array marks every element bad, values kept as the server sent them
        assert.deepEqual([0, 1, 2].map((i) => [s(`failed[${i}]`)?.quality, s(`failed[${i}]`)?.reason, s(`failed[${i}]`)?.value]), [
          ['bad', 'BadSensorFailure', 2], ['bad', 'BadSensorFailure', 3], ['bad', 'BadSensorFailure', 4],
        ]);
        assert.equal(s('failed'), undefined);
        assert.deepEqual([s('temp')?.value, s('temp')?.quality], [21, 'good']);
        // the cut elements are counted on the probe and in the dropped metric
        await src.until(() => (src.probe().details!.arrayElementsDropped as number) >= 201, 5_000, 'the dropped count');
        const m = await src.ctx.metrics.registry.getSingleMetricAsString('fieldgate_records_dropped_total');
        const dropped = Number(/stage="source:plc",reason="array-cap"} (\d+)/.exec(m)?.[1] ?? 0);
        assert.ok(dropped >= 201, `array-cap drops ${dropped} (at least 1 + 200 for the two capped arrays)`);
        assert.equal(src.probe().state, 'up', JSON.stringify(src.probe()));
      } finally {
        await src.stop();
      }
    });
  }

  it('browse shows an array with its length and first elements', async () => {
    const cfg = opcuaSourceSchema.parse({ type: 'opcua', id: 'plc', endpoint: sim.address, securityMode: 'None', tags: ['i=2258'] });
    const inside = await browseOpcua(cfg, { dataDir: data.dir, node: 'ns=1;s=Line1', signal: AbortSignal.timeout(10_000) });
    const profile = inside.find((e) => e.nodeId === 'ns=1;s=Line1.Profile');
    assert.deepEqual([profile?.dataType, profile?.value, profile?.quality], ['Double[5]', '1.5, 2.5, 3.5, 4.5, …', 'good']);
    const failed = inside.find((e) => e.nodeId === 'ns=1;s=Line1.Failed');
    assert.equal(failed?.quality, 'bad (BadSensorFailure)');
  });
});
