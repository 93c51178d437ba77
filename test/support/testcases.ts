import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

/** What a plugin's schema answers (the part of zod's safeParse result the check reads). */
interface SafeParse<T> { success: boolean; data?: T; error?: { issues: { path: PropertyKey[]; message: string }[] } }

/**
 * A plugin folder's `testcases/` (drivers and sinks alike): every `valid-*.yaml` must parse with
 * the plugin's schema (then `onValid` checks more), every `invalid-*.yaml` must fail with the
 * message in its `# expect: path: message` line (a prefix of one of the issues).
 */
export function checkTestcases<T>(dir: string, schema: { safeParse(v: unknown): SafeParse<T> }, opts: { minFiles?: number; onValid?: (data: T, file: string) => void } = {}): void {
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.some((f) => f.startsWith('valid-')) && files.some((f) => f.startsWith('invalid-')), `${dir}: at least one valid-* and one invalid-* case`);
  if (opts.minFiles !== undefined) assert.ok(files.length >= opts.minFiles, `${dir}: at least ${opts.minFiles} cases`);
  const issues = (r: SafeParse<T>): string[] => (r.error?.issues ?? []).map((i) => `${i.path.map(String).join('.')}: ${i.message}`);
  for (const f of files) {
    const text = readFileSync(join(dir, f), 'utf8');
    const r = schema.safeParse(parse(text));
    if (f.startsWith('valid-')) {
      assert.ok(r.success, `${f}: ${issues(r).join('; ')}`);
      opts.onValid?.(r.data as T, f);
    } else {
      assert.ok(f.startsWith('invalid-'), `${f}: name it valid-* or invalid-*`);
      const expect = /^# expect: (.*)$/m.exec(text)?.[1];
      assert.ok(expect, `${f} has no # expect: line`);
      assert.equal(r.success, false, `${f} parsed but should not`);
      const got = issues(r);
      assert.ok(got.some((m) => m.startsWith(expect)), `${f}: expected "${expect}", got ${JSON.stringify(got)}`);
    }
  }
}
