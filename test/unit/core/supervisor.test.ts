import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Supervisor, type StageState } from '../../../src/core/supervisor.ts';
import { Backoff } from '../../../src/core/backoff.ts';
import { silentLogger } from '../../../src/log.ts';

const log = silentLogger();

test('a stage that throws is restarted with backoff and its errors counted', async () => {
  let runs = 0;
  const codes: string[] = [];
  const sup = new Supervisor({
    name: 'flaky', log, initialBackoffMs: 5, maxBackoffMs: 20, maxRestarts: 50,
    onError: (code) => codes.push(code),
    run: async (signal) => {
      runs++;
      if (runs < 4) throw new Error(`boom ${runs}`);
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    },
  });
  const states: StageState[] = [];
  sup.on('state', (s) => states.push(s));
  sup.start();
  while (runs < 4) await new Promise((r) => setTimeout(r, 5));
  assert.equal(sup.state, 'running');
  assert.equal(sup.status().restarts, 3);
  assert.equal(codes.length, 3);
  assert.equal(sup.status().lastError?.message, 'boom 3');
  await sup.stop();
  assert.equal(sup.state, 'stopped');
  assert.deepEqual(states.filter((s) => s === 'backoff').length, 3);
});

test('too many restarts within the window mark the stage failed', async () => {
  const codes: string[] = [];
  const sup = new Supervisor({
    name: 'broken', log, initialBackoffMs: 1, maxBackoffMs: 2, maxRestarts: 3, windowMs: 60_000,
    onError: (c) => codes.push(c),
    run: async () => { throw new Error('always'); },
  });
  sup.start();
  await sup.done();
  assert.equal(sup.state, 'failed');
  assert.equal(sup.status().restarts, 4);
  assert.ok(codes.includes('FG_E_STAGE_FAILED'));
});

test('rejections are caught like throws; stop during backoff ends at once', async () => {
  const sup = new Supervisor({
    name: 'rejecting', log, initialBackoffMs: 60_000, maxBackoffMs: 60_000, random: () => 1,
    run: () => Promise.reject(new Error('rejected')),
  });
  sup.start();
  while (sup.state !== 'backoff') await new Promise((r) => setTimeout(r, 1));
  const t0 = Date.now();
  await sup.stop(1000);
  assert.ok(Date.now() - t0 < 500);
  assert.equal(sup.state, 'stopped');
});

test('restart() aborts the current run and starts a fresh one', async () => {
  let runs = 0;
  const sup = new Supervisor({
    name: 'wedged', log,
    run: async (signal) => {
      runs++;
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    },
  });
  sup.start();
  await new Promise((r) => setTimeout(r, 5));
  sup.restart('heartbeat stopped');
  while (runs < 2) await new Promise((r) => setTimeout(r, 2));
  assert.equal(sup.status().restarts, 1);
  await sup.stop();
});

test('full-jitter backoff stays under an exponentially growing ceiling', () => {
  const seq = [0.999, 0.5, 0.999, 0.999, 0.999, 0.999, 0.999];
  let i = 0;
  const b = new Backoff({ initialMs: 100, maxMs: 1000, random: () => seq[i++]! });
  const delays = seq.map(() => b.next());
  assert.deepEqual(delays, [100, 100, 400, 799, 999, 999, 999]);
  b.reset();
  assert.equal(b.ceiling(), 100);
});
