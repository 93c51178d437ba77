import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commands } from '../../src/cli/commands.ts';
import { pidFilePath, resolveConfigPath } from '../../src/core/config-paths.ts';

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
    // stands in for a running fieldgate: on SIGHUP it writes a reload result where `reload -c` waits for it
    const fake = `
      const { writeFileSync } = require('node:fs');
      process.on('SIGHUP', () => {
        const now = Date.now();
        const result = { ok: true, changes: [], errors: [], restarted: [], applied: [], atRestart: [] };
        writeFileSync(process.env.FG_DATA + '/fieldgate.reload.json', JSON.stringify({ pid: process.pid, why: 'SIGHUP', startedAt: now, finishedAt: now, result }));
        process.stdout.write('hup\\n');
        process.exit(0);
      });
      process.stdout.write('ready\\n');
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['-e', fake], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, FG_DATA: dataDir } });
    t.after(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    while (!out.includes('ready')) await once(child.stdout, 'data');
    writeFileSync(join(dataDir, 'fieldgate.pid'), `${child.pid}\n`);
    const exited = once(child, 'exit'); // it exits as soon as it has answered: listen before the signal
    const written: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((s: string) => { written.push(s); return true; }) as typeof process.stdout.write;
    try {
      assert.equal(await commands.reload!({ config: file, debug: false, args: [] }), 0);
    } finally {
      process.stdout.write = write;
    }
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0);
    assert.match(out, /hup/);
    assert.match(written.join(''), new RegExp(`reload applied \\(pid ${child.pid}`));
  });
}
