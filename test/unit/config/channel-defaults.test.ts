import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText } from '../../../src/config/load.ts';
import { Metrics } from '../../../src/core/metrics.ts';
import { findDriver } from '../../../drivers/index.ts';
import { silentLogger } from '../../../src/log.ts';
import { SourceStage } from '../../../src/pipeline/source-stage.ts';

// A key left out of `channel:` keeps the driver's default; the schema used to fill in 256/block,
// so `channel: { capacity: 10 }` turned an OPC UA source (drop-oldest) into a blocking one.
const ctx = { gateway: { id: 'gw', dataDir: '/tmp' }, log: silentLogger(), metrics: new Metrics(), resolvePath: (p: string) => p };

function channelOf(source: string): { capacity: number; whenFull: string } {
  const cfg = parseConfigText(`sources:\n  - ${source}\n`, 'c.yaml', '/tmp', { env: {} });
  const src = cfg.sources[0]!;
  const stage = new SourceStage(src, findDriver(src.type)!, ctx);
  const s = stage.channel.stats();
  return { capacity: s.capacity, whenFull: s.whenFull };
}

const modbus = '{ type: modbus, id: m, connection: { transport: tcp, host: 127.0.0.1 }, devices: [{ tags: [{ name: t, address: 0, area: holding }] }]';
const opcua = '{ type: opcua, id: o, endpoint: "opc.tcp://127.0.0.1:4840", tags: ["ns=1;s=x"]';

test('channel defaults are the driver\'s, and a partial channel: keeps the rest of them', () => {
  assert.deepEqual(channelOf(`${modbus} }`), { capacity: 64, whenFull: 'block' });
  assert.deepEqual(channelOf(`${opcua} }`), { capacity: 1024, whenFull: 'drop-oldest' });
  assert.deepEqual(channelOf(`${opcua}, channel: { capacity: 10 } }`), { capacity: 10, whenFull: 'drop-oldest' });
  assert.deepEqual(channelOf(`${modbus}, channel: { whenFull: conflate } }`), { capacity: 64, whenFull: 'conflate' });
});
