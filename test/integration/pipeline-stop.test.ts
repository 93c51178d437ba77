import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../support/wait.ts';

const fixture = fileURLToPath(new URL('./fixtures/stop-leaves-nothing.ts', import.meta.url));

test('after stop() nothing keeps the process alive: no handle, timer or worker is left', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-stop-'));
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, dir, String(await freePort())], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // the fixture runs ~1 s and stops; a leaked handle would keep it alive past this deadline
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const code = await exited;
    clearTimeout(timer);
    assert.equal(code, 0, `child did not exit by itself (code ${code}); stderr: ${err}; stdout: ${out}`);
    const report = JSON.parse(out.trim().split('\n').pop()!) as { left: string[] };
    assert.deepEqual(report.left, [], 'resources still active after stop()');
    const lines = readFileSync(join(dir, 'out.jsonl'), 'utf8').trim().split('\n');
    assert.ok(lines.length >= 5, `samples reached the file sink (${lines.length})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
