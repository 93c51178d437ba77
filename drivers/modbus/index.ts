/**
 * The Modbus driver: TCP, RTU over TCP and serial RTU, read-only (function codes 1-4).
 * See README.md for the configuration and drivers/modbus/sim/ for the simulator.
 */
import { defineDriver } from '../../src/core/contracts.ts';
import { modbusSourceSchema, type ModbusSourceConfig } from './config.ts';
import { modbusSchemas } from './schemas.ts';
import { ModbusSource } from './source.ts';
import { modbusSimulatorSchema, type ModbusSimulatorConfig } from './sim/config.ts';
import { startModbusSimulator } from './sim/server.ts';

export const modbusDriver = defineDriver<ModbusSourceConfig, ModbusSimulatorConfig>({
  ...modbusSchemas,
  create: (config, ctx) => new ModbusSource(config, ctx),
  simulator: {
    ...modbusSchemas.simulator,
    start: (config, ctx) => startModbusSimulator(config, { resolvePath: (p) => ctx.resolvePath(p) }),
  },
});

export { modbusSourceSchema, ModbusSource, modbusSimulatorSchema, startModbusSimulator };
export type { ModbusSourceConfig, ModbusSimulatorConfig };
