#!/usr/bin/env -S node --max-semi-space-size=2
// Runs the compiled CLI (dist/, built by `npm run build`, which `npm ci` runs through `prepare`).
// Tests and scripts run the TypeScript sources through tsx instead; production never needs it.
// --max-semi-space-size=2 (MB, V8's young generation per thread): Node 24 sizes it for
// throughput, which cost the demo (main thread + model and outbox workers) ~100 MB of RSS
// (368 -> 264-269 MB measured); a gateway's batches need far less. It must be given at start
// (v8.setFlagsFromString later has no effect), hence here, in npm start and in the systemd unit.
import { existsSync, readFileSync } from 'node:fs';
import module from 'node:module';

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
