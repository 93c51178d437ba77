import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commands } from '../../src/cli/commands.ts';
import { RELOAD_RESULT_FILE } from '../../src/cli/reload-result.ts';
import { pidFilePath, resolveConfigPath } from '../../src/config/paths.ts';

test('resolveConfigPath keeps absolute paths and resolves relative ones against the config folder', () => {
  assert.equal(resolveConfigPath('/etc/fieldgate', '/var/lib/fieldgate'), '/var/lib/fieldgate');
  assert.equal(resolveConfigPath('/etc/fieldgate', './data'), '/etc/fieldgate/data');
  assert.equal(resolveConfigPath('/etc/fieldgate', '../x/y'), '/etc/x/y');
  assert.equal(resolveConfigPath('/etc/fieldgate', 'models/m.onnx'), '/etc/fieldgate/models/m.onnx');
  assert.equal(pidFilePath('/var/lib/fieldgate'), '/var/lib/fieldgate/fieldgate.pid');
});

// `fieldgate reload -c FILE` with an absolute dataDir used to look for the pid file under
// <config folder>/<absolute dataDir>; a real process that waits for SIGHUP shows it is found
for (const kind of ['absolute', 'relative'] as const) {
  test(`fieldgate reload -c finds the pid file under a ${kind} dataDir and signals that process`, async (t) => {
    const root = mkdtempSync(join(tmpdir(), 'fg-paths-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    const confDir = join(root, 'etc');
    const dataDir = join(root, 'var-lib');
    mkdirSync(confDir);
    mkdirSync(dataDir);
    const file = join(confDir, 'fieldgate.yaml');
    writeFileSync(file, `gateway:\n  id: gw\n  dataDir: ${kind === 'absolute' ? dataDir : '../var-lib'}\n`);
    // it answers SIGHUP the way fieldgate does: a reload result in its data directory, which
    // `fieldgate reload -c` waits for and prints
    const script = [
      "const { writeFileSync } = require('node:fs');",
      "process.on('SIGHUP', () => {",
      "  const t = Date.now();",
      "  const result = { ok: true, changes: [], errors: [], restarted: [], applied: [], atRestart: [] };",
      "  writeFileSync(process.env.FG_RELOAD_FILE, JSON.stringify({ pid: process.pid, why: 'SIGHUP', startedAt: t, finishedAt: t, result }));",
      "  process.stdout.write('hup\\n'); process.exit(0);",
      "});",
      "process.stdout.write('ready\\n'); setInterval(() => {}, 1000);",
    ].join('\n');
    const env = { ...process.env, FG_RELOAD_FILE: join(dataDir, RELOAD_RESULT_FILE) };
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'], env });
    t.after(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    while (!out.includes('ready')) await once(child.stdout, 'data');
    writeFileSync(join(dataDir, 'fieldgate.pid'), `${child.pid}\n`);
    // listened for before the signal: the child may exit while reload still waits for its result
    const exited = once(child, 'exit');
    const written: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((s: string) => { written.push(s); return true; }) as typeof process.stdout.write;
    try {
      assert.equal(await commands.reload!({ config: file, debug: false, args: [] }), 0);
    } finally {
      process.stdout.write = write;
    }
    const [code] = await exited;
    assert.equal(code, 0);
    assert.match(out, /hup/);
    // the answer came from the process the pid file named
    assert.match(written.join(''), new RegExp(`^reload applied \\(pid ${child.pid}, `));
  });
}
