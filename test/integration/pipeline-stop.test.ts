import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runLineChild } from '../support/line-child.ts';
import { freePort } from '../support/wait.ts';

const fixture = fileURLToPath(new URL('./fixtures/stop-leaves-nothing.ts', import.meta.url));

test('after stop() nothing keeps the process alive: no handle, timer or worker is left', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-stop-'));
  try {
    const printed: string[] = [];
    const { child, exited } = runLineChild(fixture, [dir, String(await freePort())], (l) => printed.push(l));
    // the fixture runs ~1 s and stops; a leaked handle would keep it alive past this deadline
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const { code, err } = await exited;
    clearTimeout(timer);
    assert.equal(code, 0, `child did not exit by itself (code ${code}); stderr: ${err}; stdout: ${printed.join('\n')}`);
    const report = JSON.parse(printed[printed.length - 1]!) as { left: string[] };
    assert.deepEqual(report.left, [], 'resources still active after stop()');
    const lines = readFileSync(join(dir, 'out.jsonl'), 'utf8').trim().split('\n');
    assert.ok(lines.length >= 5, `samples reached the file sink (${lines.length})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
