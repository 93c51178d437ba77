import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { ConfigError, parseConfigText } from '../../../src/config/load.ts';
import { formatLocated } from '../../../src/config/located.ts';

/**
 * Every broken file under cases/ lists, in `# expect:` lines, each error it must produce:
 * line, column, YAML path and message, exactly, and no other error.
 */
const dir = fileURLToPath(new URL('./cases/', import.meta.url));
const env = { FG_TEST_PRESENT: 'present-value' };

for (const name of readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()) {
  test(`config corpus: ${name}`, () => {
    const text = readFileSync(join(dir, name), 'utf8');
    const expected = [...text.matchAll(/^# expect: (.*)$/gm)].map((m) => `${name}:${m[1]}`);
    assert.ok(expected.length > 0, 'case lists its expected errors');
    let err: unknown;
    try {
      parseConfigText(text, name, dir, { env });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ConfigError, `expected the config to be refused, got ${String(err)}`);
    assert.deepEqual(err.errors.map(formatLocated), expected);
  });
}
