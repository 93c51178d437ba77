/** Helpers for the driver's tests and benchmark: a real SourceContext and a batch collector. */
import { Channel } from '../../../src/core/channel.ts';
import { Metrics } from '../../../src/core/metrics.ts';
import type { SampleBatch } from '../../../src/core/sample.ts';
import { createLogger } from '../../../src/log.ts';
import type { SourceContext } from '../../../src/core/contracts.ts';
import { modbusSourceSchema, type ModbusSourceConfig } from '../../../drivers/modbus/config.ts';
import { modbusSimulatorSchema, type ModbusSimulatorConfig } from '../../../drivers/modbus/sim/config.ts';

/** `logLines`: every log line at info and above is appended there (JSON text). */
export function sourceContext(opts: { capacity?: number; whenFull?: 'block' | 'drop-oldest'; id?: string; logLines?: string[] } = {}): SourceContext & { heartbeats: () => number } {
  const metrics = new Metrics();
  let beats = 0;
  const lines = opts.logLines;
  return {
    gateway: { id: 'test', dataDir: '/nonexistent' },
    log: lines
      ? createLogger({ level: 'info', format: 'json', destination: { write: (s: string) => void lines.push(s) } })
      : createLogger({ level: process.env.FG_TEST_LOG ?? 'silent', format: 'json' }),
    metrics,
    resolvePath: (p) => p,
    stageMetrics: metrics.stage(`source:${opts.id ?? 'mb'}`),
    out: new Channel<SampleBatch>({ name: `source:${opts.id ?? 'mb'}`, capacity: opts.capacity ?? 64, whenFull: opts.whenFull ?? 'block' }),
    heartbeat: () => void beats++,
    heartbeats: () => beats,
  };
}

export function sourceConfig(input: Record<string, unknown>): ModbusSourceConfig {
  return modbusSourceSchema.parse({ id: 'mb', type: 'modbus', ...input });
}

export function simConfig(input: Record<string, unknown>): ModbusSimulatorConfig {
  return modbusSimulatorSchema.parse({ type: 'modbus', id: 'sim', port: 0, ...input });
}

/** Waits for the next batch (or fails after ms). */
export async function nextBatch(ch: Channel<SampleBatch>, ms = 5_000): Promise<SampleBatch> {
  const b = await ch.recv(AbortSignal.timeout(ms));
  if (!b) throw new Error('channel closed');
  return b;
}

/** Reads batches until one satisfies pred (or fails after ms). */
export async function batchWhere(ch: Channel<SampleBatch>, pred: (b: SampleBatch) => boolean, ms = 5_000): Promise<SampleBatch> {
  const signal = AbortSignal.timeout(ms);
  for (;;) {
    const b = await ch.recv(signal);
    if (!b) throw new Error('channel closed');
    if (pred(b)) return b;
  }
}

export function byTag(b: SampleBatch): Record<string, SampleBatch['samples'][number]> {
  return Object.fromEntries(b.samples.map((s) => [s.tag, s]));
}

/** fieldgate_errors_total of one code (all stages). */
export async function errorCount(metrics: Metrics, code: string): Promise<number> {
  const m = await metrics.errors.get();
  return m.values.filter((v) => v.labels.code === code).reduce((n, v) => n + v.value, 0);
}

/** fieldgate_modbus_device_errors_total of one device and code. */
export async function deviceErrorCount(metrics: Metrics, device: string, code: string): Promise<number> {
  const c = metrics.registry.getSingleMetric('fieldgate_modbus_device_errors_total');
  if (!c) return 0;
  const m = await c.get();
  return m.values.filter((v) => v.labels.device === device && v.labels.code === code).reduce((n, v) => n + v.value, 0);
}
