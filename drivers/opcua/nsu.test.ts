import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { isFgError } from '../../src/core/errors.ts';
import { browseOpcua } from './browse.ts';
import { opcuaSourceSchema } from './config.ts';
import { runSource, startSim, tempDataDir } from '../../test/support/opcua/testkit.ts';

// NodeIds that name their namespace by URI (nsu=) are resolved against the server's namespace
// array, per session: they keep working when a restarted server puts that namespace at another index.
let data: Awaited<ReturnType<typeof tempDataDir>>;
before(async () => { data = await tempDataDir(); });
after(async () => { await data.remove(); });

const layout = (extra: string[], value: number) => ({
  namespaceUri: 'urn:plant', extraNamespaces: extra,
  variables: [{ path: 'Line1/Temp', generator: { kind: 'constant', value } }],
});
const tags = [
  { name: 'temp', nodeId: 'nsu=urn:plant;s=Line1.Temp' },
  { name: 'encoded', nodeId: 'nsu=urn%3Aplant;s=Line1.Temp' },
  { name: 'unknown', nodeId: 'nsu=urn:nowhere;s=Line1.Temp' },
];

for (const mode of ['subscription', 'polling'] as const) {
  it(`${mode}: nsu= NodeIds read their variable, follow a namespace that moves on a restart, and an unknown URI is bad with the reason`, async () => {
    const logLines: string[] = [];
    let sim = await startSim(data.dir, layout(['urn:first', 'urn:second'], 42));
    const src = runSource(data.dir, {
      endpoint: sim.address, securityMode: 'None', mode, publishingInterval: '100ms', samplingInterval: '100ms', pollInterval: '100ms',
      keepAliveInterval: '1s', reconnect: { initialDelay: '100ms', maxDelay: '1s' }, tags,
    }, 4096, { keepAll: true, logLines });
    try {
      const ns = sim.server.engine.addressSpace!.getNamespaceIndex('urn:plant');
      assert.ok(ns >= 3, `urn:plant sits behind the extra namespaces (index ${ns})`);
      await src.until(() => src.latest.get('temp')?.sample.value === 42 && src.latest.get('encoded')?.sample.value === 42 && src.latest.has('unknown'), 10_000, 'values by nsu=');
      assert.equal(src.latest.get('temp')!.sample.quality, 'good');
      const unknown = src.latest.get('unknown')!.sample;
      assert.deepEqual([unknown.quality, unknown.value], ['bad', null]);
      assert.equal(unknown.reason, "BadNodeIdUnknown: namespace urn:nowhere is not in the server's namespace array");

      // a namespace added while running changes the namespace array: noticed without a reconnect
      // (monitored in subscription mode, read with every poll) and the tags resolved again
      sim.server.engine.addressSpace!.registerNamespace('urn:late');
      const checked = () => logLines.some((l) => /namespace array changed\): 2 tag\(s\) resolve to the same NodeIds as before, 1 do not resolve/.test(l));
      await src.until(checked, 10_000, `the live namespace change noticed (log: ${logLines.join('')})`);
      assert.equal(src.latest.get('temp')!.sample.value, 42);

      // the restarted server has urn:plant at another index
      await sim.stop();
      sim = await startSim(data.dir, { ...layout([], 43), port: sim.port });
      assert.notEqual(sim.server.engine.addressSpace!.getNamespaceIndex('urn:plant'), ns);
      await src.until(() => src.latest.get('temp')?.sample.value === 43 && src.latest.get('encoded')?.sample.value === 43, 10_000, 'values after the namespace moved');
      const good = src.all.filter((x) => x.sample.tag !== 'unknown' && x.sample.quality === 'good').map((x) => x.sample.value);
      assert.ok(good.every((v) => v === 42 || v === 43), `only the variable's own values are good: ${good.join(', ')}`);
    } finally {
      await src.stop();
      await sim.stop();
    }
  });
}

it('fieldgate browse takes an nsu= start node', async () => {
  const sim = await startSim(data.dir, layout(['urn:first'], 7));
  try {
    const cfg = opcuaSourceSchema.parse({ type: 'opcua', id: 'plc', endpoint: sim.address, securityMode: 'None', tags: ['i=2258'] });
    const entries = await browseOpcua(cfg, { dataDir: data.dir, node: 'nsu=urn:plant;s=Line1', signal: AbortSignal.timeout(20_000) });
    const ns = sim.server.engine.addressSpace!.getNamespaceIndex('urn:plant');
    assert.deepEqual(entries.map((e) => [e.browseName, e.nodeId, e.value]), [[`${ns}:Temp`, `ns=${ns};s=Line1.Temp`, '7']]);
    await assert.rejects(
      browseOpcua(cfg, { dataDir: data.dir, node: 'nsu=urn:nowhere;s=Line1', signal: AbortSignal.timeout(20_000) }),
      (e: unknown) => isFgError(e, 'FG_E_OPCUA_NODE') && /^cannot browse "nsu=urn:nowhere;s=Line1": BadNodeIdUnknown: namespace urn:nowhere/.test(e.message),
    );
  } finally {
    await sim.stop();
  }
});
