// Test support for the OPC UA driver tests (not used at run time).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Channel } from '../../../src/core/channel.ts';
import { Metrics } from '../../../src/core/metrics.ts';
import type { Sample, SampleBatch } from '../../../src/core/sample.ts';
import { createLogger, silentLogger } from '../../../src/log.ts';
import type { SourceContext, StageContext } from '../../../src/core/contracts.ts';
import { opcuaSourceSchema, type OpcuaSourceConfig } from '../../../drivers/opcua/config.ts';
import { opcuaSimulatorSchema } from '../../../drivers/opcua/sim/config.ts';
import { startOpcuaSimulator, type OpcuaSimulatorHandle } from '../../../drivers/opcua/sim/server.ts';
import { createOpcuaSource } from '../../../drivers/opcua/source.ts';

export async function tempDataDir(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'fg-opcua-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export function stageContext(dataDir: string): StageContext {
  return { gateway: { id: 'test', dataDir }, log: silentLogger(), metrics: new Metrics(), resolvePath: (p) => p };
}

export async function startSim(dataDir: string, raw: Record<string, unknown>): Promise<OpcuaSimulatorHandle> {
  return startOpcuaSimulator(opcuaSimulatorSchema.parse({ type: 'opcua', id: 'sim', port: 0, ...raw }), stageContext(dataDir));
}

export interface RunningSource {
  ctx: SourceContext;
  out: Channel<SampleBatch>;
  probe(): ReturnType<ReturnType<typeof createOpcuaSource>['probe']>;
  /** latest sample per tag, and when it arrived (performance.now()) */
  latest: Map<string, { sample: Sample; at: number }>;
  /** every sample in arrival order (kept only when runSource was asked to keepAll) */
  all: { sample: Sample; at: number }[];
  batches: number;
  heartbeats: number;
  /** waits until pred holds (polled every 20 ms) or throws after timeoutMs */
  until(pred: () => boolean, timeoutMs: number, what: string): Promise<void>;
  stop(): Promise<void>;
}

export function runSource(
  dataDir: string, raw: Record<string, unknown>, capacity = 4096,
  opts: { keepAll?: boolean; resolvePath?: (p: string) => string; /** receives the source's log lines (JSON, info and up) */ logLines?: string[] } = {},
): RunningSource {
  const cfg: OpcuaSourceConfig = opcuaSourceSchema.parse({ type: 'opcua', id: 'plc', ...raw });
  const out = new Channel<SampleBatch>({ name: 'plc', capacity, whenFull: 'drop-oldest' });
  const base = stageContext(dataDir);
  const rs = { latest: new Map(), all: [], batches: 0, heartbeats: 0 } as unknown as RunningSource;
  const lines = opts.logLines;
  const log = lines ? createLogger({ format: 'json', level: 'info', destination: { write: (l: string) => { lines.push(l); } } }) : base.log;
  const ctx: SourceContext = { ...base, log, ...(opts.resolvePath ? { resolvePath: opts.resolvePath } : {}), stageMetrics: base.metrics.stage('source:plc'), out, heartbeat: () => { rs.heartbeats++; } };
  const source = createOpcuaSource(cfg, ctx);
  const ac = new AbortController();
  const running = source.run(ac.signal);
  let draining = true;
  const drain = (async () => {
    while (draining) {
      await out.readable(ac.signal).catch(() => {});
      for (const b of out.drain()) {
        rs.batches++;
        const at = performance.now();
        for (const s of b.samples) {
          rs.latest.set(s.tag, { sample: s, at });
          if (opts.keepAll) rs.all.push({ sample: s, at });
        }
      }
      if (ac.signal.aborted) return;
    }
  })();
  Object.assign(rs, {
    ctx,
    out,
    probe: () => source.probe(),
    async until(pred: () => boolean, timeoutMs: number, what: string) {
      const t0 = performance.now();
      while (!pred()) {
        if (performance.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; probe: ${JSON.stringify(source.probe())}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop() {
      draining = false;
      ac.abort();
      await running;
      await drain;
    },
  });
  return rs;
}
