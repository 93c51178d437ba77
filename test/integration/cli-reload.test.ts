// `fieldgate reload -c FILE` against a real `fieldgate run` child: it waits for the result and
// prints it (applied with what restarted and what waits for a restart, or refused with the
// located errors), with an exit code to match.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, until } from '../support/wait.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const cli = join(root, 'src/cli.ts');
const dir = mkdtempSync(join(tmpdir(), 'fg-cli-reload-'));
const file = join(dir, 'plant.yaml');
let child: ChildProcess | undefined;
let port = 0;

function config(opts: { interval?: string; id?: string; level?: string } = {}): string {
  return `
gateway: { id: ${opts.id ?? 'gw-a'}, dataDir: ./data }
simulators:
  - type: modbus
    id: sim
    port: ${port}
    devices:
      - unit: 1
        registers:
          - { address: "40001", type: float32, value: { kind: sine, amplitude: 5, offset: 80, period: 10s } }
sources:
  - type: modbus
    id: press
    connection: { transport: tcp, host: 127.0.0.1, port: ${port} }
    interval: ${opts.interval ?? '200ms'}
    devices:
      - tags:
          - { name: temperature, address: "40001", type: float32 }
health: { port: 0 }
log: { level: ${opts.level ?? 'info'}, format: json }
`;
}

function reload() {
  const r = spawnSync(process.execPath, ['--import', 'tsx', cli, 'reload', '-c', file], { cwd: root, encoding: 'utf8', timeout: 90_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

before(async () => {
  port = await freePort();
  writeFileSync(file, config());
  child = spawn(process.execPath, ['--import', 'tsx', cli, 'run', '-c', file], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  await until('pipeline running', () => out.includes('pipeline running') && existsSync(join(dir, 'data/fieldgate.pid')), 60_000, 100);
});

after(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

test('reload applied: prints what restarted, what applied in place and what waits; exit 0', () => {
  writeFileSync(file, config({ interval: '300ms', id: 'gw-b', level: 'debug' }));
  const r = reload();
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^reload applied \(pid \d+, [\d.]+ s\)/);
  assert.match(r.stdout, /restarted:\n {2}source press restarted \(configuration changed\)/);
  assert.match(r.stdout, /applied in place:\n {2}log level info -> debug applied/);
  assert.match(r.stdout, /waits for the next restart of fieldgate:\n {2}gateway settings changed/);
  process.stdout.write(`# ${r.stdout.trim().split('\n').join('\n# ')}\n`);
});

test('reload refused: prints the located errors, sends nothing; exit 1', () => {
  writeFileSync(file, config({ interval: '300ms', id: 'gw-b', level: 'debug' }).replace('interval: 300ms', 'interval: fast'));
  const r = reload();
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /^reload refused: the new configuration is invalid; nothing was sent, the running configuration stays/);
  assert.match(r.stdout, /plant\.yaml:\d+:\d+ sources\[0\]\.interval/);
  process.stdout.write(`# ${r.stdout.trim().split('\n').join('\n# ')}\n`);
});

test('reload with nothing changed says so; exit 0', () => {
  writeFileSync(file, config({ interval: '300ms', id: 'gw-b', level: 'debug' }));
  const r = reload();
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /reload applied .*: nothing changed|waits for the next restart/);
});
