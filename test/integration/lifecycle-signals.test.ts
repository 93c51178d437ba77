// A gateway in its own process (runLifecycle, as `fieldgate run`): SIGHUP reloads a changed file
// and refuses a bad one while the old config keeps running; SIGTERM under load drains, exits 0,
// loses no accepted record, and the process ends by itself (nothing left open).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { stringify } from 'yaml';
import type { StatusDocument } from '../../src/health/status.ts';
import { KIND_BATCH, KIND_SAMPLE } from '../../src/outbox/records.ts';
import { get, tempDir, until } from './health-testkit.ts';

const tmp = tempDir('fg-lifecycle-');
after(() => tmp.cleanup());
const TAGS = 10;

function config(bInterval: string): Record<string, unknown> {
  return {
    gateway: { id: 'gw-life', dataDir: join(tmp.dir, 'data') },
    sources: ['a', 'b', 'c', 'd'].map((id) => ({ type: 'ticker', id, interval: id === 'b' ? bInterval : '2ms', tags: TAGS })),
    health: { port: 0, probes: { unhealthy: '100ms', stable: '500ms' } },
  };
}

interface Line { started?: boolean; stopped?: boolean; url?: string; code?: number; routerReceived?: number; routerSent?: number; tickerBatches?: number }

function startChild(file: string): { child: ChildProcess; lines: Line[]; stderr: string[]; exited: Promise<number | null> } {
  // the same loader flags as this test process (tsx)
  const execArgv = process.execArgv.filter((a, i, all) => a.startsWith('--import') || all[i - 1] === '--import');
  const child = spawn(process.execPath, [...execArgv, join(import.meta.dirname, 'lifecycle-child.ts'), file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Line[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => { try { lines.push(JSON.parse(l) as Line); } catch { /* not ours */ } });
  createInterface({ input: child.stderr! }).on('line', (l) => { stderr.push(l); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, lines, stderr, exited };
}

async function status(url: string): Promise<StatusDocument> {
  return JSON.parse((await get(`${url}/api/status`)).body) as StatusDocument;
}

test('SIGHUP reloads only what changed, refuses a bad file; SIGTERM under load loses no accepted record', async () => {
  const file = join(tmp.dir, 'gateway.yaml');
  writeFileSync(file, stringify(config('5ms')));
  const { child, lines, stderr, exited } = startChild(file);
  try {
    const started = await until('the gateway to start', () => lines.find((l) => l.started), 30_000);
    const url = started.url!;
    await until('ready', async () => (await get(`${url}/readyz`)).status === 200, 10_000);

    // a changed source b: only b restarts
    writeFileSync(file, stringify(config('7ms')));
    child.kill('SIGHUP');
    let st = await until('the reload event', async () => {
      const d = await status(url);
      return d.events.some((e) => e.kind === 'reload') ? d : undefined;
    });
    const reload = st.events.find((e) => e.kind === 'reload')!;
    assert.match(reload.message, /source b restarted/);
    assert.doesNotMatch(reload.message, /source [acd] /);

    // a bad file: refused with its located errors, the old config keeps running
    writeFileSync(file, 'sources:\n  - type: ticker\n    id: a\n    interval: soon\n');
    child.kill('SIGHUP');
    st = await until('the refusal', async () => {
      const d = await status(url);
      return d.events.some((e) => e.kind === 'reload-refused') ? d : undefined;
    });
    assert.match(st.events.find((e) => e.kind === 'reload-refused')!.message, /gateway\.yaml:4:\d+/);
    assert.ok(stderr.some((l) => l.includes('FG_E_RELOAD') && l.includes('interval')), 'the log has the located error');
    assert.deepEqual(st.stages.filter((s) => s.kind === 'source').map((s) => s.name).sort(), ['source.a', 'source.b', 'source.c', 'source.d']);

    // under load: accepted records before the signal, then SIGTERM
    const acceptedBefore = await until('records accepted', async () => {
      const m = /fieldgate_records_sent_total\{stage="router"\} (\d+)/.exec((await get(`${url}/metrics`)).body);
      return m && Number(m[1]) > 1000 ? Number(m[1]) : undefined;
    });
    const t0 = Date.now();
    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000))]);
    assert.equal(code, 0, `exit code (stderr tail: ${stderr.slice(-5).join('\n')})`);
    assert.ok(Date.now() - t0 < 10_000, 'drained within the deadline and ended by itself');
    const done = lines.find((l) => l.stopped)!;
    assert.ok(done, 'the child reported its counts');

    const db = new Database(join(tmp.dir, 'data', 'outbox.db'), { readonly: true });
    // a sample batch is one row of n samples (records.ts KIND_BATCH)
    const rows = (db.prepare('SELECT coalesce(sum(n), 0) AS n FROM records WHERE kind IN (?, ?)').get(KIND_SAMPLE, KIND_BATCH) as { n: number }).n;
    db.close();
    assert.ok(rows >= acceptedBefore, `rows ${rows} >= accepted before SIGTERM ${acceptedBefore}`);
    assert.equal(done.routerReceived, done.tickerBatches! * TAGS, 'every sample read reached the router');
    assert.equal(done.routerSent, done.routerReceived, 'every routed sample was accepted');
    assert.equal(rows, done.routerSent, 'and every accepted sample is in the file');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
  }
});
