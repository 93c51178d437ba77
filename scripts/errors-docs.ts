/**
 * Writes docs/errors.md from the error catalogue (src/core/errors.ts).
 *   npm run docs:errors                                  writes it
 *   node --import tsx scripts/errors-docs.ts --check     exits 1 when it is stale
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderErrorDocs } from '../src/core/error-docs.ts';

const OUT = fileURLToPath(new URL('../docs/errors.md', import.meta.url));
const text = renderErrorDocs();
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(OUT, 'utf8');
  } catch {
    // missing counts as stale
  }
  if (current !== text) {
    console.error(`${OUT} is stale: run npm run docs:errors`);
    process.exitCode = 1;
  }
} else {
  writeFileSync(OUT, text);
  console.log(`wrote ${OUT}`);
}
