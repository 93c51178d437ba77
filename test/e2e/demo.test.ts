import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { silentLogger } from '../../src/log.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { fastDemoConfig } from '../support/fast-demo.ts';
import { until } from '../support/wait.ts';

/**
 * The demo config, run for a short while: samples, predictions and MQTT messages all flow
 * (free ports, a temporary data folder, 10x faster: see fastDemoConfig).
 */
test('the demo plant runs end to end: samples, predictions and MQTT messages flow', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-demo-'));
  const { cfg, baseDir, brokerPort, filePath } = await fastDemoConfig(dir);

  const pipeline = new Pipeline({ config: cfg, baseDir, log: silentLogger() });
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
    // the file sink reads the outbox on its own schedule: what MQTT got may not be in the file yet
    // complete lines only: the last one may be half written
    const fileLines = () => readFileSync(filePath, 'utf8').split('\n').slice(0, -1).map((l) => JSON.parse(l) as { kind: string; source?: string });
    await until('a prediction in the file sink', () => fileLines().some((r) => r.kind === 'prediction'), 45_000);
    const lines = fileLines();
    assert.ok(lines.some((r) => r.kind === 'sample' && r.source === 'press'), 'modbus samples in the file sink');
    assert.ok(lines.some((r) => r.kind === 'sample' && r.source === 'line1'), 'OPC UA samples in the file sink');
    assert.ok(lines.some((r) => r.kind === 'prediction'), 'predictions in the file sink');
  } finally {
    await client?.endAsync();
    await pipeline.stop(10_000);
    rmSync(dir, { recursive: true, force: true });
  }
});
