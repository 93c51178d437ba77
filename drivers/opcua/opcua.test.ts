import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { browseOpcua } from './browse.ts';
import { formatBrowse } from './browse-format.ts';
import { opcuaSourceSchema } from './config.ts';
import type { OpcuaSimulatorHandle } from './sim/server.ts';
import { runSource, startSim, tempDataDir } from '../../test/support/opcua/testkit.ts';

// Real opc.tcp on loopback against the project's own simulator, security None (security has its own file).
describe('opcua driver over opc.tcp (security None)', () => {
  let data: Awaited<ReturnType<typeof tempDataDir>>;
  let sim: OpcuaSimulatorHandle;

  before(async () => {
    data = await tempDataDir();
    sim = await startSim(data.dir, {
      variables: [
        { path: 'Line1/Temp', generator: { kind: 'sine', amplitude: 10, offset: 20, period: '2s' } },
        { path: 'Line1/Count', dataType: 'Int32', generator: { kind: 'ramp', min: 0, max: 1000, period: '10s' } },
        { path: 'Line1/Big', dataType: 'Int64', generator: { kind: 'constant', value: -5000000000 } },
        { path: 'Line1/Running', dataType: 'Boolean', generator: { kind: 'constant', value: 1 } },
        { path: 'Line1/Label', dataType: 'String', generator: { kind: 'constant', value: 1.5 } },
        { path: 'Line1/Stamp', dataType: 'DateTime', generator: { kind: 'constant', value: 0 } },
        { path: 'Line1/Stale', generator: { kind: 'constant', value: 7 }, status: 'UncertainLastUsableValue' },
        { path: 'Line1/Broken', generator: { kind: 'constant', value: 0 }, status: 'BadSensorFailure' },
      ],
    });
  });
  after(async () => {
    await sim?.stop();
    await data?.remove();
  });

  it('delivers typed values with source timestamps and qualities, one batch per notification', async () => {
    const t0 = Date.now();
    const src = runSource(data.dir, {
      endpoint: sim.address,
      securityMode: 'None',
      securityPolicy: 'None',
      publishingInterval: '100ms',
      samplingInterval: '50ms',
      tags: [
        'ns=1;s=Line1.Temp',
        { name: 'count', nodeId: 'ns=1;s=Line1.Count' },
        { name: 'big', nodeId: 'ns=1;s=Line1.Big' },
        { name: 'running', nodeId: 'ns=1;s=Line1.Running' },
        { name: 'label', nodeId: 'ns=1;s=Line1.Label' },
        { name: 'stamp', nodeId: 'ns=1;s=Line1.Stamp' },
        { name: 'stale', nodeId: 'ns=1;s=Line1.Stale' },
        { name: 'broken', nodeId: 'ns=1;s=Line1.Broken' },
        { name: 'byPath', browsePath: '/Objects/1:Line1/1:Temp' },
        { name: 'missing', nodeId: 'ns=1;s=No.Such.Node' },
      ],
    });
    try {
      await src.until(() => src.latest.size === 10, 10_000, 'all 10 tags');
      const v = (tag: string) => src.latest.get(tag)!.sample;
      assert.equal(typeof v('ns=1;s=Line1.Temp').value, 'number');
      assert.ok((v('ns=1;s=Line1.Temp').value as number) >= 10 && (v('ns=1;s=Line1.Temp').value as number) <= 30);
      assert.ok(Number.isInteger(v('count').value));
      assert.equal(v('big').value, -5_000_000_000);
      assert.equal(v('running').value, true);
      assert.equal(v('label').value, '1.500');
      assert.equal(typeof v('stamp').value, 'string');
      assert.ok(!Number.isNaN(Date.parse(v('stamp').value as string)));
      assert.equal(typeof v('byPath').value, 'number');
      for (const tag of ['ns=1;s=Line1.Temp', 'count', 'big', 'running', 'label', 'byPath']) {
        const s = v(tag);
        assert.equal(s.quality, 'good', tag);
        assert.equal(s.reason, undefined);
        assert.equal(s.source, 'plc');
        // the simulator stamps each sample: a source timestamp from this run, not the epoch
        assert.ok(s.ts >= t0 - 1000 && s.ts <= Date.now() + 1000, `${tag} ts ${s.ts}`);
      }
      assert.deepEqual([v('stale').quality, v('stale').reason, v('stale').value], ['uncertain', 'UncertainLastUsableValue', 7]);
      assert.deepEqual([v('broken').quality, v('broken').reason], ['bad', 'BadSensorFailure']);
      assert.deepEqual([v('missing').quality, v('missing').reason, v('missing').value], ['bad', 'BadNodeIdUnknown', null]);
      // the unknown node does not stop the others: Temp keeps changing afterwards
      const seen = src.latest.get('ns=1;s=Line1.Temp')!.at;
      await src.until(() => src.latest.get('ns=1;s=Line1.Temp')!.at > seen, 3000, 'a later Temp notification');
      const probe = src.probe();
      assert.equal(probe.state, 'degraded', JSON.stringify(probe));
      assert.match(probe.reason!, /1 of 10 tags bad \(missing: BadNodeIdUnknown\)/);
      assert.ok(src.heartbeats > 3);
      // batches, not values: far fewer batches than samples
      const m = await src.ctx.metrics.registry.getSingleMetricAsString('fieldgate_records_received_total');
      const received = Number(/stage="source:plc"} (\d+)/.exec(m)![1]);
      assert.ok(received > src.batches, `received ${received} samples in ${src.batches} batches`);
    } finally {
      await src.stop();
    }
  });

  it('polls with the Read service in polling mode', async () => {
    const src = runSource(data.dir, {
      endpoint: sim.address, securityMode: 'None', mode: 'polling', pollInterval: '100ms',
      tags: ['ns=1;s=Line1.Temp', { name: 'missing', nodeId: 'ns=1;s=Nope' }],
    });
    try {
      await src.until(() => src.batches >= 3, 10_000, 'three polls');
      assert.equal(src.latest.get('ns=1;s=Line1.Temp')!.sample.quality, 'good');
      assert.equal(src.latest.get('missing')!.sample.reason, 'BadNodeIdUnknown');
    } finally {
      await src.stop();
    }
  });

  it('browses the address space with NodeIds, types and browse paths', async () => {
    const cfg = opcuaSourceSchema.parse({ type: 'opcua', id: 'plc', endpoint: sim.address, securityMode: 'None', tags: ['i=2258'] });
    const top = await browseOpcua(cfg, { dataDir: data.dir, signal: AbortSignal.timeout(10_000) });
    const line1 = top.find((e) => e.browseName === '1:Line1');
    assert.ok(line1, formatBrowse(top));
    assert.equal(line1.nodeId, 'ns=1;s=Line1');
    assert.equal(line1.nodeClass, 'Object');
    const inside = await browseOpcua(cfg, { dataDir: data.dir, node: line1.nodeId, signal: AbortSignal.timeout(10_000) });
    const temp = inside.find((e) => e.browseName === '1:Temp')!;
    assert.equal(temp.nodeId, 'ns=1;s=Line1.Temp');
    assert.equal(temp.dataType, 'Double');
    assert.equal(temp.nodeClass, 'Variable');
    const deep = await browseOpcua(cfg, { dataDir: data.dir, depth: 2, signal: AbortSignal.timeout(10_000) });
    assert.equal(deep.find((e) => e.nodeId === 'ns=1;s=Line1.Temp')?.browsePath, '/0:Objects/1:Line1/1:Temp');
    const table = formatBrowse(inside);
    assert.match(table, /1:Temp\s+Variable\s+ns=1;s=Line1\.Temp\s+Double/);
    assert.match(formatBrowse(inside), /1:Broken.*bad \(BadSensorFailure\)/);
  });
});
