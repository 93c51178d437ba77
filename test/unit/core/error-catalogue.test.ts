import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderErrorDocs } from '../../../src/core/error-docs.ts';
import { ERROR_CODES } from '../../../src/core/errors.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const CATALOGUE = join(root, 'src/core/errors.ts');

/** Every FG_E_ code written in the runtime code (src/ and drivers/, tests excluded), with where. */
function emittedCodes(): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules') walk(p);
      } else if (/\.(ts|mjs|js)$/.test(e.name) && !e.name.endsWith('.test.ts') && p !== CATALOGUE) {
        for (const m of readFileSync(p, 'utf8').matchAll(/FG_E_[A-Z0-9_]*[A-Z0-9]/g)) if (!found.has(m[0])) found.set(m[0], p.slice(root.length));
      }
    }
  };
  walk(join(root, 'src'));
  walk(join(root, 'drivers'));
  return found;
}

test('every FG_E_ code used in src/ and drivers/ is in the catalogue', () => {
  const missing = [...emittedCodes()].filter(([code]) => !(code in ERROR_CODES)).map(([code, file]) => `${code} (${file})`);
  assert.deepEqual(missing, [], 'add these to ERROR_CODES in src/core/errors.ts');
});

test('every catalogue code is used somewhere (no dead codes)', () => {
  const used = emittedCodes();
  assert.deepEqual(Object.keys(ERROR_CODES).filter((c) => !used.has(c)), []);
});

test('every catalogue code says what it means and what to do', () => {
  const undocumented = Object.entries(ERROR_CODES as Record<string, unknown>)
    .filter(([, e]) => typeof e !== 'object' || e === null || !('means' in e) || !('action' in e) || !(e as { means: string }).means || !(e as { action: string }).action)
    .map(([code]) => code);
  assert.deepEqual(undocumented, [], 'give these { area, means, action } in src/core/errors.ts');
});

test('docs/errors.md is generated from the catalogue (run npm run docs:errors when this fails)', () => {
  const current = readFileSync(join(root, 'docs/errors.md'), 'utf8');
  assert.equal(current, renderErrorDocs());
  for (const code of Object.keys(ERROR_CODES)) assert.ok(current.includes(`### ${code}\n`), code);
});
