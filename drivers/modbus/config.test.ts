// Every file in testcases/ is a source entry: valid-* must parse, invalid-* must fail with the
// message in its "# expect:" line (path: message prefix). sample.yaml must parse as written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { parse } from 'yaml';
import { modbusSourceSchema } from './config.ts';
import { modbusSimulatorSchema } from './sim/config.ts';
import { planSource } from './plan.ts';
import { checkTestcases } from '../../test/support/testcases.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const dir = join(here, 'testcases');

test('testcases: valid files parse, invalid files fail with the expected message', () => {
  checkTestcases(dir, modbusSourceSchema, { minFiles: 5, onValid: (c) => assert.ok(planSource(c).length > 0) });
});

test('sample.yaml: the simulator and the source entries are valid and agree', () => {
  const doc = parse(readFileSync(join(here, 'sample.yaml'), 'utf8')) as { simulators: unknown[]; sources: unknown[] };
  const sim = modbusSimulatorSchema.parse(doc.simulators[0]);
  const src = modbusSourceSchema.parse(doc.sources[0]);
  assert.equal(src.connection.transport, 'tcp');
  assert.equal(src.connection.transport === 'tcp' && src.connection.port, sim.port);
  const groups = planSource(src);
  assert.deepEqual(groups.map((g) => g.interval), [1000, 60_000]);
});
