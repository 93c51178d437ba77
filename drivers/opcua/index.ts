// The OPC UA driver as drivers/index.ts lists it. node-opcua takes seconds to load, so this file
// and the schemas stay free of it: the client, simulator and browser are imported on first use.
import { defineDriver, type SimulatorHandle, type Source, type SourceContext, type StageContext } from '../../src/core/contracts.ts';
import type { ProbeResult } from '../../src/core/probe.ts';
import { formatBrowse, type BrowseEntry } from './browse-format.ts';
import type { BrowseOptions } from './browse.ts';
import type { OpcuaSourceConfig } from './config.ts';
import type { OpcuaSimulatorConfig } from './sim/config.ts';
import { opcuaSchemas } from './schemas.ts';
import type { OpcuaSimulatorHandle } from './sim/server.ts';

export { formatBrowse, type BrowseEntry } from './browse-format.ts';
export type { BrowseOptions } from './browse.ts';
export { opcuaSourceSchema, type OpcuaSourceConfig } from './config.ts';
export { opcuaSimulatorSchema, type OpcuaSimulatorConfig } from './sim/config.ts';
export type { OpcuaSimulatorHandle } from './sim/server.ts';

/** Lists the address space below `opts.node` (default Objects) using the source's connection settings. */
export async function browseOpcua(config: OpcuaSourceConfig, opts: BrowseOptions): Promise<BrowseEntry[]> {
  return (await import('./browse.ts')).browseOpcua(config, opts);
}

export async function startOpcuaSimulator(config: OpcuaSimulatorConfig, ctx: StageContext): Promise<OpcuaSimulatorHandle> {
  return (await import('./sim/server.ts')).startOpcuaSimulator(config, ctx);
}

/** A Source whose implementation is loaded when it first runs. */
function lazySource(config: OpcuaSourceConfig, ctx: SourceContext): Source {
  let inner: Source | undefined;
  return {
    async run(signal) {
      inner ??= (await import('./source.ts')).createOpcuaSource(config, ctx);
      return inner.run(signal);
    },
    probe(): ProbeResult {
      return inner ? inner.probe() : { state: 'down', reason: `starting: connecting to ${config.endpoint}` };
    },
  };
}

export const opcuaDriver = defineDriver<OpcuaSourceConfig, OpcuaSimulatorConfig>({
  ...opcuaSchemas,
  create: lazySource,
  simulator: {
    ...opcuaSchemas.simulator,
    start: (config, ctx): Promise<SimulatorHandle> => startOpcuaSimulator(config, ctx),
  },
  // `fieldgate browse -c FILE --source ID [--node NODE]`: children of NODE (default Objects) as a table
  browse: async (config, opts) =>
    formatBrowse(await browseOpcua(config, {
      dataDir: opts.ctx.gateway.dataDir, node: opts.node, signal: opts.signal, resolvePath: opts.ctx.resolvePath,
    })),
});
