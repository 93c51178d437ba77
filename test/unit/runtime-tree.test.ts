// The runtime tree (src/, drivers/) holds what the gateway runs; test rigs, peers and fixtures
// live under test/support/. These checks keep it so: a module there that only tests use is a rig
// in the wrong place (it would be compiled into dist/ and shipped), and runtime code never
// imports test support. The release rule itself (scripts/release-files.mjs, run by pack-check
// and the image builds) is checked on paths it must refuse and paths it must keep.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { notShipped } from '../../scripts/release-files.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const rel = (p: string): string => relative(root, p).split(sep).join('/');

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.(ts|mjs|js)$/.test(name)) out.push(p);
  }
  return out;
}

// static and dynamic imports, `new URL('./x', import.meta.url)` and `workerModule('x', import.meta.url)`
const refs = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+|\bnew URL\(\s*)['"](\.{1,2}\/[^'"]+)['"]|\bworkerModule\(\s*['"]([^'"]+)['"]/gm;

function importGraph(): Map<string, Set<string>> {
  const importers = new Map<string, Set<string>>();
  for (const top of ['src', 'drivers', 'test', 'scripts', 'models', 'bin']) {
    for (const file of walk(join(root, top))) {
      for (const m of readFileSync(file, 'utf8').matchAll(refs)) {
        const target = m[1] !== undefined ? resolve(dirname(file), m[1]) : resolve(dirname(file), `${m[2]}.ts`);
        const key = rel(target);
        if (!importers.has(key)) importers.set(key, new Set());
        importers.get(key)!.add(rel(file));
      }
    }
  }
  return importers;
}

const isTest = (f: string): boolean => /\.test\.ts$|\.bench\.ts$/.test(f) || f.startsWith('test/');
const runtimeModules = (): string[] =>
  ['src', 'drivers'].flatMap((d) => walk(join(root, d))).map(rel).filter((f) => !isTest(f) && !f.includes('/testcases/'));

test('no module under src/ or drivers/ exists only for tests (rigs, peers and fixtures live in test/support/)', () => {
  const importers = importGraph();
  // the entry points: the CLI (bin/fieldgate.js runs its compiled copy) and the worker bootstrap
  const entries = new Set(['src/cli.ts', 'src/core/ts-worker-entry.mjs']);
  const modules = runtimeModules().filter((f) => !entries.has(f));
  // a module used only by tests, or only by modules that are themselves used only by tests
  const testOnly = new Set<string>();
  for (let changed = true; changed;) {
    changed = false;
    for (const f of modules) {
      if (testOnly.has(f)) continue;
      const by = [...(importers.get(f) ?? [])];
      if (by.length > 0 && by.every((i) => isTest(i) || testOnly.has(i))) {
        testOnly.add(f);
        changed = true;
      }
    }
  }
  const unused = modules.filter((f) => !importers.has(f) && /\.ts$/.test(f));
  assert.deepEqual([...testOnly].sort(), [], 'used only by tests: move them under test/support/<area>/');
  assert.deepEqual(unused, [], 'imported by nothing');
});

test('runtime code never imports test support', () => {
  const offenders: string[] = [];
  for (const f of runtimeModules()) {
    for (const m of readFileSync(join(root, f), 'utf8').matchAll(refs)) {
      if (m[1] !== undefined && rel(resolve(dirname(join(root, f)), m[1])).startsWith('test/')) offenders.push(`${f} -> ${m[1]}`);
    }
  }
  assert.deepEqual(offenders, []);
});

test('the release rule refuses tests, rigs, fixtures and sources, and keeps the simulators', () => {
  const refused = [
    'dist/src/outbox/outbox.test.js', 'dist/src/outbox/testing.js', 'dist/drivers/opcua/testkit.js',
    'dist/src/sinks/mqtt/test-broker.js', 'dist/src/sinks/mqtt/sparkplug-rig.js', 'dist/src/sinks/nats/kill9.fixture.js',
    'dist/src/inference/fixtures/stop-exits.js', 'dist/drivers/modbus/testcases/valid-rtu-serial.yaml',
    'dist/test/support/wait.js', 'test/support/wait.ts', 'dist/src/cli.ts', 'scripts/build.mjs',
    'dist/.tsbuildinfo', 'dist/src/core/ts-worker-entry.mjs', 'dist/test/bench/e2e.bench.js',
  ];
  for (const p of refused) assert.ok(notShipped(p), `${p} must not ship`);
  const kept = [
    'bin/fieldgate.js', 'dist/src/cli.js', 'dist/drivers/modbus/sim/server.js', 'dist/drivers/opcua/sim/server.js',
    'dist/src/sim/generators.js', 'dist/src/health/dashboard/index.html', 'scripts/trim-onnxruntime.mjs',
    'models/nab-machine-temp/model.onnx', 'deploy/examples/demo.yaml', 'drivers/modbus/README.md', 'dist/src/core/latest.js',
  ];
  for (const p of kept) assert.equal(notShipped(p), undefined, `${p} ships`);
});
