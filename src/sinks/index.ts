import type { Outbox } from '../outbox/index.ts';
import type { Stage, StageContext } from '../core/contracts.ts';
import type { SinkConfig } from './config.ts';
import { FileTransport } from './file/file.ts';
import { HttpTransport } from './http/http.ts';
import { MqttTransport } from './mqtt/mqtt.ts';
import { NatsTransport } from './nats/nats.ts';
import { SinkRunner, type Transport } from './runner.ts';

export { sinkSchema, type SinkConfig } from './config.ts';

/**
 * A sink stage: reads its own outbox cursor (named by the sink id) in order and publishes.
 * Create it before or after `outbox.start()`; start it after the outbox, stop it before.
 */
export function createSink(cfg: SinkConfig, outbox: Outbox, ctx: StageContext): Stage {
  const sm = ctx.metrics.stage(`sink.${cfg.id}`);
  let transport: Transport;
  let maxInFlight: number;
  switch (cfg.type) {
    case 'mqtt':
      transport = new MqttTransport(cfg, ctx, sm, () => outbox.stats().lastSeq);
      maxInFlight = cfg.maxInFlight;
      break;
    case 'http':
      transport = new HttpTransport(cfg, ctx);
      maxInFlight = cfg.maxInFlight;
      break;
    case 'nats':
      transport = new NatsTransport(cfg, ctx, sm);
      maxInFlight = cfg.maxInFlight;
      break;
    case 'file':
      transport = new FileTransport(cfg, ctx);
      maxInFlight = 1;
      break;
  }
  const lag = { ...cfg.maxLag, whenBehind: cfg.whenBehind };
  return new SinkRunner({ id: cfg.id, batchSize: cfg.batchSize, maxInFlight, backoff: cfg.backoff, lag }, transport, outbox, ctx);
}
