// drivers/index.ts (the drivers with their code) and drivers/schemas.ts (what the config layer
// loads) list the same drivers, in the same order, with the same schemas.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drivers } from './index.ts';
import { driverSchemas } from './schemas.ts';

test('the runtime list and the schema list agree', () => {
  assert.deepEqual(drivers.map((d) => d.type), driverSchemas.map((d) => d.type));
  drivers.forEach((d, i) => {
    const s = driverSchemas[i]!;
    assert.equal(d.schema, s.schema, `${d.type}: schema`);
    assert.equal(d.simulator?.schema, s.simulator?.schema, `${d.type}: simulator schema`);
    assert.equal(d.tagNames, s.tagNames, `${d.type}: tagNames`);
    assert.deepEqual(d.channelDefaults, s.channelDefaults, `${d.type}: channelDefaults`);
    assert.equal(d.description, s.description, `${d.type}: description`);
  });
});
