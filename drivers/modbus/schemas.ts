// The Modbus driver as the config layer sees it (drivers/schemas.ts): schemas and tag names,
// none of the driver's code, so `fieldgate validate` never loads modbus-serial.
import type { DriverSchemas } from '../../src/core/contracts.ts';
import { modbusSourceSchema, type ModbusSourceConfig } from './config.ts';
import { modbusSimulatorSchema, type ModbusSimulatorConfig } from './sim/config.ts';

export const modbusSchemas = {
  type: 'modbus',
  description: 'Modbus TCP, RTU over TCP and RTU serial: coalesced reads, exact decoding, per-device circuit breakers',
  schema: modbusSourceSchema,
  // a poll that finds the channel full is skipped and counted as an overrun (trySend), never queued
  channelDefaults: { capacity: 64, whenFull: 'block' },
  tagNames: (config) => config.devices.flatMap((d) => d.tags.map((t) => (d.name ? `${d.name}.${t.name}` : t.name))),
  simulator: { schema: modbusSimulatorSchema },
} satisfies DriverSchemas<ModbusSourceConfig, ModbusSimulatorConfig>;
