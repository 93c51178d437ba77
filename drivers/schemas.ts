// The drivers as the config layer sees them: their schemas and tag names, no driver code.
// drivers/index.ts lists the same drivers with their code (a test checks the two lists agree).
import type { DriverSchemas } from '../src/core/contracts.ts';
import { modbusSchemas } from './modbus/schemas.ts';
import { opcuaSchemas } from './opcua/schemas.ts';

export const driverSchemas: readonly DriverSchemas[] = [
  modbusSchemas,
  opcuaSchemas,
];

export function findDriverSchemas(type: string): DriverSchemas | undefined {
  return driverSchemas.find((d) => d.type === type);
}
