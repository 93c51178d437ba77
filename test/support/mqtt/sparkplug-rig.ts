/**
 * A Sparkplug B edge node under test: a real aedes broker on port 0, an outbox in a temp dir, the
 * MQTT sink in sparkplug-b mode (group g1, edge node edge1) and a plain mqtt.js client acting as
 * the host application. `stop` is idempotent; register it before the first await that can fail.
 */
import mqtt from 'mqtt';
import { createOutbox, outboxSchema, type Outbox } from '../../../src/outbox/index.ts';
import { tempContext } from '../outbox/testing.ts';
import type { Stage } from '../../../src/core/contracts.ts';
import { sinkSchema } from '../../../src/sinks/config.ts';
import { createSink } from '../../../src/sinks/index.ts';
import { TestBroker } from './test-broker.ts';

export const NCMD = 'spBv1.0/g1/NCMD/edge1';

export interface SparkplugRig {
  ctx: ReturnType<typeof tempContext>;
  broker: TestBroker;
  box: Outbox;
  stage: Stage;
  /** the host application; connected by start() */
  host: mqtt.MqttClient;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function sparkplugRig(gatewayId: string): SparkplugRig {
  const ctx = tempContext(gatewayId);
  const broker = new TestBroker();
  const box = createOutbox(outboxSchema.parse({ commitInterval: '5ms' }), ctx);
  let stage: Stage | undefined;
  let host: mqtt.MqttClient | undefined;
  let stopped = false;
  return {
    ctx, broker, box,
    get stage() { return stage!; },
    get host() { return host!; },
    async start() {
      await broker.start();
      const cfg = sinkSchema.parse({
        id: 'up', type: 'mqtt', url: broker.url, backoff: { initial: '20ms', max: '200ms' }, batchSize: 50,
        payload: 'sparkplug-b', sparkplug: { groupId: 'g1', edgeNodeId: 'edge1' },
      });
      stage = createSink(cfg, box, ctx);
      await box.start();
      await stage.start();
      host = await mqtt.connectAsync(broker.url, { clientId: 'host-app', reconnectPeriod: 0 });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await host?.endAsync(true);
      await stage?.stop(1000);
      await box.stop(1000);
      await broker.stop();
      ctx.cleanup();
    },
  };
}
