import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ID_MAX_LENGTH, ID_PATTERN, SOURCE_TAG_PATTERN, toId } from '../../../src/core/ids.ts';

test('ids: letters, digits, _ . - only', () => {
  for (const ok of ['gw1', 'plant.line-2_a', 'A']) assert.ok(ID_PATTERN.test(ok), ok);
  for (const bad of ['', 'gate way', 'a/b', 'a#', 'ü']) assert.ok(!ID_PATTERN.test(bad), bad);
  assert.ok(SOURCE_TAG_PATTERN.test('plant/temperature'));
  assert.ok(!SOURCE_TAG_PATTERN.test('plant temperature'));
});

test('toId turns any host name into a valid id of bounded length', () => {
  fc.assert(fc.property(fc.string({ maxLength: 300 }), (name) => {
    const id = toId(name);
    return ID_PATTERN.test(id) && id.length <= ID_MAX_LENGTH;
  }));
  assert.equal(toId('my host.local'), 'my-host.local');
});
