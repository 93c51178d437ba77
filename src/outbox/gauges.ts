import { Gauge, type Registry } from 'prom-client';

/** A gauge registered once per registry (a reload builds new stages against the same registry). */
export function gauge<L extends string>(registry: Registry, name: string, help: string, labelNames: L[]): Gauge<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Gauge<L>;
  return new Gauge({ name, help, labelNames, registers: [registry] });
}
