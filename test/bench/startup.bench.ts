// npm run bench:startup — what starting fieldgate costs, compiled (dist/, as shipped) against the
// same code run from its TypeScript sources through tsx (the ceiling to beat: how it shipped
// before the build), in the same run and on the same machine.
//
// Measured, alternating compiled and tsx in every trial: wall time to `--version`, to `validate`
// of the demo config, to the first sample of the demo (spawn until the file sink writes one), and
// the demo's RSS once running (IDLE_S after the first sample): the main process alone and with
// every descendant process (tsx keeps esbuild children). Compiled runs use Node's compile cache
// (bin/fieldgate.js enables it) and tsx its transform cache; the first trial warms both and is
// not counted. Targets: --version < 0.2 s, demo RSS >= 25% below tsx.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../support/wait.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const TRIALS = Number(process.env.TRIALS ?? 5);
const DEMO_TRIALS = Number(process.env.DEMO_TRIALS ?? 2);
const IDLE_S = Number(process.env.IDLE_S ?? 15);
const tmp = mkdtempSync(join(tmpdir(), 'fg-bench-startup-'));

type Mode = 'compiled' | 'tsx';
// compiled: the bin executed as a user's shell does (its shebang's flags apply), on this Node;
// tsx: how it ran before, `node --import tsx src/cli.ts`
const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
const cmd: Record<Mode, [string, ...string[]]> = {
  compiled: [join(root, 'bin/fieldgate.js')],
  tsx: [process.execPath, '--import', 'tsx', join(root, 'src/cli.ts')],
};

function timed(mode: Mode, args: string[]): number {
  const t = performance.now();
  const [exe, ...pre] = cmd[mode];
  const r = spawnSync(exe, [...pre, ...args], { cwd: root, encoding: 'utf8', env });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${mode} ${args.join(' ')} failed: ${r.stderr}`);
  return ms;
}

/** The demo on free ports, writing under tmp, with absolute paths to the repo's data and model. */
async function demoConfig(n: number): Promise<{ file: string; out: string }> {
  const ex = join(root, 'deploy/examples');
  const out = join(tmp, `out-${n}.jsonl`);
  let text = readFileSync(join(ex, 'demo.yaml'), 'utf8');
  for (const p of [1502, 4840, 1883]) {
    const to = await freePort();
    text = text.replaceAll(`:${p}`, `:${to}`).replaceAll(`port: ${p}`, `port: ${to}`);
  }
  text = text
    .replaceAll('file: nab/', `file: ${ex}/nab/`)
    .replace('path: ../../models/', `path: ${root}/models/`)
    .replace('dataDir: ../../data', `dataDir: ${join(tmp, `data-${n}`)}`)
    .replace('path: ../../data/demo-out.jsonl', `path: ${out}`)
    .replace(/health:\n {2}port: 8080/, 'health:\n  port: 0');
  const file = join(tmp, `demo-${n}.yaml`);
  writeFileSync(file, text);
  return { file, out };
}

function rssKb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch { return 0; }
}

/** RSS of pid and every descendant (from /proc's parent links). */
function treeRssKb(pid: number): { main: number; tree: number; procs: number } {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* gone */ }
  }
  const inTree = (p: number): boolean => p === pid || (parent.has(p) && p !== 1 && inTree(parent.get(p)!));
  let tree = 0;
  let procs = 0;
  for (const p of parent.keys()) if (inTree(p)) { tree += rssKb(p); procs++; }
  return { main: rssKb(pid), tree, procs };
}

async function demo(mode: Mode, n: number): Promise<{ firstSampleMs: number; main: number; tree: number; procs: number }> {
  const { file, out } = await demoConfig(n);
  const t = performance.now();
  const [exe, ...pre] = cmd[mode];
  const child = spawn(exe, [...pre, 'run', '-c', file], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], env });
  let err = '';
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    let firstSampleMs = 0;
    while (!firstSampleMs) {
      if (child.exitCode !== null) throw new Error(`${mode} demo exited: ${err}`);
      if (performance.now() - t > 300_000) throw new Error(`${mode} demo: no sample in 300 s`);
      if (existsSync(out) && readFileSync(out, 'utf8').includes('"kind":"sample"')) firstSampleMs = performance.now() - t;
      else await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, IDLE_S * 1000));
    return { firstSampleMs, ...treeRssKb(child.pid!) };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const modes: Mode[] = ['compiled', 'tsx'];
const demoPath = join(root, 'deploy/examples/demo.yaml');

const version: Record<Mode, number[]> = { compiled: [], tsx: [] };
const validate: Record<Mode, number[]> = { compiled: [], tsx: [] };
for (let i = 0; i <= TRIALS; i++) {
  for (const m of modes) {
    const v = timed(m, ['--version']);
    const c = timed(m, ['validate', '-c', demoPath]);
    if (i > 0) { version[m].push(v); validate[m].push(c); } // trial 0 warms the caches
  }
}
const demos: Record<Mode, Awaited<ReturnType<typeof demo>>[]> = { compiled: [], tsx: [] };
for (let i = 0; i < DEMO_TRIALS; i++) for (const m of modes) demos[m].push(await demo(m, i * 2 + modes.indexOf(m)));
rmSync(tmp, { recursive: true, force: true });

const fmt = (ms: number): string => `${(ms / 1000).toFixed(3)} s`;
const mb = (kb: number): string => `${(kb / 1024).toFixed(1)} MB`;
const row = (what: string, c: number, t: number, f: (x: number) => string): string =>
  `${what.padEnd(26)} ${f(c).padStart(10)} ${f(t).padStart(10)}   ${(c / t).toFixed(2)}`;
console.log(`node ${process.version}, ${TRIALS} trials (medians; demo ${DEMO_TRIALS} trials, RSS ${IDLE_S} s after the first sample), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log(`${''.padEnd(26)} ${'compiled'.padStart(10)} ${'tsx'.padStart(10)}   compiled/tsx`);
console.log(row('--version', median(version.compiled), median(version.tsx), fmt));
console.log(row('validate demo.yaml', median(validate.compiled), median(validate.tsx), fmt));
const d = (m: Mode, k: 'firstSampleMs' | 'main' | 'tree'): number => median(demos[m].map((x) => x[k]));
console.log(row('demo: first sample', d('compiled', 'firstSampleMs'), d('tsx', 'firstSampleMs'), fmt));
console.log(row('demo RSS, main process', d('compiled', 'main'), d('tsx', 'main'), mb));
console.log(row('demo RSS, process tree', d('compiled', 'tree'), d('tsx', 'tree'), mb));
console.log(`processes in the demo's tree: compiled ${demos.compiled[0]!.procs}, tsx ${demos.tsx[0]!.procs}`);
const vOk = median(version.compiled) < 200;
const rssCut = 1 - d('compiled', 'tree') / d('tsx', 'tree');
console.log(`targets: --version < 0.2 s: ${vOk ? 'met' : 'MISSED'} (${fmt(median(version.compiled))}); demo RSS >= 25% below tsx: ${rssCut >= 0.25 ? 'met' : 'MISSED'} (${(rssCut * 100).toFixed(0)}% below, process tree)`);
