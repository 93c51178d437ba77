// The config layer loads no component code: `fieldgate validate` checks a config with two
// drivers, a model and two sinks without loading modbus-serial, node-opcua, an MQTT, NATS or
// SQLite client; `--version` loads not even the config loader. `run` loads only the packages
// of the components its config uses: each costs RSS for as long as the gateway runs.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
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

/** A loopback port nothing listens on (bound once, then released). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Runs `fieldgate run` from the sources until it has started, stops it with SIGTERM, returns the URLs of the modules its main thread loaded. */
async function loadedByRun(config: string): Promise<string[]> {
  const cfg = join(dir, 'run.yaml');
  writeFileSync(cfg, config);
  const out = join(dir, 'run.json');
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', join(import.meta.dirname, 'fixtures/loaded-modules.mjs'), 'src/cli.ts', 'run', '-c', cfg], {
    cwd: root,
    env: { ...process.env, FG_LOADED_MODULES: out },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  // started: the lifecycle logs where to look once every stage runs
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => { text += d.toString(); if (text.includes('where to look')) resolve(); };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => reject(new Error(`fieldgate run exited (${code}) before it started:\n${text}`)));
  });
  child.kill('SIGTERM');
  assert.equal(await exited, 0, text);
  return JSON.parse(readFileSync(out, 'utf8')) as string[];
}

test('run with a Modbus TCP source and a JSON MQTT sink loads neither OPC UA, NATS, ONNX, aedes, modbus-serial nor Sparkplug', async () => {
  const [device, broker] = [await closedPort(), await closedPort()];
  const urls = await loadedByRun([
    'gateway: { id: startup-modules, dataDir: data }',
    'sources:',
    '  - type: modbus',
    '    id: plc',
    `    connection: { transport: tcp, host: 127.0.0.1, port: ${device} }`,
    '    interval: 1s',
    '    devices: [{ name: d, unit: 1, tags: [{ name: t, address: "40001", type: float32 }] }]',
    'sinks:',
    `  - { id: up, type: mqtt, url: "mqtt://127.0.0.1:${broker}", payload: json }`,
    'health: { port: 0 }',
    'log: { level: info, format: json }',
  ].join('\n'));
  // the hook sees what the configured components load
  for (const pkg of ['mqtt/', 'better-sqlite3/']) assert.ok(of(urls, pkg).length > 0, `run did not load ${pkg} (does the hook see packages?)`);
  for (const pkg of ['node-opcua', '@nats-io', 'onnxruntime-node', 'onnxruntime-common', 'aedes', 'modbus-serial', 'serialport', '@serialport', 'sparkplug-payload', 'protobufjs', 'pino-pretty']) {
    assert.deepEqual(of(urls, pkg), [], `run loaded ${pkg}, which this config does not use`);
  }
});

test('the driver and sink registries load no protocol or client package', () => {
  const out = join(dir, 'registries.json');
  execFileSync(process.execPath, ['--import', 'tsx', '--import', join(import.meta.dirname, 'fixtures/loaded-modules.mjs'), '--input-type=module', '-e',
    "await import('./drivers/index.ts'); await import('./src/sinks/registry.ts');"], {
    cwd: root, env: { ...process.env, FG_LOADED_MODULES: out }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const urls = JSON.parse(readFileSync(out, 'utf8')) as string[];
  assert.ok(urls.some((u) => u.endsWith('/src/sinks/mqtt/mqtt.ts')), 'the hook saw the registries load');
  for (const pkg of [...RUNTIME_PACKAGES, 'onnxruntime-node', 'serialport', 'sparkplug-payload']) assert.deepEqual(of(urls, pkg), [], `the registries loaded ${pkg}`);
});
