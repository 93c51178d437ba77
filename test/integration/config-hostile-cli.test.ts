// Every hostile config of issue 18 through the real CLI: `fieldgate validate -c FILE` in its own
// process answers with one coded message whose first error is located as the case says (or
// validates the large valid file), exit 1 (0). How long each takes: npm run bench:config.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CONFIG_LIMITS } from '../../src/config/load.ts';
import { fieldgate } from '../support/cli.ts';
import { hostileCases } from '../support/hostile-configs.ts';

const dir = mkdtempSync(join(tmpdir(), 'fg-hostile-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

for (const c of hostileCases) {
  test(`fieldgate validate, ${c.name}: ${c.code === 'ok' ? 'ok' : `${c.code} at ${c.first}`}`, () => {
    const file = join(dir, `${c.name.replace(/\W+/g, '-')}.yaml`);
    writeFileSync(file, c.text());
    const r = fieldgate(['validate', '-c', file]);
    if (c.code === 'ok') {
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /: ok \(1 source, 0 models, 0 sinks\)\n$/);
      return;
    }
    assert.equal(r.code, 1, r.stdout + r.stderr.slice(0, 2000));
    const lines = r.stderr.trimEnd().split('\n');
    // one message: a coded head line, the located errors shown, and the count of the rest
    assert.equal(lines[0], `${c.code}: ${c.total} problem${c.total === 1 ? '' : 's'} in the configuration`);
    const shown = Math.min(c.total!, CONFIG_LIMITS.maxErrors);
    assert.equal(lines.length, 1 + shown + (c.total! > shown ? 1 : 0), lines.slice(0, 3).join('\n'));
    const name = file.split('/').pop()!;
    assert.ok(lines[1]!.startsWith(`${name}:${c.first}: `), `first error located at ${c.first}: ${lines[1]!.slice(0, 200)}`);
    for (const l of lines.slice(1, 1 + shown)) assert.match(l, new RegExp(`^${name.replace(/\./g, '\\.')}:\\d+:\\d+ \\S+: .{1,300}$`));
    assert.ok(!r.stderr.includes('FG_E_UNEXPECTED') && !r.stderr.includes('    at '), 'no unexpected error, no stack trace');
  });
}
