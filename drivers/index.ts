// The explicit list of drivers: nothing is discovered by scanning the disk.
// To add one: create drivers/<name>/ (README.md, sample.yaml, config.ts, schemas.ts, driver, tests),
// list it here and its schemas.ts in drivers/schemas.ts (the config layer loads only that).
// Entries are cheap to list: each driver loads its protocol package (node-opcua, modbus-serial for
// RTU) when a configured source first needs it, never at import (startup-modules.test.ts checks).
import type { DriverDefinition } from '../src/core/contracts.ts';
import { modbusDriver } from './modbus/index.ts';
import { opcuaDriver } from './opcua/index.ts';

export const drivers: readonly DriverDefinition[] = [
  modbusDriver,
  opcuaDriver,
];

export function findDriver(type: string): DriverDefinition | undefined {
  return drivers.find((d) => d.type === type);
}
