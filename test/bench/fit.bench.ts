/**
 * npm run bench:fit
 *
 * `fieldgate model fit` on a synthetic year of 5-minute samples (105,120 rows): three tags of one
 * machine (temperature, vibration, current) with a daily and a weekly rhythm, drift and noise.
 * Measured as a user runs it: the CLI in a child process under /usr/bin/time (wall time and peak
 * RSS, node start-up included). The ceiling, in the same run: the same child reading the CSV and
 * doing nothing else (`--stats` of a fit that stops after parsing is not a thing, so the ceiling is
 * a plain read + split + Number() loop over the file in a child of its own).
 *
 * Targets (issue #16): under 30 s and under 500 MB.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { calendarOf } from '../../src/inference/window.ts';
import { tempDir } from '../support/inference/testing.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ROWS = Number(process.env.BENCH_ROWS ?? 365 * 288);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

function synthesize(file: string, tags: number): void {
  const t0 = Date.parse('2023-01-02T00:00:00Z');
  const names = ['temperature', 'vibration', 'current'].slice(0, tags);
  const out: string[] = [`timestamp,${names.join(',')}`];
  let seed = 11;
  const noise = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5;
  for (let i = 0; i < ROWS; i++) {
    const ts = t0 + i * 300_000;
    const [hour, day] = calendarOf(ts, 0);
    const load = day < 5 ? (hour >= 6 && hour < 22 ? 1 : 0.3) : 0.1;
    const drift = 3 * Math.sin((2 * Math.PI * i) / (365 * 288));
    const vals = [60 + 25 * load + drift + 2 * noise(), 0.5 + 3 * load + 0.3 * noise(), 2 + 40 * load + 3 * noise()].slice(0, tags);
    out.push(`${new Date(ts).toISOString().slice(0, 19).replace('T', ' ')},${vals.map((v) => v.toFixed(4)).join(',')}`);
  }
  writeFileSync(file, `${out.join('\n')}\n`);
}

function timed(args: string[]): { seconds: number; maxRssMb: number; stdout: string } {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', process.execPath, ...args], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr}`);
  const last = r.stderr.trim().split('\n').at(-1)!.split(' ');
  return { seconds: Number(last[0]), maxRssMb: Number(last[1]) / 1024, stdout: r.stdout };
}

const tmp = tempDir('fg-bench-fit-');
try {
  if (!existsSync('/usr/bin/time')) throw new Error('bench:fit needs /usr/bin/time (apt-get install time)');
  console.log(`bench:fit: ${ROWS} rows of 5-minute samples, ${RUNS} runs each, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const ceilingScript = join(tmp.dir, 'read.mjs');
  writeFileSync(ceilingScript, `import { readFileSync } from 'node:fs';
let s = 0; const lines = readFileSync(process.argv[2], 'utf8').split('\\n');
for (let i = 1; i < lines.length; i++) { const c = lines[i].split(','); if (c.length > 1) { s += Date.parse(c[0].replace(' ', 'T') + 'Z'); for (let k = 1; k < c.length; k++) s += Number(c[k]); } }
console.log(lines.length, s > 0);\n`);
  for (const tags of [1, 3]) {
    const data = join(tmp.dir, `year-${tags}.csv`);
    synthesize(data, tags);
    const fits: { seconds: number; maxRssMb: number }[] = [];
    const reads: { seconds: number; maxRssMb: number }[] = [];
    let report = '';
    for (let r = 0; r < RUNS; r++) {
      reads.push(timed([ceilingScript, data]));
      const f = timed(['--import', 'tsx', 'src/cli.ts', 'model', 'fit', '--data', data, '--normal-until', '2023-10-01', '--out', join(tmp.dir, `m${tags}`), '--force']);
      fits.push(f);
      report = f.stdout;
    }
    const best = (xs: { seconds: number }[]): number => Math.min(...xs.map((x) => x.seconds));
    const rss = (xs: { maxRssMb: number }[]): number => Math.max(...xs.map((x) => x.maxRssMb));
    console.log(`\n${tags} tag${tags === 1 ? '' : 's'}: model fit best ${best(fits).toFixed(2)} s (runs: ${fits.map((f) => f.seconds.toFixed(2)).join(', ')}), peak RSS ${rss(fits).toFixed(0)} MB`);
    console.log(`  ceiling (plain read + parse loop in node): best ${best(reads).toFixed(2)} s, peak RSS ${rss(reads).toFixed(0)} MB; fit/ceiling time ${(best(fits) / best(reads)).toFixed(1)}x`);
    console.log(`  targets: < 30 s ${best(fits) < 30 ? 'met' : 'MISSED'}, < 500 MB ${rss(fits) < 500 ? 'met' : 'MISSED'}`);
    console.log(report.split('\n').slice(0, 9).map((l) => `  | ${l}`).join('\n'));
  }
} finally {
  tmp.cleanup();
}
