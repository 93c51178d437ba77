import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfigFile } from '../../src/config/load.ts';
import type { FieldgateConfig } from '../../src/config/schema.ts';
import { freePort } from './wait.ts';

const demo = fileURLToPath(new URL('../../deploy/examples/demo.yaml', import.meta.url));

/**
 * The demo config for tests and the soak probe: free ports instead of the fixed ones, data and
 * the file sink under `dir`, and the NAB replay and press poll 10x faster so the model's 144-row
 * window fills in about 1.5 s.
 */
export async function fastDemoConfig(dir: string): Promise<{ cfg: FieldgateConfig; baseDir: string; brokerPort: number; filePath: string }> {
  const loaded = loadConfigFile(demo);
  const cfg = loaded.config;
  const [modbusPort, opcuaPort, brokerPort] = [await freePort(), await freePort(), await freePort()];
  const filePath = join(dir, 'demo-out.jsonl');
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
    if (s.type === 'file') s.path = filePath;
  }
  cfg.gateway.dataDir = join(dir, 'data');
  cfg.health.port = 0;
  return { cfg, baseDir: loaded.baseDir, brokerPort, filePath };
}
