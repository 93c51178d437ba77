// `npm run pack:check` (and .ci/run): the release as a user gets it. Packs the tarball, checks it
// holds only what runs (no test, rig, fixture or source: scripts/release-files.mjs) and that its
// code imports only declared dependencies, installs it with `npm install -g` into a fresh
// temporary prefix (and checks the installed tree by the same rule), then runs
// the installed `fieldgate`: --version, validate of the demo, and a 10 s run of the demo (on free
// ports, data in the temp folder, the replay sped up so the model's window fills) that must write
// samples and predictions to its file sink and exit 0 on SIGTERM. Plain JavaScript: no tsx.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { demoRun } from './demo-run.mjs';
import { listFiles, offenders } from './release-files.mjs';

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
// no test, benchmark, rig, fixture, test case, source or dev script (scripts/release-files.mjs)
const forbidden = offenders(files);
if (forbidden.length) fail(`the tarball holds ${forbidden.length} file(s) that must not ship:\n  ${forbidden.join('\n  ')}`);
for (const need of ['bin/fieldgate.js', 'dist/src/cli.js', 'dist/src/inference/worker.js', 'dist/src/outbox/writer-worker.js',
  'dist/src/health/dashboard/index.html', 'models/nab-machine-temp/model.onnx', 'deploy/examples/demo.yaml', 'README.md', 'LICENSE',
  // the simulators are a product feature (`fieldgate simulate`, the demo), not test support
  'dist/drivers/modbus/sim/server.js', 'dist/drivers/opcua/sim/server.js', 'dist/src/sim/generators.js']) {
  if (!files.includes(need)) fail(`the tarball lacks ${need}`);
}
// every package the shipped code imports is a dependency: a dev dependency is absent from an
// install, and another package's copy found by hoisting may be another major version
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const builtin = new Set(builtinModules);
const undeclared = new Set();
for (const f of files.filter((f) => /\.(c|m)?js$/.test(f))) {
  const text = readFileSync(join(root, f), 'utf8');
  // import/export ... from 'x', import 'x', import('x'), require('x'), createRequire(...)('x')
  const specs = /^\s*import\s*['"]([^'"]+)['"]|^\s*(?:import|export)\b[^;'"]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)|\brequire\(\s*['"]([^'"]+)['"]\s*\)|\bcreateRequire\([^)]*\)\(\s*['"]([^'"]+)['"]\s*\)/gm;
  for (const m of text.matchAll(specs)) {
    const spec = m[1] ?? m[2] ?? m[3] ?? m[4] ?? m[5] ?? '';
    if (!/^(@[\w-][\w.-]*\/)?[\w-][\w.-]*(\/|$)/.test(spec)) continue; // relative, absolute or a URL
    if (spec.startsWith('node:') || builtin.has(spec.split('/')[0])) continue;
    const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
    if (!(name in (pkg.dependencies ?? {})) && !(name in (pkg.optionalDependencies ?? {}))) undeclared.add(`${f}: ${name}`);
  }
}
if (undeclared.size) fail(`shipped code imports packages that are not dependencies:\n  ${[...undeclared].join('\n  ')}`);
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
const installedBad = offenders(listFiles(pkgDir));
if (installedBad.length) fail(`the installed package holds files that must not ship:\n  ${installedBad.join('\n  ')}`);
if (existsSync(join(pkgDir, 'node_modules', 'tsx')) || existsSync(join(prefix, 'lib', 'node_modules', 'tsx'))) fail('tsx was installed: it must be a dev dependency');
const du = (dir) => Number(execFileSync('du', ['-sk', dir], { encoding: 'utf8' }).split('\t')[0]) / 1024;
const before = du(prefix);
// the demo below then also proves the trimmed install still finds its ONNX runtime
execFileSync(process.execPath, [join(root, 'scripts', 'trim-onnxruntime.mjs'), pkgDir], { stdio: 'inherit' });
console.log(`pack-check: installed into ${prefix}: ${before.toFixed(0)} MB, ${du(prefix).toFixed(0)} MB after trimming onnxruntime (${secs()} s)`);

// 3. run the installed command: --version, validate, the demo for 10 s (scripts/demo-run.mjs)
const version = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
if (version !== JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version) fail(`--version printed ${version}`);
const demo = join(pkgDir, 'deploy', 'examples', 'demo.yaml');
console.log(execFileSync(bin, ['validate', '-c', demo], { encoding: 'utf8' }).trim());

const r = await demoRun(10, pkgDir, [bin]).catch((e) => fail(e.message));
console.log(`pack-check: demo run from the installed package (10 s from the first sample, ${r.wallS.toFixed(1)} s in all): ${r.samples} samples, ${r.predictions} predictions, exit 0 on SIGTERM (${secs()} s total)`);
if (!keep) rmSync(tmp, { recursive: true, force: true });
else console.log(`pack-check: kept ${tmp}`);
