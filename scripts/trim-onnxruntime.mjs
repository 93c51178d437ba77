#!/usr/bin/env node
// Removes onnxruntime-node's native binaries for other platforms from an installed tree:
// the package ships all of them (darwin, win32, linux; x64 and arm64: ~290 MB) and loads only
// bin/napi-v*/<platform>/<arch>. Its licence is MIT, which allows modified copies; the package's
// licence field, README and JavaScript stay untouched, only unused binaries go.
//   node scripts/trim-onnxruntime.mjs [DIR ...] [--platform linux] [--arch arm64]
// DIR: a folder holding node_modules (default: the current one); searched for every copy of
// onnxruntime-node beneath it, nested ones included. Platform and arch default to this process's.
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { platform: { type: 'string', default: process.platform }, arch: { type: 'string', default: process.arch } },
});
const keep = `${values.platform}/${values.arch}`;

function* copies(dir) {
  const nm = join(dir, 'node_modules');
  if (!existsSync(nm)) return;
  for (const name of readdirSync(nm)) {
    const p = join(nm, name);
    if (name.startsWith('@')) { for (const s of readdirSync(p)) yield* copies(join(p, s)); continue; }
    if (name === 'onnxruntime-node') yield p;
    if (statSync(p).isDirectory()) yield* copies(p);
  }
}

const du = (p) => statSync(p).isDirectory() ? readdirSync(p).reduce((s, n) => s + du(join(p, n)), 0) : statSync(p).size;
let freed = 0;
let found = 0;
for (const dir of positionals.length ? positionals : ['.']) {
  for (const pkg of copies(dir)) {
    found++;
    for (const napi of readdirSync(join(pkg, 'bin')).filter((n) => n.startsWith('napi-v'))) {
      const base = join(pkg, 'bin', napi);
      if (!existsSync(join(base, keep))) throw new Error(`${base} has no ${keep}: refusing to trim the binary that would be needed`);
      for (const platform of readdirSync(base)) {
        for (const arch of readdirSync(join(base, platform))) {
          if (`${platform}/${arch}` === keep) continue;
          const p = join(base, platform, arch);
          freed += du(p);
          rmSync(p, { recursive: true });
        }
        if (readdirSync(join(base, platform)).length === 0) rmSync(join(base, platform), { recursive: true });
      }
    }
  }
}
console.log(`trim-onnxruntime: ${found} cop${found === 1 ? 'y' : 'ies'} of onnxruntime-node, kept ${keep}, freed ${(freed / 1048576).toFixed(0)} MB`);
