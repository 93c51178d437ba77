import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildConfigSchema } from '../../src/config/schema.ts';
import { opcuaSourceSchema } from './config.ts';
import { opcuaDriver } from './index.ts';
import { checkTestcases } from '../../test/support/testcases.ts';

const base = { type: 'opcua', id: 'plc1', endpoint: 'opc.tcp://plc1:4840' };

describe('opcua config', () => {
  it('is secure by default: SignAndEncrypt with Basic256Sha256, anonymous, subscription mode', () => {
    const c = opcuaSourceSchema.parse({ ...base, tags: ['ns=2;s=Line1.Temp'] });
    assert.equal(c.securityMode, 'SignAndEncrypt');
    assert.equal(c.securityPolicy, 'Basic256Sha256');
    assert.deepEqual(c.identity, { kind: 'anonymous' });
    assert.equal(c.mode, 'subscription');
    assert.deepEqual(c.tags, [{ name: 'ns=2;s=Line1.Temp', nodeId: 'ns=2;s=Line1.Temp' }]);
  });

  it('parses durations, tag forms and thumbprints as tools print them', () => {
    const c = opcuaSourceSchema.parse({
      ...base,
      publishingInterval: '250ms',
      trustedServerThumbprints: ['0D:ED:28:7A:22:CE:5F:A8:6E:DE:56:55:A9:56:78:E8:AB:4E:1F:74'],
      tags: [{ nodeId: 'ns=3;i=1001', samplingInterval: '2s', deadband: { type: 'percent', value: 1 } }, { name: 't', browsePath: '/Objects/2:Line1/2:Temp' }],
    });
    assert.equal(c.publishingInterval, 250);
    assert.deepEqual(c.trustedServerThumbprints, ['0ded287a22ce5fa86ede5655a95678e8ab4e1f74']);
    assert.equal(c.tags[0]!.name, 'ns=3;i=1001');
    assert.equal(c.tags[0]!.samplingInterval, 2000);
    assert.equal(c.tags[1]!.browsePath, '/Objects/2:Line1/2:Temp');
  });

  it('refuses bad NodeIds, tags with both or neither address, unknown keys, a policy None with security', () => {
    const issues = (raw: Record<string, unknown>) => opcuaSourceSchema.safeParse({ ...base, ...raw }).error?.issues ?? [];
    assert.match(JSON.stringify(issues({ tags: ['ns=2;x=oops'] })), /is not a NodeId/);
    assert.deepEqual(issues({ tags: ['ns=2;x=oops'] })[0]!.path, ['tags', 0]);
    assert.ok(issues({ tags: [{ name: 'a', nodeId: 'i=1', browsePath: '/Objects' }] }).length > 0);
    assert.ok(issues({ tags: [{ name: 'a' }] }).length > 0);
    assert.ok(issues({ tags: ['i=1'], pollingInterval: '1s' }).some((i) => i.code === 'unrecognized_keys'));
    assert.match(JSON.stringify(issues({ tags: ['i=1'], securityPolicy: 'None' })), /needs a policy other than None/);
    assert.equal(issues({ tags: ['i=1'], securityMode: 'None', securityPolicy: 'None' }).length, 0);
    assert.match(JSON.stringify(issues({ tags: ['i=1', 'i=1'] })), /duplicate tag name/);
  });

  it('takes part in the gateway schema: sources and simulators', () => {
    const schema = buildConfigSchema([opcuaDriver]);
    const cfg = schema.parse({
      simulators: [{ type: 'opcua', id: 'sim', port: 0, variables: [{ path: 'Line1/Temp' }], bulk: [{ folder: 'Bench', count: 10 }] }],
      sources: [{ ...base, securityMode: 'None', tags: ['ns=1;s=Line1.Temp'] }],
    });
    assert.equal(cfg.sources.length, 1);
    assert.equal(cfg.simulators[0]?.host, '127.0.0.1');
    assert.deepEqual(opcuaDriver.channelDefaults, { capacity: 1024, whenFull: 'drop-oldest' });
  });
});

// Every file in testcases/ is a source entry: valid-* must parse, invalid-* must fail with the
// message in its "# expect:" line (path: message prefix), as for the Modbus driver.
it('testcases: valid files parse, invalid files fail with the expected message', () => {
  checkTestcases(join(import.meta.dirname, 'testcases'), opcuaSourceSchema, { minFiles: 4, onValid: (c) => assert.ok(c.tags.length > 0) });
});
