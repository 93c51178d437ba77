import type { Pipeline } from '../../src/pipeline/pipeline.ts';

/** The sum of a pipeline counter over the series whose labels include `labels` (as /metrics would show it). */
export async function metric(p: Pipeline, name: 'sent' | 'dropped' | 'overruns', labels: Record<string, string>): Promise<number> {
  const m = name === 'sent' ? p.metrics.sent : name === 'dropped' ? p.metrics.dropped : p.metrics.overruns;
  let n = 0;
  for (const v of (await m.get()).values) {
    if (Object.entries(labels).every(([k, want]) => (v.labels as Record<string, unknown>)[k] === want)) n += v.value;
  }
  return n;
}
