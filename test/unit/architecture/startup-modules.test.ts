// The config layer loads no component code: `fieldgate validate` checks a config with two
// drivers, a model and two sinks without loading modbus-serial, node-opcua, an MQTT, NATS or
// SQLite client; `--version` loads not even the config loader.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';

const root = resolve(import.meta.dirname, '../../..');
const dir = mkdtempSync(join(tmpdir(), 'fg-startup-modules-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI from the sources and returns the URLs of the modules it loaded. */
function loaded(args: string[]): string[] {
  const out = join(dir, `${args[0]!.replace(/\W/g, '')}.json`);
  execFileSync(process.execPath, ['--import', 'tsx', '--import', join(import.meta.dirname, 'fixtures/loaded-modules.mjs'), 'src/cli.ts', ...args], {
    cwd: root,
    env: { ...process.env, FG_LOADED_MODULES: out },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(readFileSync(out, 'utf8')) as string[];
}

const RUNTIME_PACKAGES = ['modbus-serial', 'node-opcua', 'mqtt', '@nats-io', 'better-sqlite3', 'aedes'];
const of = (urls: string[], pkg: string) => urls.filter((u) => u.includes(`/node_modules/${pkg}`));

test('validate loads the schemas, not the drivers, sinks or outbox', () => {
  const urls = loaded(['validate', '-c', 'deploy/examples/demo.yaml']);
  assert.ok(of(urls, 'zod/').length > 0, 'the hook saw the schema library load (it sees packages)');
  for (const pkg of RUNTIME_PACKAGES) assert.deepEqual(of(urls, pkg), [], `validate loaded ${pkg}`);
  const driverCode = urls.filter((u) => /\/drivers\/(modbus|opcua)\/(source|link|tcp-port|rtu-port|connect|index)\.ts$/.test(u));
  assert.deepEqual(driverCode, [], 'validate loaded driver code');
});

test('--version loads neither the config loader nor zod nor yaml', () => {
  const urls = loaded(['--version']);
  assert.deepEqual([...of(urls, 'zod/'), ...of(urls, 'yaml/'), ...urls.filter((u) => u.includes('/src/config/'))], []);
});
