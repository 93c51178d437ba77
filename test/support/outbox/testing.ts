import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { Metrics } from '../../../src/core/metrics.ts';
import { silentLogger } from '../../../src/log.ts';
import type { StageContext } from '../../../src/core/contracts.ts';
import type { Sample, SampleBatch } from '../../../src/core/sample.ts';
import type { Outbox, SourceAccounting } from '../../../src/outbox/outbox.ts';

/** A fresh temporary data dir and a StageContext around it, for tests and benchmarks. */
export function tempContext(gatewayId = 'gw-test'): StageContext & { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'fg-outbox-'));
  return {
    dir,
    gateway: { id: gatewayId, dataDir: dir },
    log: silentLogger(),
    metrics: new Metrics(),
    resolvePath: (p: string) => (isAbsolute(p) ? p : join(dir, p)),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A batch of `n` numeric samples whose values count up from `start` (tags t0..t{tags-1}). */
export function numberBatch(source: string, start: number, n: number, tags = 10): SampleBatch {
  const samples = new Array<Sample>(n);
  const ts = Date.now();
  for (let i = 0; i < n; i++) samples[i] = { source, tag: `t${(start + i) % tags}`, ts, value: start + i, quality: 'good' };
  return { source, samples, receivedAt: ts };
}

/**
 * The accounting identity per source, asserted: for every sink and every source,
 * `accepted + pendingAtStart = confirmed + dropped (every reason) + pending`, and the same figures
 * in /metrics (`fieldgate_records_received_total{stage="outbox",source}`,
 * `fieldgate_sink_confirmed_total`, `fieldgate_records_dropped_total{stage="sink.<id>",source}`,
 * `fieldgate_sink_pending`, `fieldgate_sink_pending_at_start`). Call it when nothing moves (after
 * stop, or between awaited writes): the snapshot is consistent, the metrics are read one by one.
 * Returns the snapshot for checks against what the sinks really got.
 */
export async function assertSourceAccounting(box: Outbox, metrics: Metrics): Promise<SourceAccounting> {
  const a = box.accounting();
  const bad: string[] = [];
  const values = async (name: string) => (await metrics.registry.getSingleMetric(name)?.get())?.values ?? [];
  const received = await values('fieldgate_records_received_total');
  const confirmed = await values('fieldgate_sink_confirmed_total');
  const dropped = await values('fieldgate_records_dropped_total');
  const pending = await values('fieldgate_sink_pending');
  const atStart = await values('fieldgate_sink_pending_at_start');
  const sum = (vs: typeof received, want: Record<string, string>) =>
    vs.filter((v) => Object.entries(want).every(([k, w]) => (v.labels as Record<string, unknown>)[k] === w)).reduce((n, v) => n + v.value, 0);
  const sources = new Set(Object.keys(a.accepted));
  for (const s of Object.values(a.sinks)) for (const part of [s.pendingAtStart, s.confirmed, s.dropped, s.pending]) for (const k of Object.keys(part)) sources.add(k);
  for (const source of sources) {
    const accepted = a.accepted[source] ?? 0;
    if (sum(received, { stage: 'outbox', source }) !== accepted) bad.push(`${source}: accepted ${accepted}, metric ${sum(received, { stage: 'outbox', source })}`);
    for (const [sink, s] of Object.entries(a.sinks)) {
      const start = s.pendingAtStart[source] ?? 0;
      const conf = s.confirmed[source] ?? 0;
      const drops = s.dropped[source] ?? {};
      const drop = Object.values(drops).reduce((n, k) => n + (k ?? 0), 0);
      const pend = s.pending[source] ?? 0;
      if (accepted + start !== conf + drop + pend) {
        bad.push(`sink ${sink}, source ${source}: accepted ${accepted} + pending at start ${start} != confirmed ${conf} + dropped ${drop} ${JSON.stringify(drops)} + pending ${pend}`);
      }
      const m = { conf: sum(confirmed, { sink, source }), drop: sum(dropped, { stage: `sink.${sink}`, source }), pend: sum(pending, { sink, source }), start: sum(atStart, { sink, source }) };
      if (m.conf !== conf || m.drop !== drop || m.pend !== pend || m.start !== start) {
        bad.push(`sink ${sink}, source ${source}: /metrics ${JSON.stringify(m)} differ from the outbox ${JSON.stringify({ conf, drop, pend, start })}`);
      }
    }
  }
  assert.deepEqual(bad, [], `the accounting identity per source:\n${bad.join('\n')}`);
  return a;
}
