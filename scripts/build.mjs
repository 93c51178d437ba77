// `npm run build`: compiles src/ and drivers/ to dist/ with TypeScript's own compiler
// (tsconfig.build.json), then copies the non-TypeScript files that code loads at run time (the
// dashboard's page, script and styles, any driver data files) beside the compiled JavaScript.
// Generic on purpose: no file lists, so new sources are built without touching this script.
// Incremental: a second run with nothing changed takes seconds; compiled files whose source is
// gone are removed so dist/ never runs stale code.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist');
const roots = ['src', 'drivers'];
// what never runs: docs, tests and plugin test cases (rigs and fixtures live under test/)
const skipDirs = new Set(['testcases', 'node_modules']);
const isAsset = (name) => !name.endsWith('.ts') && !name.endsWith('.md') && !name.includes('.test.');

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  // `npm ci --omit=dev` runs `prepare` too, without the compiler: keep a build that exists
  if (existsSync(join(out, 'src', 'cli.js'))) {
    console.error('build: typescript is not installed (dev dependencies omitted); keeping the existing dist/');
    process.exit(0);
  }
  console.error('build: typescript is not installed and there is no dist/: run `npm ci` with dev dependencies');
  process.exit(1);
}
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);

function* files(dir) {
  let names;
  try { names = readdirSync(dir); } catch { return; }
  for (const name of names) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (!skipDirs.has(name)) yield* files(p);
    } else yield p;
  }
}

let copied = 0;
for (const r of roots) {
  for (const src of files(join(root, r))) {
    if (!isAsset(src.slice(src.lastIndexOf('/') + 1))) continue;
    const dst = join(out, relative(root, src));
    mkdirSync(dirname(dst), { recursive: true });
    copyFileSync(src, dst);
    copied++;
  }
}

// stale output: a compiled .js whose .ts is gone, or a copied asset whose original is gone
let removed = 0;
for (const r of roots) {
  for (const built of files(join(out, r))) {
    const src = join(root, relative(out, built));
    const fromTs = built.endsWith('.js') ? src.slice(0, -3) + '.ts' : undefined;
    if (existsSync(src) || (fromTs && existsSync(fromTs))) continue;
    rmSync(built);
    removed++;
  }
}
console.log(`build: dist/ compiled, ${copied} asset(s) copied${removed ? `, ${removed} stale file(s) removed` : ''}`);
