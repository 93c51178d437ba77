import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CircuitBreaker, type BreakerState } from '../../../src/core/breaker.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { isFgError } from '../../../src/core/errors.ts';

function breaker(clock: ManualClock, opts: Partial<ConstructorParameters<typeof CircuitBreaker>[0]> = {}) {
  return new CircuitBreaker({ name: 'dev1', failureRate: 0.5, minCalls: 4, windowMs: 10_000, cooldownMs: 5_000, halfOpenProbes: 2, clock, ...opts });
}

test('stays closed below the minimum call count, opens at the failure rate', () => {
  const clock = new ManualClock(1_000_000);
  const b = breaker(clock);
  const states: BreakerState[] = [];
  b.on('state', (s) => states.push(s));
  b.failure('timeout');
  b.failure('timeout');
  b.failure('timeout');
  assert.equal(b.state, 'closed', '3 calls < minCalls');
  b.success();
  assert.equal(b.state, 'closed', '3/4 failures, but the 4th call was a success: rate is checked on failure');
  b.failure('timeout');
  assert.equal(b.state, 'open', '4/5 failures >= 50%');
  assert.equal(b.allow(), false);
  assert.deepEqual(states, ['open']);
  assert.equal(b.lastFailure, 'timeout');
});

test('failures that slid out of the window do not count', () => {
  const clock = new ManualClock(1_000_000);
  const b = breaker(clock);
  b.failure();
  b.failure();
  b.failure();
  clock.advance(11_000);
  b.failure();
  assert.equal(b.state, 'closed');
});

test('open -> half-open after cooldown; probes limited; all succeed -> closed', () => {
  const clock = new ManualClock(1_000_000);
  const b = breaker(clock);
  for (let i = 0; i < 4; i++) b.failure();
  assert.equal(b.state, 'open');
  assert.equal(b.retryAt, 1_005_000);
  clock.advance(4_999);
  assert.equal(b.state, 'open');
  clock.advance(1);
  assert.equal(b.state, 'half-open');
  assert.equal(b.allow(), true);
  assert.equal(b.allow(), true);
  assert.equal(b.allow(), false, 'only 2 probes');
  b.success();
  assert.equal(b.state, 'half-open');
  b.success();
  assert.equal(b.state, 'closed');
  assert.equal(b.opens, 1);
});

test('a failed probe re-opens for another cooldown', () => {
  const clock = new ManualClock(1_000_000);
  const b = breaker(clock);
  for (let i = 0; i < 4; i++) b.failure();
  clock.advance(5_000);
  assert.equal(b.allow(), true);
  b.failure('still dead');
  assert.equal(b.state, 'open');
  assert.equal(b.opens, 2);
  clock.advance(4_000);
  assert.equal(b.state, 'open');
});

test('run() refuses with FG_E_BREAKER_OPEN while open', async () => {
  const clock = new ManualClock(0);
  const b = breaker(clock, { minCalls: 1, failureRate: 1 });
  await assert.rejects(b.run(async () => { throw new Error('x'); }), /x/);
  await assert.rejects(b.run(async () => 1), (e) => isFgError(e, 'FG_E_BREAKER_OPEN'));
  clock.advance(5_000);
  assert.equal(await b.run(async () => 7), 7);
});
