// Runs the demo from an installed fieldgate package for a fixed time and checks it worked: free
// ports instead of the fixed ones, data under a temp folder, the NAB replay 10x faster (as
// test/support/fast-demo.ts does) so the model's 288-row window fills within seconds. Used by
// pack-check.mjs and arm64-check.sh. Plain JavaScript: no tsx.
//   node scripts/demo-run.mjs SECONDS PACKAGE_DIR COMMAND...   (COMMAND runs the fieldgate CLI)
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

async function freePort() {
  return new Promise((res, rej) => {
    const s = createServer().once('error', rej).listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

const rssKb = (pid) => {
  try { return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0); } catch { return 0; }
};

/**
 * Runs `command` (argv array; `run -c <config>` is appended) from package `pkgDir` for `seconds`
 * after its first sample (and at least until its first prediction), then SIGTERM. Throws unless it exits 0 having written samples and predictions.
 */
export async function demoRun(seconds, pkgDir, command) {
  const tmp = mkdtempSync(join(tmpdir(), 'fieldgate-demo-'));
  const demo = join(pkgDir, 'deploy', 'examples', 'demo.yaml');
  const out = join(tmp, 'demo-out.jsonl');
  let text = readFileSync(demo, 'utf8');
  for (const p of [1502, 4840, 1883]) {
    const to = await freePort();
    text = text.replaceAll(`:${p}`, `:${to}`).replaceAll(`port: ${p}`, `port: ${to}`);
  }
  text = text
    .replace('dataDir: ../../data', `dataDir: ${join(tmp, 'data')}`)
    .replace('path: ../../data/demo-out.jsonl', `path: ${out}`)
    .replace('speed: 3000 }', 'speed: 30000 }')
    .replace('interval: 100ms', 'interval: 10ms')
    .replace(/health:\n {2}port: 8080/, 'health:\n  port: 0');
  for (const p of ['1502', '4840', '1883', '8080']) {
    if (new RegExp(`\\b${p}\\b`).test(text.replace(/^\s*#.*$/gm, ''))) throw new Error(`demo port ${p} left in the copy`);
  }
  // beside the original, so its relative paths (the model, the NAB data) still hold
  const config = join(pkgDir, 'deploy', 'examples', `ci-demo-${process.pid}.yaml`);
  writeFileSync(config, text);
  const t0 = performance.now();
  const child = spawn(command[0], [...command.slice(1), 'run', '-c', config], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  const exited = new Promise((res) => child.once('exit', (code, signal) => res({ code, signal })));
  const records = () => existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
  let firstSample, firstPrediction, peakRss = 0;
  const rss = [];
  try {
    // SECONDS of running counted from the first sample (start-up on a busy or emulated machine
    // varies widely: node-opcua makes its certificate first), then until the first prediction;
    // bounded by STARTUP_LIMIT_S for each wait
    const limit = Number(process.env.STARTUP_LIMIT_S ?? 180) * 1000;
    const done = () => {
      const now = performance.now() - t0;
      if (firstSample === undefined) { if (now > limit) throw new Error(`no sample after ${limit / 1000} s:\n${log}`); return false; }
      if (now < firstSample + seconds * 1000) return false;
      if (firstPrediction === undefined) { if (now > firstSample + limit) throw new Error(`no prediction ${limit / 1000} s after the first sample:\n${log}`); return false; }
      return true;
    };
    while (!done()) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`fieldgate run exited early (${child.exitCode ?? child.signalCode}):\n${log}`);
      const text = existsSync(out) ? readFileSync(out, 'utf8') : '';
      firstSample ??= text.includes('"kind":"sample"') ? performance.now() - t0 : undefined;
      firstPrediction ??= text.includes('"kind":"prediction"') ? performance.now() - t0 : undefined;
      const kb = rssKb(child.pid);
      peakRss = Math.max(peakRss, kb);
      rss.push(kb);
      await new Promise((r) => setTimeout(r, 250));
    }
    child.kill('SIGTERM');
    const end = await Promise.race([exited, new Promise((r) => setTimeout(() => r({ code: 'timeout' }), 60_000))]);
    if (end.code !== 0) throw new Error(`fieldgate run did not exit 0 on SIGTERM (${JSON.stringify(end)}):\n${log}`);
    const all = records();
    const count = (kind) => all.filter((r) => r.kind === kind).length;
    if (count('sample') === 0 || count('prediction') === 0) throw new Error(`the file sink holds ${count('sample')} samples, ${count('prediction')} predictions:\n${log}`);
    const last = all.filter((r) => r.kind === 'prediction').at(-1);
    return {
      samples: count('sample'), predictions: count('prediction'), lastPrediction: last,
      firstSampleS: firstSample / 1000, firstPredictionS: firstPrediction / 1000,
      peakRssMb: peakRss / 1024, endRssMb: rss.at(-1) / 1024, wallS: (performance.now() - t0) / 1000,
    };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(config, { force: true });
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [seconds, pkgDir, ...command] = process.argv.slice(2);
  const r = await demoRun(Number(seconds), pkgDir, command);
  console.log(`demo-run: ${r.wallS.toFixed(1)} s in all (${seconds} s from the first sample): ${r.samples} samples, ${r.predictions} predictions (first sample after ${r.firstSampleS?.toFixed(1)} s, ` +
    `first prediction after ${r.firstPredictionS?.toFixed(1)} s), RSS peak ${r.peakRssMb.toFixed(0)} MB, at the end ${r.endRssMb.toFixed(0)} MB, exit 0 on SIGTERM`);
  console.log(`demo-run: last prediction: ${JSON.stringify(r.lastPrediction)}`);
}
