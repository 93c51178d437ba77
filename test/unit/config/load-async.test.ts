import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfigFile } from '../../../src/config/load.ts';
import { loadConfigFileAsync } from '../../../src/config/load-async.ts';
import { redactSecrets } from '../../../src/log.ts';
import { FgError } from '../../../src/core/errors.ts';

// loadConfigFileAsync validates in a real worker thread: same result, same errors, and the
// substituted secrets reach this thread's redaction
test('the worker-thread loader returns what loadConfigFile returns, and registers secrets here', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-load-async-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'token'), 'worker-thread-secret-value\n');
  const file = join(dir, 'ok.yaml');
  writeFileSync(file, 'gateway: { id: gw }\nsinks:\n  - { id: h, type: http, url: "http://127.0.0.1:1/x", headers: { authorization: "${file:token}" } }\n');
  assert.equal(redactSecrets('x worker-thread-secret-value y'), 'x worker-thread-secret-value y');
  const viaWorker = await loadConfigFileAsync(file);
  // registered before this thread ever read the file itself
  assert.equal(redactSecrets('x worker-thread-secret-value y'), 'x [REDACTED] y');
  assert.deepEqual(viaWorker, loadConfigFile(file));
});

test('the worker-thread loader rethrows a ConfigError with its code, located errors and total', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-load-async-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, Array.from({ length: 60 }, (_, i) => `k${i}: 1`).join('\n'));
  const err = await loadConfigFileAsync(file).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof ConfigError);
  assert.equal(err.code, 'FG_E_CONFIG_INVALID');
  assert.equal(err.errors.length, 50);
  assert.equal(err.total, 60);
  assert.deepEqual([err.errors[0]!.file, err.errors[0]!.line, err.errors[0]!.path], ['bad.yaml', 1, 'k0']);
  const missing = await loadConfigFileAsync(join(dir, 'nope.yaml')).then(() => undefined, (e: unknown) => e);
  assert.ok(missing instanceof FgError && missing.code === 'FG_E_CONFIG_FILE');
});
