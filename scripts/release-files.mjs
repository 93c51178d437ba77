// What the release (the npm tarball, and so the container images, which install that tarball)
// must not hold: tests, benchmarks, rigs, fixtures, test cases, TypeScript sources, dev-only
// scripts. One rule for every place that checks: pack-check.mjs (the tarball's file list),
// scripts/oci-image.sh and deploy/docker/Dockerfile (the installed package inside the image).
//   node scripts/release-files.mjs DIR   checks the installed package in DIR (its node_modules
//                                         are third-party and left alone); exit 1 listing offenders
// The simulators (dist/drivers/*/sim, dist/src/sim) are a product feature (`fieldgate simulate`)
// and ship.
import { readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const testDirs = new Set(['test', 'tests', '__tests__', 'fixtures', 'testcases', 'scratch', 'bench']);
const rigName = /^(testing|testkit|test-[^/]*|[^/]*-rig|[^/]*\.fixture|[^/]*\.test|[^/]*\.bench)\.[cm]?[jt]s$/;

/** Why `path` (relative to the package root, `/`-separated) must not ship, or undefined if it may. */
export function notShipped(path) {
  const parts = path.split('/');
  const name = parts.at(-1) ?? '';
  const dir = parts.slice(0, -1).find((d) => testDirs.has(d));
  if (dir) return `under a ${dir}/ folder`;
  if (/\.(test|bench|fixture)\./.test(name)) return 'a test, benchmark or fixture';
  if (rigName.test(name)) return 'a test rig';
  if (path.startsWith('scripts/') && path !== 'scripts/trim-onnxruntime.mjs') return 'a development script';
  if (name.endsWith('.ts') && !name.endsWith('.d.ts')) return 'a TypeScript source (the release runs dist/)';
  if (name.endsWith('.tsbuildinfo')) return 'compiler state';
  if (name === 'ts-worker-entry.mjs') return 'the tsx worker bootstrap (runs from source only)';
  return undefined;
}

/** Offenders among `paths`, as "path: why" lines. */
export function offenders(paths) {
  return paths.flatMap((p) => {
    const why = notShipped(p);
    return why ? [`${p}: ${why}`] : [];
  });
}

/** The files of an installed package, relative and `/`-separated, without its node_modules. */
export function listFiles(root, dir = root, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (!(dir === root && name === 'node_modules')) listFiles(root, p, out);
    } else out.push(relative(root, p).split(sep).join('/'));
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node scripts/release-files.mjs INSTALLED_PACKAGE_DIR');
    process.exit(2);
  }
  const files = listFiles(dir);
  const bad = offenders(files);
  if (bad.length) {
    console.error(`release-files: ${dir} holds ${bad.length} file(s) that must not ship:\n  ${bad.join('\n  ')}`);
    process.exit(1);
  }
  console.log(`release-files: ${files.length} files in ${dir}, none a test, rig, fixture or source`);
}
