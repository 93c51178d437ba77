// The configs of bench:e2e: one file of simulators (run by `fieldgate simulate` in its own
// process) and one fieldgate config that reads them and publishes to the broker.
import { stringify } from 'yaml';

/** 10-character float tag names, as the wire-size targets of the batch-path issue assume */
export function benchTagName(j: number): string {
  return `sensor_${String(j).padStart(3, '0')}`;
}

export function simulatorConfig(ports: number[], tags: number): string {
  return stringify({
    gateway: { id: 'bench-sim', dataDir: '.' },
    simulators: ports.map((port, i) => ({
      type: 'modbus',
      id: `sim${String(i).padStart(3, '0')}`,
      port,
      resolution: '50ms',
      devices: [
        {
          unit: 1,
          registers: Array.from({ length: tags }, (_, j) => ({
            address: String(40001 + 2 * j),
            type: 'float32',
            value: { kind: 'sine', amplitude: 10 + j, offset: 50, period: `${20 + (j % 7) * 10}s`, phase: i / 10 },
          })),
        },
      ],
    })),
    log: { level: 'warn' },
  });
}

export function gatewayConfig(o: {
  ports: number[]; tags: number; intervalMs: number; brokerPort: number; dataDir: string; format?: 'records' | 'compact' | 'sparkplug' | 'sparkplug-per-payload';
  /** overload mode: the health port to scrape /metrics from (default 0) */
  healthPort?: number;
  /** overload mode: the MQTT sink's shedAt (left out: the default); 0 turns the overload rule off */
  shedAt?: string | number;
  /** false: no per-tag history in the health stage (about 8.7 kB per tag with its defaults) */
  history?: boolean;
}): string {
  const format = o.format ?? 'compact';
  const sink = format === 'sparkplug' || format === 'sparkplug-per-payload'
    ? { payload: 'sparkplug-b', sparkplug: { groupId: 'bench', ...(format === 'sparkplug-per-payload' ? { timestamps: 'per-payload' } : {}) } }
    : { payload: 'json', ...(format === 'compact' ? { format: 'compact' } : {}) };
  return stringify({
    gateway: { id: 'bench', dataDir: o.dataDir },
    sources: o.ports.map((port, i) => ({
      type: 'modbus',
      id: `dev${String(i).padStart(3, '0')}`,
      connection: { transport: 'tcp', host: '127.0.0.1', port },
      interval: `${o.intervalMs}ms`,
      timeout: '1s',
      devices: [
        {
          name: 'd',
          unit: 1,
          tags: Array.from({ length: o.tags }, (_, j) => ({ name: benchTagName(j), address: String(40001 + 2 * j), type: 'float32' })),
        },
      ],
    })),
    outbox: { maxBytes: '2GB' },
    // records is the default (and the only JSON shape before `format`): left out, so an older build can be measured too
    sinks: [{ id: 'mqtt', type: 'mqtt', url: `mqtt://127.0.0.1:${o.brokerPort}`, ...sink, ...(o.shedAt !== undefined ? { shedAt: o.shedAt } : {}) }],
    health: { port: o.healthPort ?? 0, ...(o.history === false ? { history: { enabled: false } } : {}) },
    log: { level: 'warn' },
  });
}
