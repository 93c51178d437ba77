import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { renderConfigDocs } from '../../scripts/config-docs.ts';

test('docs/config.md is generated from the current schema (run npm run docs:config when this fails)', () => {
  const current = readFileSync(new URL('../../docs/config.md', import.meta.url), 'utf8');
  assert.equal(current, renderConfigDocs());
});
