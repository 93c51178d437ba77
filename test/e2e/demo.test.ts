import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { loadConfigFile } from '../../src/config/load.ts';
import { silentLogger } from '../../src/log.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { freePort, until } from '../support/wait.ts';

const demo = fileURLToPath(new URL('../../deploy/examples/demo.yaml', import.meta.url));

/**
 * The demo config, run for a short while: samples, predictions and MQTT messages all flow.
 * Changed for the test only: free ports instead of the fixed ones, a temporary data folder,
 * and the NAB replay and press poll 10x faster so the model's 288-row window fills in ~3 s.
 */
test('the demo plant runs end to end: samples, predictions and MQTT messages flow', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-demo-'));
  const loaded = loadConfigFile(demo);
  const cfg = loaded.config;
  const [modbusPort, opcuaPort, brokerPort] = [await freePort(), await freePort(), await freePort()];
  type Any = Record<string, unknown>;
  for (const sim of cfg.simulators as Any[]) {
    sim.port = sim.type === 'modbus' ? modbusPort : opcuaPort;
    if (sim.type === 'modbus') {
      const reg = ((sim.devices as Any[])[0]!.registers as Any[])[0]!;
      (reg.value as Any).speed = 30_000;
    }
  }
  for (const src of cfg.sources as Any[]) {
    if (src.type === 'modbus') {
      (src.connection as Any).port = modbusPort;
      src.interval = 10;
    } else src.endpoint = `opc.tcp://127.0.0.1:${opcuaPort}`;
  }
  cfg.broker.port = brokerPort;
  for (const s of cfg.sinks) {
    if (s.type === 'mqtt') s.url = `mqtt://127.0.0.1:${brokerPort}`;
    if (s.type === 'file') s.path = join(dir, 'demo-out.jsonl');
  }
  cfg.gateway.dataDir = join(dir, 'data');
  cfg.health.port = 0;

  const pipeline = new Pipeline({ config: cfg, baseDir: loaded.baseDir, log: silentLogger() });
  let client: mqtt.MqttClient | undefined;
  try {
    await pipeline.start();
    const topics = new Map<string, number>();
    client = await mqtt.connectAsync(`mqtt://127.0.0.1:${brokerPort}`);
    client.on('message', (topic) => topics.set(topic, (topics.get(topic) ?? 0) + 1));
    await client.subscribeAsync('fieldgate/#', { qos: 1 });
    const count = (kind: string) => [...topics].filter(([t]) => t.includes(`/${kind}/`)).reduce((n, [, c]) => n + c, 0);
    await until('samples from both sources over MQTT', () =>
      [...topics.keys()].some((t) => t.endsWith('/sample/press')) && [...topics.keys()].some((t) => t.endsWith('/sample/line1')), 45_000);
    await until('predictions over MQTT', () => count('prediction') > 0, 45_000);

    const status = await pipeline.health!.status();
    assert.ok(status.stages.some((s) => s.name === 'model.press-temp-anomaly'), 'the model is a stage of the status');
    const lines = readFileSync(join(dir, 'demo-out.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; source?: string });
    assert.ok(lines.some((r) => r.kind === 'sample' && r.source === 'press'), 'modbus samples in the file sink');
    assert.ok(lines.some((r) => r.kind === 'sample' && r.source === 'line1'), 'OPC UA samples in the file sink');
    assert.ok(lines.some((r) => r.kind === 'prediction'), 'predictions in the file sink');
  } finally {
    await client?.endAsync();
    await pipeline.stop(10_000);
    rmSync(dir, { recursive: true, force: true });
  }
});
