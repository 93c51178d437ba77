// `fieldgate reload -c FILE` against a real `fieldgate run` child: it waits for the result and
// prints it (applied with what restarted and what waits for a restart, or refused with the
// located errors), with an exit code to match.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type CliChild, fieldgate, startFieldgate } from '../support/cli.ts';
import { simulatedPress } from '../support/plant.ts';
import { freePort } from '../support/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'fg-cli-reload-'));
const file = join(dir, 'plant.yaml');
let child: CliChild | undefined;
let port = 0;

function config(opts: { interval?: string; id?: string; level?: string } = {}): string {
  return `
gateway: { id: ${opts.id ?? 'gw-a'}, dataDir: ./data }
${simulatedPress(port, opts.interval ?? '200ms')}health: { port: 0 }
log: { level: ${opts.level ?? 'info'}, format: json }
`;
}

const reload = () => fieldgate(['reload', '-c', file]);

before(async () => {
  port = await freePort();
  writeFileSync(file, config());
  child = await startFieldgate(['run', '-c', file], 'pipeline running', (out) => out.includes('pipeline running') && existsSync(join(dir, 'data/fieldgate.pid')));
});

after(async () => {
  await child?.stop();
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
