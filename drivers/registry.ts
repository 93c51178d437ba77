import type { DriverDefinition } from '../src/pipeline/contracts.ts';

/** Erases a driver's config type so drivers/index.ts can list them in one array. */
export function defineDriver<C extends { id: string; type: string }>(d: DriverDefinition<C>): DriverDefinition {
  return d as unknown as DriverDefinition;
}
