// Every sink is one folder of one shape, like the drivers: README.md with a config example,
// sample.yaml (a whole configuration the loader accepts), config.ts, index.ts (its defineSink),
// its code and tests, and testcases/ (valid-* entries parse, invalid-* fail with the message in
// their "# expect:" line, as "path: message" prefix). The registry and the `sinks:` schema agree.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { loadConfigFile } from '../config/load.ts';
import { sinkSchema } from './config.ts';
import { sinks } from './registry.ts';
import { checkTestcases } from '../../test/support/testcases.ts';

const here = import.meta.dirname;

test('src/sinks/registry.ts lists the sinks of the `sinks:` schema, in order, with the same schemas', () => {
  assert.deepEqual(sinks.map((s) => s.schema), sinkSchema.options);
  assert.deepEqual(readdirSync(here, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort(), sinks.map((s) => s.type).sort(),
    'one folder per registered sink, named by its type');
});

for (const sink of sinks) {
  const dir = join(here, sink.type);
  describe(`src/sinks/${sink.type}/`, () => {
    test('README.md has a config example of this sink', (t) => {
      const file = join(dir, 'README.md');
      if (!existsSync(file) && sink.type === 'mqtt') {
        // written by the `wire` branch of this session; this branch must not create it
        t.skip('src/sinks/mqtt/README.md arrives with the wire branch');
        return;
      }
      const text = readFileSync(file, 'utf8');
      const yaml = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
      assert.ok(yaml.some((y) => new RegExp(`type: ${sink.type}\\b`).test(y)), 'a ```yaml block with an entry of this type');
    });

    test('sample.yaml is a configuration the loader accepts, with sinks of this type', () => {
      const loaded = loadConfigFile(join(dir, 'sample.yaml'));
      assert.ok(loaded.config.sinks.length > 0);
      for (const s of loaded.config.sinks) assert.equal(s.type, sink.type);
      // every entry parses with the sink's own schema too (what the sink receives)
      for (const s of (parse(readFileSync(join(dir, 'sample.yaml'), 'utf8')) as { sinks: unknown[] }).sinks) sink.schema.parse(s);
    });

    test('testcases: valid-* parse, invalid-* fail with their expected message', () => {
      checkTestcases(join(dir, 'testcases'), sink.schema);
    });
  });
}
