import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FgError } from './errors.ts';
import { loadOnUse } from './load-on-use.ts';

test('a package that cannot load is FG_E_PLUGIN_LOAD, naming the component and the package', async () => {
  const e = await loadOnUse('sink up', 'fieldgate-no-such-package', () => import('fieldgate-no-such-package' as string)).then(
    () => assert.fail('a missing package loaded'),
    (err: unknown) => err,
  );
  assert.ok(e instanceof FgError);
  assert.equal(e.code, 'FG_E_PLUGIN_LOAD');
  assert.match(e.message, /^sink up: cannot load fieldgate-no-such-package: .*fieldgate-no-such-package/);
  assert.deepEqual(e.details, { package: 'fieldgate-no-such-package' });
});

test('a package that loads is returned as imported', async () => {
  const m = await loadOnUse('test', 'node:path', () => import('node:path'));
  assert.equal(typeof m.join, 'function');
});
