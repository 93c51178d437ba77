import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fieldgate as run, startFieldgate } from '../support/cli.ts';

const fieldgate = (args: string[], env: NodeJS.ProcessEnv = {}) => run(args, { env, timeout: 60_000 });

test('--version prints the package version', () => {
  const r = fieldgate(['--version']);
  assert.equal(r.code, 0);
  assert.match(r.stdout.trim(), /^\d+\.\d+\.\d+$/);
});

test('--help lists the commands', () => {
  const r = fieldgate(['--help']);
  assert.equal(r.code, 0);
  for (const c of ['run', 'validate', 'schema', 'simulate', 'browse', 'model inspect', 'reload']) assert.ok(r.stdout.includes(c), c);
});

test('an unknown flag: one line on stderr, exit 2', () => {
  const r = fieldgate(['run', '--confg', 'x.yaml']);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /--confg/);
});

test('an unknown command: one line on stderr, exit 2', () => {
  const r = fieldgate(['rnu']);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test('a missing config file: one line on stderr, exit 2', () => {
  const r = fieldgate(['validate', '-c', 'no/such/file.yaml']);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim(), 'fieldgate: cannot read config file no/such/file.yaml: no such file');
});

test('an invalid config: every located error, exit 1, no stack trace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-cli-'));
  try {
    const file = join(dir, 'plant.yaml');
    writeFileSync(file, 'gateway:\n  id: gw\n  dataDri: x\nlog:\n  level: loud\n');
    const r = fieldgate(['validate', '-c', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^FG_E_CONFIG_INVALID: 2 problems/);
    assert.match(r.stderr, /plant\.yaml:3:3 gateway\.dataDri: unknown key "dataDri"; did you mean "dataDir"\?/);
    assert.match(r.stderr, /plant\.yaml:5:10 log\.level: expected one of trace/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a valid config validates; secrets from the environment are substituted', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-cli-'));
  try {
    const file = join(dir, 'ok.yaml');
    writeFileSync(file, 'gateway:\n  id: ${env:FG_TEST_GW}\n');
    const r = fieldgate(['validate', '-c', file], { FG_TEST_GW: 'line-7' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ok \(0 sources, 0 models, 0 sinks\)/);
    const missing = fieldgate(['validate', '-c', file], { FG_TEST_GW: undefined });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /FG_E_CONFIG_ENV_MISSING.*\n.*ok\.yaml:2:7 gateway\.id: environment variable FG_TEST_GW is not set/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('schema prints a JSON Schema that rejects unknown keys', () => {
  const r = fieldgate(['schema']);
  assert.equal(r.code, 0);
  const schema = JSON.parse(r.stdout) as { type: string; additionalProperties: boolean; properties: Record<string, unknown> };
  assert.equal(schema.type, 'object');
  assert.equal(schema.additionalProperties, false);
  for (const k of ['gateway', 'sources', 'models', 'outbox', 'sinks', 'health', 'log']) assert.ok(k in schema.properties, k);
});

test('simulate runs only the simulators (no data directory) until SIGINT, then exits 0', async () => {
  const { connect } = await import('node:net');
  const { existsSync } = await import('node:fs');
  const dir = mkdtempSync(join(tmpdir(), 'fg-cli-'));
  try {
    const file = join(dir, 'sim.yaml');
    writeFileSync(file, [
      'gateway: { dataDir: ./data }',
      'simulators:',
      '  - { type: modbus, id: s1, port: 0, devices: [ { unit: 1, registers: [ { address: "40001", value: 7 } ] } ] }',
      'log: { format: json }',
    ].join('\n'));
    const listening = /"address":"modbus-tcp:\/\/127\.0\.0\.1:(\d+)"/;
    const sim = await startFieldgate(['simulate', '-c', file], 'the listening line', (out) => listening.test(out), 30_000);
    const port = Number(listening.exec(sim.output())![1]);
    await new Promise<void>((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(); });
      s.on('error', reject);
    });
    assert.equal(await sim.stop('SIGINT'), 0);
    assert.equal(existsSync(join(dir, 'data')), false, 'simulate creates no data directory');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
