/**
 * npm run bench:config — validating a large configuration: a Modbus source of 100 devices x 1,000
 * tags (100k tags, BENCH_TAGS overrides). Each phase runs in a fresh child process so its peak
 * RSS is its own:
 *   yaml      the ceiling: the yaml library's parseDocument + toJS of the same text, nothing else
 *   validate  parseConfigText (parse, substitute, schema, duplicate ids)
 *   reload    the longest event-loop stall while the reload path reads and validates the file
 *             (a 1 ms timer runs beside it; a worker-thread loader keeps the stall short)
 * Ratios are what to compare: absolute times drift on this shared machine.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { loadConfigFile, parseConfigText } from '../../src/config/load.ts';
import { bigConfig } from '../support/big-config.ts';

const TAGS = Number(process.env.BENCH_TAGS ?? 100_000);

async function phase(name: string, file: string): Promise<void> {
  const { readFileSync } = await import('node:fs');
  const text = readFileSync(file, 'utf8');
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let stall = 0;
  if (name === 'yaml') {
    parseDocument(text, { uniqueKeys: true }).toJS();
  } else if (name === 'validate') {
    parseConfigText(text, 'big.yaml', '/tmp');
  } else if (name === 'reload') {
    // what reloadFromFile awaits: the loader it uses by default
    const { loadConfigFileAsync } = await import('../../src/config/load-async.ts');
    const load = process.env.BENCH_SYNC ? loadConfigFile : loadConfigFileAsync;
    let last = performance.now();
    const tick = setInterval(() => {
      const now = performance.now();
      stall = Math.max(stall, now - last);
      last = now;
    }, 1);
    await new Promise((r) => setTimeout(r, 50));
    last = performance.now();
    await load(file);
    const now = performance.now();
    stall = Math.max(stall, now - last);
    clearInterval(tick);
  }
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  // CPU time of the whole process (a worker thread's too): steadier than wall time on a shared machine
  const cpuMs = (c.user + c.system) / 1000;
  const rssMb = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify({ name, ms, cpuMs, rssMb, stall }));
}

if (process.env.BENCH_PHASE) {
  await phase(process.env.BENCH_PHASE, process.env.BENCH_FILE!);
} else {
  const dir = mkdtempSync(join(tmpdir(), 'fg-bench-config-'));
  const file = join(dir, 'big.yaml');
  const text = bigConfig(TAGS);
  writeFileSync(file, text);
  console.log(`config bench: ${TAGS} tags, ${(text.length / 1e6).toFixed(1)} MB of YAML; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const self = fileURLToPath(import.meta.url);
  type Phase = { ms: number; cpuMs: number; rssMb: number; stall: number };
  const run = (name: string): Phase =>
    JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', self], { env: { ...process.env, BENCH_PHASE: name, BENCH_FILE: file }, encoding: 'utf8', maxBuffer: 1 << 20 })) as Phase;
  const res: Record<string, Phase> = {};
  for (const name of ['yaml', 'validate', 'reload']) {
    res[name] = run(name);
  }
  // the same reload with the loader on the main thread (what a reload did before the worker)
  res.sync = JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', self], { env: { ...process.env, BENCH_PHASE: 'reload', BENCH_SYNC: '1', BENCH_FILE: file }, encoding: 'utf8' })) as Phase;
  const y = res.yaml!;
  const v = res.validate!;
  const r = res.reload!;
  console.log(`yaml parse (ceiling)  ${y.ms.toFixed(0).padStart(6)} ms   CPU ${y.cpuMs.toFixed(0).padStart(6)} ms   peak RSS ${y.rssMb.toFixed(0)} MB`);
  console.log(`validate              ${v.ms.toFixed(0).padStart(6)} ms   CPU ${v.cpuMs.toFixed(0).padStart(6)} ms   peak RSS ${v.rssMb.toFixed(0)} MB   ${(v.cpuMs / y.cpuMs).toFixed(2)}x the yaml parse's CPU`);
  const sy = res.sync!;
  console.log(`reload, worker thread ${r.ms.toFixed(0).padStart(6)} ms   CPU ${r.cpuMs.toFixed(0).padStart(6)} ms   peak RSS ${r.rssMb.toFixed(0)} MB   longest event-loop stall ${r.stall.toFixed(0)} ms`);
  console.log(`reload, main thread   ${sy.ms.toFixed(0).padStart(6)} ms   CPU ${sy.cpuMs.toFixed(0).padStart(6)} ms   peak RSS ${sy.rssMb.toFixed(0)} MB   longest event-loop stall ${sy.stall.toFixed(0)} ms`);
  rmSync(dir, { recursive: true, force: true });
}
