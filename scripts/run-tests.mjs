// Finds every *.test.ts under the test roots and runs them with Node's test runner (tsx loader).
// Node 20's `node --test` does not expand globs itself, so the list is built here.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const roots = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const flags = process.argv.slice(2).filter((a) => a.startsWith('-'));
const skip = new Set(['node_modules', 'dist', 'data', '.git', 'scratch', 'bench']);

function walk(dir, out) {
  let entries;
  if (dir.endsWith('.test.ts')) {
    out.push(dir);
    return out;
  }
  try { entries = readdirSync(dir); } catch { return out; }
  for (const name of entries) {
    if (skip.has(name)) continue;
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const files = (roots.length ? roots : ['src', 'drivers', 'models', 'test']).flatMap((r) => walk(r, [])).sort();
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=180000', ...flags, ...files],
  { stdio: 'inherit' },
);
process.exit(r.status ?? 1);
