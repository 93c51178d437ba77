/**
 * Writes docs/config.md and docs/fieldgate.schema.json from the config schema.
 *   npm run docs:config                                  writes both
 *   node --import tsx scripts/config-docs.ts --check     exits 1 when either is stale
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderConfigDocs, renderJsonSchema } from '../src/config/docs.ts';

const OUT = fileURLToPath(new URL('../docs/config.md', import.meta.url));
const SCHEMA_OUT = fileURLToPath(new URL('../docs/fieldgate.schema.json', import.meta.url));

{
  const outputs: [string, string][] = [[OUT, renderConfigDocs()], [SCHEMA_OUT, renderJsonSchema()]];
  for (const [file, text] of outputs) {
    if (process.argv.includes('--check')) {
      let current = '';
      try {
        current = readFileSync(file, 'utf8');
      } catch {
        // missing counts as stale
      }
      if (current !== text) {
        console.error(`${file} is stale: run npm run docs:config`);
        process.exitCode = 1;
      }
    } else {
      writeFileSync(file, text);
      console.log(`wrote ${file}`);
    }
  }
}
