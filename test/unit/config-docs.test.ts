import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { renderConfigDocs, renderJsonSchema } from '../../src/config/docs.ts';

test('docs/config.md is generated from the current schema (run npm run docs:config when this fails)', () => {
  const current = readFileSync(new URL('../../docs/config.md', import.meta.url), 'utf8');
  assert.equal(current, renderConfigDocs());
});

test('docs/fieldgate.schema.json is generated from the current schema (run npm run docs:config when this fails)', () => {
  const current = readFileSync(new URL('../../docs/fieldgate.schema.json', import.meta.url), 'utf8');
  assert.equal(current, renderJsonSchema());
});
