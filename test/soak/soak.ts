/**
 * npm run soak [-- MINUTES]: a leak probe. Runs the demo plant with its polls and replay 10x
 * faster (free ports, a temporary data folder), does a full GC every 20 s and prints the heap and
 * external memory after it, then the growth per minute after a one-minute warm-up. A healthy
 * pipeline stays flat (under about 0.5 MB/min here); a retained record per message shows as MBs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { silentLogger } from '../../src/log.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { fastDemoConfig } from '../support/fast-demo.ts';
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const dir = mkdtempSync(join(tmpdir(), 'fg-leak-'));
const { cfg, baseDir } = await fastDemoConfig(dir);
const p = new Pipeline({ config: cfg, baseDir, log: silentLogger() });
await p.start();
const minutes = Number(process.argv[2] ?? 4);
const points: { t: number; heap: number; ext: number }[] = [];
for (let i = 0; i <= minutes * 3; i++) {
  await new Promise((r) => setTimeout(r, 20_000));
  gc(); gc();
  const m = process.memoryUsage();
  points.push({ t: (i + 1) / 3, heap: m.heapUsed / 1e6, ext: m.external / 1e6 });
  console.log(`${new Date().toISOString().slice(11, 19)}  heap after GC ${(m.heapUsed / 1e6).toFixed(1)} MB  external ${(m.external / 1e6).toFixed(1)} MB  rss ${(m.rss / 1e6).toFixed(0)} MB`);
}
/** least-squares slope, MB per minute */
const slope = (ys: { t: number; v: number }[]): number => {
  const mt = ys.reduce((a, y) => a + y.t, 0) / ys.length;
  const mv = ys.reduce((a, y) => a + y.v, 0) / ys.length;
  return ys.reduce((a, y) => a + (y.t - mt) * (y.v - mv), 0) / ys.reduce((a, y) => a + (y.t - mt) ** 2, 0);
};
const after = points.filter((x) => x.t > 1);
if (after.length >= 3) {
  console.log(`growth after the first minute: heap ${slope(after.map((x) => ({ t: x.t, v: x.heap }))).toFixed(2)} MB/min, external ${slope(after.map((x) => ({ t: x.t, v: x.ext }))).toFixed(2)} MB/min`);
}
await p.stop(10_000);
rmSync(dir, { recursive: true, force: true });
