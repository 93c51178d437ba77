// The explicit list of sinks: nothing is discovered by scanning the disk. To add one: create
// src/sinks/<name>/ (README.md with a config example, sample.yaml, config.ts, index.ts with its
// defineSink(), code, tests, testcases/), list its schema in config.ts (what the config layer
// loads) and its definition here (a test checks the two lists agree). Entries are cheap to list:
// each transport loads its client package (mqtt.js, the NATS client, sparkplug-payload) when a
// configured sink first connects, never at import (startup-modules.test.ts checks).
import { fileSink } from './file/index.ts';
import { httpSink } from './http/index.ts';
import { mqttSink } from './mqtt/index.ts';
import { natsSink } from './nats/index.ts';
import type { SinkDefinition } from './plugin.ts';

export const sinks: readonly SinkDefinition[] = [mqttSink, httpSink, fileSink, natsSink];

export function findSink(type: string): SinkDefinition | undefined {
  return sinks.find((s) => s.type === type);
}
