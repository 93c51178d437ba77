// `fieldgate read --once` against both simulators (run by `fieldgate simulate` in a child process)
// and against a device that is not there.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type CliChild, fieldgate, root, startFieldgate } from '../support/cli.ts';
import { freePort } from '../support/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'fg-read-'));
let sim: CliChild | undefined;
let modbusPort = 0;
let opcuaPort = 0;

before(async () => {
  cpSync(join(root, 'deploy/examples/nab'), join(dir, 'nab'), { recursive: true });
  [modbusPort, opcuaPort] = [await freePort(), await freePort()];
  writeFileSync(join(dir, 'sim.yaml'), `
gateway: { dataDir: ./data }
simulators:
  - type: modbus
    id: press-sim
    port: ${modbusPort}
    devices:
      - unit: 1
        registers:
          - { address: "40001", type: float32, value: { kind: sine, amplitude: 5, offset: 80, period: 10s } }
          - { address: "40003", type: int16, scale: 0.1, value: { kind: sine, amplitude: 20, offset: 50, period: 30s } }
          - { address: "40010", bit: 0, value: true }
  - type: opcua
    id: line-sim
    port: ${opcuaPort}
    variables:
      - { path: Line1/Pressure, dataType: Float, generator: { kind: sine, amplitude: 2, offset: 6, period: 20s } }
      - { path: Line1/Running, dataType: Boolean, generator: { kind: constant, value: 1 } }
`);
  sim = await startFieldgate(['simulate', '-c', join(dir, 'sim.yaml')], 'both simulators listening', (out) => (out.match(/simulator listening/g) ?? []).length >= 2);
});

after(async () => {
  await sim?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('read --once: every tag of both simulators, good, exit 0', () => {
  writeFileSync(join(dir, 'read.yaml'), `
gateway: { dataDir: ./data }
sources:
  - type: modbus
    id: press
    connection: { transport: tcp, host: 127.0.0.1, port: ${modbusPort} }
    interval: 200ms
    devices:
      - name: press1
        tags:
          - { name: temperature, address: "40001", type: float32, engUnit: "°C" }
          - { name: oil_pressure, address: "40003", type: int16, scale: 0.1, engUnit: bar }
          - { name: running, address: "40010", bit: 0 }
  - type: opcua
    id: line1
    endpoint: opc.tcp://127.0.0.1:${opcuaPort}
    securityMode: None
    securityPolicy: None
    tags:
      - { name: pressure, nodeId: "ns=1;s=Line1.Pressure", engUnit: bar }
      - { name: running, nodeId: "ns=1;s=Line1.Running" }
`);
  const r = fieldgate(['read', '--once', '-c', join(dir, 'read.yaml')]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const lines = r.stdout.split('\n');
  assert.match(lines[0]!, /^TAG\s+VALUE\s+QUALITY\s+TIMESTAMP\s+REASON$/);
  for (const tag of ['press/press1.temperature', 'press/press1.oil_pressure', 'press/press1.running', 'line1/pressure', 'line1/running']) {
    const l = lines.find((x) => x.startsWith(`${tag} `));
    assert.ok(l, `${tag} is listed:\n${r.stdout}`);
    assert.match(l!, /\sgood\s+\d{4}-\d\d-\d\dT/, l);
  }
  const temp = Number(/press1\.temperature\s+([\d.]+) °C/.exec(r.stdout)?.[1]);
  assert.ok(temp >= 75 && temp <= 85, `temperature ${temp} is the simulated 80 ± 5`);
  assert.match(r.stdout, /press\/press1\.running\s+true/);
  assert.match(r.stdout, /all 5 tags read good/);
  process.stdout.write(`# ${r.stdout.trim().split('\n').join('\n# ')}\n`);
});

test('read --once --source: one source only', () => {
  const r = fieldgate(['read', '--once', '--source', 'line1', '-c', join(dir, 'read.yaml')]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.doesNotMatch(r.stdout, /press\//);
  assert.match(r.stdout, /all 2 tags read good/);
});

test('read --once against a device that is not there: every tag listed not read with the reason, exit 1', async () => {
  const dead = await freePort();
  writeFileSync(join(dir, 'dead.yaml'), `
gateway: { dataDir: ./data }
sources:
  - type: modbus
    id: ghost
    connection: { transport: tcp, host: 127.0.0.1, port: ${dead}, connectTimeout: 500ms }
    timeout: 500ms
    devices:
      - tags:
          - { name: level, address: "40001" }
          - { name: flow, address: "40002" }
`);
  const started = Date.now();
  const r = fieldgate(['read', '--once', '-c', join(dir, 'dead.yaml')]);
  const ms = Date.now() - started;
  assert.equal(r.code, 1, r.stdout + r.stderr);
  for (const tag of ['ghost/level', 'ghost/flow']) {
    const l = r.stdout.split('\n').find((x) => x.startsWith(`${tag} `));
    assert.ok(l, `${tag} listed:\n${r.stdout}`);
    assert.match(l!, /(none|bad)\s+.*(refused|ECONNREFUSED|connect|not read)/i, l);
  }
  assert.match(r.stdout, /2 of 2 tags not good/);
  process.stdout.write(`# unreachable device answered in ${ms} ms (process start included):\n# ${r.stdout.trim().split('\n').join('\n# ')}\n`);
});

test('read: --once and --watch together, or an unknown source, is a usage error (exit 2)', () => {
  assert.equal(fieldgate(['read', '--once', '--watch', '-c', join(dir, 'read.yaml')]).code, 2);
  const r = fieldgate(['read', '--once', '--source', 'nope', '-c', join(dir, 'read.yaml')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no source "nope".*press, line1/);
  const t = fieldgate(['read', '--once', '--timeout', 'soon', '-c', join(dir, 'read.yaml')]);
  assert.equal(t.code, 2);
  assert.match(t.stderr, /--timeout: expected a duration/);
});

test('read --watch prints the table, then changes, until SIGINT; exit 0 when every tag is good', async () => {
  // the sine changes the temperature at every 200 ms poll
  const changes = (out: string): number => (out.split('watching for changes')[1] ?? '').split('\n').filter((l) => /press\/press1\.temperature = [\d.]+ °C {2}good/.test(l)).length;
  const watch = await startFieldgate(['read', '--watch', '--source', 'press', '-c', join(dir, 'read.yaml')], 'two change lines', (out) => changes(out) >= 2, 30_000);
  assert.equal(await watch.stop('SIGINT'), 0, watch.output());
  assert.match(watch.output(), /all 3 tags read good/);
});
