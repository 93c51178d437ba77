import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fieldgate } from '../support/cli.ts';

/** A newcomer's mistakes get answers, not stack traces. */
const run = (file: string) => fieldgate(['run', '-c', file], { timeout: 60_000 });

test('a port already in use: which port, which stage, what to change; exit 1, no stack trace', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-port-'));
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  const port = (taken.address() as { port: number }).port;
  try {
    const file = join(dir, 'plant.yaml');
    writeFileSync(file, [
      'gateway: { id: gw, dataDir: ./data }',
      'simulators:',
      `  - { type: modbus, id: press-sim, port: ${port}, devices: [ { unit: 1, registers: [ { address: "40001", value: 1 } ] } ] }`,
      'health: { enabled: false }',
      'log: { level: silent }',
    ].join('\n'));
    const r = run(file);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.trim(),
      `FG_E_PORT_IN_USE: simulator.press-sim cannot listen on 127.0.0.1:${port}: the port is already in use by another process. ` +
      `Change the port of simulator.press-sim in the config, or stop the process that holds it (find it with: ss -ltnp 'sport = :${port}')`);
  } finally {
    await new Promise<void>((r) => taken.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a data directory that is not writable: the path and the fix', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-datadir-'));
  try {
    const file = join(dir, 'plant.yaml');
    // a regular file where the data directory should be: mkdir fails for root too
    writeFileSync(join(dir, 'not-a-dir'), '');
    writeFileSync(file, 'gateway: { id: gw, dataDir: ./not-a-dir/data }\nhealth: { enabled: false }\nlog: { level: silent }\n');
    const r = run(file);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^FG_E_DATA_DIR: data directory .*not-a-dir\/data is not writable \(ENOTDIR\): create it and give the user running fieldgate write access/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
