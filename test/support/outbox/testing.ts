import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { Metrics } from '../../../src/core/metrics.ts';
import { silentLogger } from '../../../src/log.ts';
import type { StageContext } from '../../../src/core/contracts.ts';
import type { Sample, SampleBatch } from '../../../src/core/sample.ts';

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
