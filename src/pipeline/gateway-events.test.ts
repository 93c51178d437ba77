import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createOutbox, outboxSchema } from '../outbox/index.ts';
import { tempContext } from '../../test/support/outbox/testing.ts';
import { until } from '../../test/support/wait.ts';
import { GatewayEvents } from './gateway-events.ts';

test('gateway events: written through the outbox, rate-limited per key, the latest held state always arrives, stop flushes', async () => {
  const ctx = tempContext('gw-ev');
  const box = createOutbox(outboxSchema.parse({ commitInterval: '2ms' }), ctx);
  const cur = box.cursor('up');
  await box.start();
  const ev = new GatewayEvents({ writer: box, log: ctx.log, metrics: ctx.metrics.stage('gateway-events'), minIntervalMs: 300 });
  try {
    assert.equal(ev.emit({ kind: 'stage-down', key: 'stage:a', severity: 'critical', message: 'a down', data: { stage: 'a' } }), true);
    // a flapping stage: held, only the latest survives the interval
    assert.equal(ev.emit({ kind: 'stage-up', key: 'stage:a', severity: 'info', message: 'a up', data: { stage: 'a' } }), false);
    assert.equal(ev.emit({ kind: 'stage-down', key: 'stage:a', severity: 'critical', message: 'a down again', data: { stage: 'a' } }), false);
    // another key is not held back by it
    assert.equal(ev.emit({ kind: 'stage-down', key: 'stage:b', severity: 'critical', message: 'b down' }), true);
    // committed by the outbox's group commit: wait for it, not for a fixed time (a loaded machine)
    await until('the first two events are committed', () => cur.read(0, 100).length >= 2);
    let recs = cur.read(0, 100);
    assert.deepEqual(recs.slice(0, 2).map((r) => r.kind === 'event' && r.event.message), ['a down', 'b down']);
    assert.ok(recs.every((r) => r.kind === 'event' && r.event.source === 'gateway'));
    await until('the held state arrives when the interval ends', () => cur.read(0, 100).length >= 3);
    recs = cur.read(0, 100);
    const last = recs.at(-1)!;
    assert.ok(last.kind === 'event');
    assert.equal(last.event.message, 'a down again', 'the final state arrives when the interval ends');
    assert.equal(last.event.data?.suppressed, 1, 'and says how many it stands for');
    assert.equal(recs.length, 3);
    // held at stop: written, and no timer is left
    ev.emit({ kind: 'outbox-full', key: 'outbox', severity: 'warning', message: 'full' });
    ev.emit({ kind: 'outbox-healed', key: 'outbox', severity: 'info', message: 'healed' });
    ev.stop();
    assert.equal(ev.emit({ kind: 'x', severity: 'info', message: 'after stop' }), false);
    await until('the events held at stop are committed', () => cur.read(0, 100).length >= 5);
    recs = cur.read(0, 100);
    assert.deepEqual(recs.slice(3).map((r) => r.kind === 'event' && r.event.kind), ['outbox-full', 'outbox-healed']);
    assert.equal(ev.stats().held, 0);
  } finally {
    ev.stop();
    await box.stop(1000);
    ctx.cleanup();
  }
});
