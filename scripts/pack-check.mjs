// `npm run pack:check` (and .ci/run): the release as a user gets it. Packs the tarball, checks it
// holds only what runs, installs it with `npm install -g` into a fresh temporary prefix, then runs
// the installed `fieldgate`: --version, validate of the demo, and a 10 s run of the demo (on free
// ports, data in the temp folder, the replay sped up so the model's window fills) that must write
// samples and predictions to its file sink and exit 0 on SIGTERM. Plain JavaScript: no tsx.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tmp = mkdtempSync(join(tmpdir(), 'fieldgate-pack-'));
const keep = process.argv.includes('--keep');
const t0 = performance.now();
const secs = () => ((performance.now() - t0) / 1000).toFixed(1);
const fail = (msg) => { console.error(`pack-check: FAIL: ${msg}`); process.exit(1); };
const npm = (args, opts = {}) => execFileSync('npm', args, { cwd: root, encoding: 'utf8', ...opts });

// 1. build, pack (prepare already ran: --ignore-scripts keeps its output out of the JSON) and
// inspect the file list
execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });
const [info] = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], { stdio: ['ignore', 'pipe', 'inherit'] }));
const files = info.files.map((f) => f.path);
const forbidden = files.filter((f) =>
  /\.test\.|\.bench\.|(^|\/)(test|fixtures|testcases|scripts\/(?!trim-onnxruntime))\/|\.tsbuildinfo$/.test(f) ||
  /(^|\/)(testing|testkit|test-[^/]*|[^/]*-rig)\.js$/.test(f) ||
  (f.endsWith('.ts') && !f.endsWith('.d.ts')));
if (forbidden.length) fail(`the tarball holds files that do not run:\n  ${forbidden.join('\n  ')}`);
for (const need of ['bin/fieldgate.js', 'dist/src/cli.js', 'dist/src/inference/worker.js', 'dist/src/outbox/writer-worker.js',
  'dist/src/health/dashboard/index.html', 'models/nab-machine-temp/model.onnx', 'deploy/examples/demo.yaml', 'README.md', 'LICENSE']) {
  if (!files.includes(need)) fail(`the tarball lacks ${need}`);
}
const tgz = join(tmp, info.filename);
console.log(`pack-check: ${info.filename}: ${files.length} files, ${(info.size / 1024).toFixed(0)} kB packed, ${(info.unpackedSize / 1024).toFixed(0)} kB unpacked (${secs()} s)`);

// 2. install it globally into an empty prefix, as a user would
const prefix = join(tmp, 'prefix');
// onnxruntime-node's install script fetches optional GPU providers from nuget.org unless told
// to skip (the repo's .npmrc says so for development; a global install does not read it)
npm(['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', '--onnxruntime-node-install=skip', tgz], { cwd: tmp, stdio: ['ignore', 'ignore', 'inherit'] });
const bin = join(prefix, 'bin', 'fieldgate');
const pkgDir = join(prefix, 'lib', 'node_modules', 'fieldgate');
if (!existsSync(bin)) fail(`npm install -g made no ${bin}`);
if (existsSync(join(pkgDir, 'node_modules', 'tsx')) || existsSync(join(prefix, 'lib', 'node_modules', 'tsx'))) fail('tsx was installed: it must be a dev dependency');
const du = (dir) => Number(execFileSync('du', ['-sk', dir], { encoding: 'utf8' }).split('\t')[0]) / 1024;
const before = du(prefix);
// the demo below then also proves the trimmed install still finds its ONNX runtime
execFileSync(process.execPath, [join(root, 'scripts', 'trim-onnxruntime.mjs'), pkgDir], { stdio: 'inherit' });
console.log(`pack-check: installed into ${prefix}: ${before.toFixed(0)} MB, ${du(prefix).toFixed(0)} MB after trimming onnxruntime (${secs()} s)`);

// 3. run the installed command
const version = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
if (version !== JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version) fail(`--version printed ${version}`);
const demo = join(pkgDir, 'deploy', 'examples', 'demo.yaml');
console.log(execFileSync(bin, ['validate', '-c', demo], { encoding: 'utf8' }).trim());

async function freePort() {
  return new Promise((res, rej) => {
    const s = createServer().once('error', rej).listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

// the demo on free ports, writing into tmp, replay 10x faster (as test/support/fast-demo.ts does)
const out = join(tmp, 'demo-out.jsonl');
const ports = { 1502: await freePort(), 4840: await freePort(), 1883: await freePort() };
let text = readFileSync(demo, 'utf8');
for (const [from, to] of Object.entries(ports)) text = text.replaceAll(`:${from}`, `:${to}`).replaceAll(`port: ${from}`, `port: ${to}`);
text = text
  .replace('dataDir: ../../data', `dataDir: ${join(tmp, 'data')}`)
  .replace('path: ../../data/demo-out.jsonl', `path: ${out}`)
  .replace('speed: 3000 }', 'speed: 30000 }')
  .replace('interval: 100ms', 'interval: 10ms')
  .replace(/health:\n {2}port: 8080/, 'health:\n  port: 0');
for (const p of ['1502', '4840', '1883', '8080']) if (new RegExp(`\\b${p}\\b`).test(text.replace(/^\s*#.*$/gm, ''))) fail(`demo port ${p} left in the CI copy`);
const ciDemo = join(dirname(demo), 'ci-demo.yaml'); // beside the original: its relative paths still hold
writeFileSync(ciDemo, text);

const child = spawn(bin, ['run', '-c', ciDemo], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
let log = '';
child.stdout.on('data', (d) => { log += d; });
child.stderr.on('data', (d) => { log += d; });
const exited = new Promise((res) => child.once('exit', (code, signal) => res({ code, signal })));
const early = await Promise.race([exited, new Promise((res) => setTimeout(() => res(undefined), 10_000))]);
if (early) fail(`fieldgate run exited early (${JSON.stringify(early)}):\n${log}`);
child.kill('SIGTERM');
const end = await Promise.race([exited, new Promise((res) => setTimeout(() => res({ code: 'timeout' }), 30_000))]);
if (end.code !== 0) { child.kill('SIGKILL'); fail(`fieldgate run did not exit 0 on SIGTERM (${JSON.stringify(end)}):\n${log}`); }
const records = existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
const count = (kind) => records.filter((r) => r.kind === kind).length;
if (count('sample') === 0) fail(`the demo wrote no samples in 10 s:\n${log}`);
if (count('prediction') === 0) fail(`the demo wrote no predictions in 10 s:\n${log}`);
console.log(`pack-check: 10 s demo run from the installed package: ${count('sample')} samples, ${count('prediction')} predictions, exit 0 (${secs()} s total)`);
if (!keep) rmSync(tmp, { recursive: true, force: true });
else console.log(`pack-check: kept ${tmp}`);
