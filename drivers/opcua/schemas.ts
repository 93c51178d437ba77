// The OPC UA driver as the config layer sees it (drivers/schemas.ts): schemas and tag names,
// none of the driver's code, so `fieldgate validate` never loads node-opcua.
import type { DriverSchemas } from '../../src/core/contracts.ts';
import { opcuaSourceSchema, type OpcuaSourceConfig } from './config.ts';
import { opcuaSimulatorSchema, type OpcuaSimulatorConfig } from './sim/config.ts';

export const opcuaSchemas = {
  type: 'opcua',
  description: 'OPC UA client (node-opcua): subscriptions that survive reconnects, or polling; Sign/SignAndEncrypt; read-only',
  schema: opcuaSourceSchema,
  // notifications cannot wait for a slow consumer: the oldest batch goes first, and is counted
  channelDefaults: { capacity: 1024, whenFull: 'drop-oldest' },
  // an array variable also gives <name>[i] samples: the config check accepts those for a listed name
  tagNames: (config) => config.tags.map((t) => t.name),
  simulator: { schema: opcuaSimulatorSchema },
} satisfies DriverSchemas<OpcuaSourceConfig, OpcuaSimulatorConfig>;
