/**
 * The Modbus driver: TCP, RTU over TCP and serial RTU, read-only (function codes 1-4).
 * See README.md for the configuration and drivers/modbus/sim/ for the simulator.
 */
import { defineDriver } from '../../src/core/contracts.ts';
import { modbusSourceSchema, type ModbusSourceConfig } from './config.ts';
import { ModbusSource } from './source.ts';
import { modbusSimulatorSchema, type ModbusSimulatorConfig } from './sim/config.ts';
import { startModbusSimulator } from './sim/server.ts';

export const modbusDriver = defineDriver<ModbusSourceConfig>({
  type: 'modbus',
  description: 'Modbus TCP, RTU over TCP and RTU serial: coalesced reads, exact decoding, per-device circuit breakers',
  schema: modbusSourceSchema,
  // a poll that finds the channel full is skipped and counted as an overrun (trySend), never queued
  channelDefaults: { capacity: 64, whenFull: 'block' },
  create: (config, ctx) => new ModbusSource(config, ctx),
  tagNames: (config) => config.devices.flatMap((d) => d.tags.map((t) => (d.name ? `${d.name}.${t.name}` : t.name))),
  simulator: {
    schema: modbusSimulatorSchema,
    start: (config, ctx) => startModbusSimulator(config as ModbusSimulatorConfig, { resolvePath: (p) => ctx.resolvePath(p) }),
  },
});

export { modbusSourceSchema, ModbusSource, modbusSimulatorSchema, startModbusSimulator };
export type { ModbusSourceConfig, ModbusSimulatorConfig };
