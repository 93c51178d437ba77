// The MQTT sink as src/sinks/registry.ts lists it.
import { defineSink } from '../plugin.ts';
import { mqttSinkSchema } from './config.ts';
import { MqttTransport } from './mqtt.ts';

export const mqttSink = defineSink({
  type: 'mqtt',
  schema: mqttSinkSchema,
  maxInFlight: (cfg) => cfg.maxInFlight,
  create: (cfg, ctx, env) => new MqttTransport(cfg, ctx, env.metrics, () => env.headSeq()),
});
