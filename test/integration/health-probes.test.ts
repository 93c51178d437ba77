// Probe scheduler (adaptive intervals, state/reason/since, gauge) and watchdog (restarts a source
// whose heartbeat stops, through its supervisor), on real SourceStages with the ticker driver.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Metrics } from '../../src/core/metrics.ts';
import type { ProbeResult } from '../../src/core/probe.ts';
import { ProbeScheduler, type StageHealth } from '../../src/health/probes.ts';
import { silentLogger } from '../../src/log.ts';
import type { Stage, StageContext } from '../../src/core/contracts.ts';
import { SourceStage } from '../../src/pipeline/source-stage.ts';
import { Watchdog } from '../../src/pipeline/watchdog.ts';
import { tickerControl, tickerDriver, until } from './health-testkit.ts';

/** A stage whose probe answer the test sets; counts how often it was asked. */
class Scripted implements Stage {
  readonly kind = 'router' as const;
  answer: ProbeResult = { state: 'up' };
  asked = 0;
  constructor(readonly name: string) {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  probe(): ProbeResult {
    this.asked++;
    return this.answer;
  }
}

test('probe intervals double while a stage stays up and drop to the short interval when it goes down', () => {
  let now = 1_000_000;
  const s = new Scripted('a');
  const changes: [StageHealth, string | undefined][] = [];
  const metrics = new Metrics();
  const p = new ProbeScheduler({ stages: () => [s], unhealthyMs: 100, stableMs: 800, metrics, now: () => now, onChange: (h, prev) => changes.push([h, prev]) });
  // drive the scheduler by hand: a tick every 100 ms of fake time, timers cleared at the end
  const asksAt: number[] = [];
  for (let i = 0; i < 40; i++) {
    const before = s.asked;
    p.tick();
    p.stop();
    if (s.asked > before) asksAt.push(now);
    now += 100;
  }
  const gaps = asksAt.slice(1).map((t, i) => t - asksAt[i]!);
  assert.deepEqual(gaps.slice(0, 4), [100, 200, 400, 800], 'intervals double from unhealthy to stable');
  assert.ok(gaps.slice(4).every((g) => g === 800), `stays at the stable interval: ${gaps.join(',')}`);
  assert.equal(changes.length, 0, 'a stage that is up from the start raises no change');

  s.answer = { state: 'down', reason: 'device unreachable' };
  const downAt = now;
  // the stage is due at most 800 ms later; from then on every 100 ms
  const asks: number[] = [];
  for (let i = 0; i < 20; i++) {
    const before = s.asked;
    p.tick();
    p.stop();
    if (s.asked > before) asks.push(now);
    now += 100;
  }
  assert.ok(asks[0]! - downAt <= 800);
  assert.deepEqual(asks.slice(1).map((t, i) => t - asks[i]!), new Array(asks.length - 1).fill(100), 'probed every 100 ms while down');
  const h = p.get('a')!;
  assert.equal(h.state, 'down');
  assert.equal(h.reason, 'device unreachable');
  assert.equal(h.since, asks[0]);
  assert.equal(changes.length, 1);
  assert.equal(changes[0]![0].state, 'down');
  assert.equal(changes[0]![1], 'up');
});

test('the stage health gauge is a state set, and forgets stages that are gone', async () => {
  const metrics = new Metrics();
  const a = new Scripted('router');
  const b = new Scripted('outbox');
  let list: Stage[] = [a, b];
  b.answer = { state: 'degraded', reason: 'outbox full' };
  const p = new ProbeScheduler({ stages: () => list, unhealthyMs: 100, stableMs: 1000, metrics });
  p.tick();
  p.stop();
  const text = await metrics.registry.metrics();
  assert.match(text, /fieldgate_stage_health\{stage="router",kind="router",state="up"\} 1/);
  assert.match(text, /fieldgate_stage_health\{stage="router",kind="router",state="down"\} 0/);
  assert.match(text, /fieldgate_stage_health\{stage="outbox",kind="router",state="degraded"\} 1/);
  list = [a];
  p.snapshot();
  assert.doesNotMatch(await metrics.registry.metrics(), /stage="outbox"/);
});

test('a probe that throws counts as down with the error as reason', () => {
  const s = new Scripted('x');
  s.probe = () => { throw new Error('boom'); };
  const p = new ProbeScheduler({ stages: () => [s], unhealthyMs: 100, stableMs: 1000 });
  const [h] = p.snapshot();
  assert.equal(h!.state, 'down');
  assert.equal(h!.reason, 'probe failed: boom');
});

function ctx(metrics: Metrics): StageContext {
  return { gateway: { id: 't', dataDir: '/nonexistent' }, log: silentLogger(), metrics, resolvePath: (p) => p };
}

const stages: SourceStage[] = [];
after(async () => {
  for (const s of stages) await s.stop(1000);
});

test('the watchdog restarts a source whose heartbeat stops, through its supervisor, and counts it', async () => {
  const metrics = new Metrics();
  const wedged = new SourceStage(tickerDriver.schema.parse({ id: 'wd-wedged', type: 'ticker', interval: 10, wedgeAfter: 3 }), tickerDriver, ctx(metrics));
  const fine = new SourceStage(tickerDriver.schema.parse({ id: 'wd-fine', type: 'ticker', interval: 10 }), tickerDriver, ctx(metrics));
  stages.push(wedged, fine);
  // the router is not part of this test: empty the channels so senders never block
  const drain = setInterval(() => { for (const s of stages) s.channel.drain(); }, 5);
  await wedged.start();
  await fine.start();
  const restarted: string[] = [];
  const wd = new Watchdog({ sources: () => stages, timeoutMs: 300, log: silentLogger(), metrics, onRestart: (n) => restarted.push(n) });
  wd.start();
  try {
    // a restart aborts the run; the supervisor starts the fresh one a timer tick later
    await until('two watchdog restarts and the fresh runs they start', () =>
      wd.restarts('source.wd-wedged') >= 2 && tickerControl.get('wd-wedged')!.runs >= 3, 10_000);
    assert.equal(wd.restarts('source.wd-fine'), 0, 'a source that beats is left alone');
    assert.ok(tickerControl.get('wd-wedged')!.runs >= 3, 'each restart starts a fresh run');
    assert.equal(tickerControl.get('wd-fine')!.runs, 1);
    assert.ok(restarted.every((n) => n === 'source.wd-wedged'));
    assert.ok(wedged.supervisor.status().restarts >= 2, 'the supervisor counted the restarts');
    assert.match(await metrics.registry.metrics(), /fieldgate_watchdog_restarts_total\{stage="source.wd-wedged"\} [2-9]/);
  } finally {
    wd.stop();
    clearInterval(drain);
  }
});

test('the watchdog gives a just-restarted source a full timeout before judging it', () => {
  let now = 10_000;
  const status = { state: 'running' as const, since: 9_900 };
  let restarts = 0;
  const src = {
    name: 'source.s', lastHeartbeat: 0,
    supervisor: { status: () => status, restart: () => { restarts++; } },
  };
  const wd = new Watchdog({ sources: () => [src as never], timeoutMs: 1_000, log: silentLogger(), now: () => now });
  assert.deepEqual(wd.check(), [], 'silent, but started 100 ms ago');
  now = 11_000;
  assert.deepEqual(wd.check(), ['source.s']);
  now = 11_500;
  assert.deepEqual(wd.check(), [], 'a source that ignores the restart is not restarted again within the timeout');
  now = 12_100;
  assert.deepEqual(wd.check(), ['source.s']);
  assert.equal(restarts, 2);
});
