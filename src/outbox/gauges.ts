import { Counter, Gauge, type Registry } from 'prom-client';

/** A gauge registered once per registry (a reload builds new stages against the same registry). */
export function gauge<L extends string>(registry: Registry, name: string, help: string, labelNames: L[]): Gauge<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Gauge<L>;
  return new Gauge({ name, help, labelNames, registers: [registry] });
}

/** A counter registered once per registry. */
export function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: L[]): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

const collectors = new WeakMap<Registry, Map<string, (g: Gauge<string>) => void>>();

/**
 * A gauge whose values are set when it is scraped, by the latest `collect` registered for this
 * registry and name (the outbox that runs now, not one a test or a reload left behind).
 */
export function scrapedGauge<L extends string>(registry: Registry, name: string, help: string, labelNames: L[], collect: (g: Gauge<L>) => void): Gauge<L> {
  let byName = collectors.get(registry);
  if (!byName) collectors.set(registry, (byName = new Map<string, (g: Gauge<string>) => void>()));
  byName.set(name, collect as (g: Gauge<string>) => void);
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Gauge<L>;
  return new Gauge({
    name, help, labelNames, registers: [registry],
    collect() {
      this.reset();
      collectors.get(registry)?.get(name)?.(this as Gauge<string>);
    },
  });
}
