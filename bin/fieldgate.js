#!/usr/bin/env -S node --max-semi-space-size=8 --heap-growing-percent=30
// Runs the compiled CLI (dist/, built by `npm run build`, which `npm ci` runs through `prepare`).
// Tests and scripts run the TypeScript sources through tsx instead; production never needs it.
// V8's heap, sized for a gateway (bench:e2e, README "Install"): --heap-growing-percent=30 lets the
// old generation grow to 1.3x what survived the last full GC (Node's default lets it reach 2-4x:
// 140-150 MB of a 50 MB live heap under load, most of it garbage); --max-semi-space-size=8 (MB,
// the young generation of the main thread) keeps short-lived batches out of the old generation,
// so those full GCs stay rare (16 measured no faster since batches stopped being per-sample objects). Worker threads set their own small young generation
// (src/core/ts-worker.ts). The semi-space size must be given at start; the growing percentage is
// also set below when started as `node bin/fieldgate.js` (systemd), since NODE_OPTIONS refuses it.
import { existsSync, readFileSync } from 'node:fs';
import module from 'node:module';
import { setFlagsFromString } from 'node:v8';

// read by V8 at every full GC, so setting it here, before anything is loaded, still takes effect
if (!process.execArgv.some((a) => a.startsWith('--heap-growing-percent') || a.startsWith('--heap_growing_percent'))) {
  setFlagsFromString('--heap-growing-percent=30');
}

const args = process.argv.slice(2);
// `--version` answers from package.json alone: scripts and health checks call it often
if (args.length === 1 && (args[0] === '--version' || args[0] === '-v')) {
  process.stdout.write(`${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`);
  process.exit(0);
}
// Node >= 22.1 caches compiled bytecode (in the OS temp directory, or NODE_COMPILE_CACHE):
// later starts skip parsing most of the dependency tree
module.enableCompileCache?.();

const cli = new URL('../dist/src/cli.js', import.meta.url);
if (!existsSync(cli)) {
  console.error('fieldgate: dist/ is missing; run `npm run build` (npm ci does it) first');
  process.exit(1);
}
await import(cli.href);
