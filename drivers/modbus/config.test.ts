// Every file in testcases/ is a source entry: valid-* must parse, invalid-* must fail with the
// message in its "# expect:" line (path: message prefix). sample.yaml must parse as written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { parse } from 'yaml';
import { modbusSourceSchema } from './config.ts';
import { modbusSimulatorSchema } from './sim/config.ts';
import { planSource } from './plan.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const dir = join(here, 'testcases');

test('testcases: valid files parse, invalid files fail with the expected message', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 5);
  for (const f of files) {
    const text = readFileSync(join(dir, f), 'utf8');
    const r = modbusSourceSchema.safeParse(parse(text));
    if (f.startsWith('valid-')) {
      assert.ok(r.success, `${f}: ${r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      assert.ok(planSource(r.data).length > 0);
    } else {
      const expect = /^# expect: (.*)$/m.exec(text)?.[1];
      assert.ok(expect, `${f} has no # expect: line`);
      assert.equal(r.success, false, `${f} parsed but should not`);
      const got = r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
      assert.ok(got.some((m) => m.startsWith(expect)), `${f}: expected "${expect}", got ${JSON.stringify(got)}`);
    }
  }
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
