import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { GatewayEvent, Quality, SampleValue } from '../core/sample.ts';
import { TagStore } from '../health/tags.ts';
import { alarmsSchema } from './config.ts';
import { AlarmEngine } from './engine.ts';

function rig(rules: unknown[]) {
  let now = 1_000_000;
  const store = new TagStore();
  const events: GatewayEvent[] = [];
  const engine = new AlarmEngine(alarmsSchema.parse(rules), store, (e) => events.push(...e), () => now);
  const feed = (value: SampleValue, quality: Quality = 'good') =>
    store.record({ source: 'press', receivedAt: now, samples: [{ source: 'press', tag: 't', ts: now, value, quality }] });
  const at = (ms: number) => { now = ms; (engine as unknown as { tick(): void }).tick(); };
  return { engine, events, feed, at, get now() { return now; }, set now(v: number) { now = v; } };
}

test('a high limit with deadband raises once and clears below high - deadband', () => {
  const r = rig([{ tag: 'press/t', high: 90, deadband: 2 }]);
  r.feed(89);
  assert.equal(r.events.length, 0);
  r.feed(91);
  assert.equal(r.events.length, 1);
  assert.equal(r.events[0]!.kind, 'alarm');
  assert.equal(r.events[0]!.data!.alarm, 'press.t:high');
  assert.equal(r.engine.active().length, 1);
  r.feed(89); // inside the deadband: still raised
  r.feed(93);
  assert.equal(r.events.length, 1);
  r.feed(87.9);
  assert.equal(r.events.length, 2);
  assert.equal(r.events[1]!.kind, 'alarm-cleared');
  assert.equal(r.engine.active().length, 0);
});

test('on and off delays: a short excursion raises nothing; a short dip does not clear', () => {
  const r = rig([{ tag: 'press/t', low: 10, onDelay: '2s', offDelay: '1s', severity: 'critical' }]);
  r.feed(5);
  r.at(r.now + 1_000);
  r.feed(12); // back within 1 s: nothing
  r.at(r.now + 5_000);
  assert.equal(r.events.length, 0);
  r.feed(5);
  r.at(r.now + 1_999);
  assert.equal(r.events.length, 0);
  r.at(r.now + 1);
  assert.equal(r.events.length, 1);
  assert.equal(r.events[0]!.severity, 'critical');
  r.feed(12);
  r.at(r.now + 500);
  r.feed(5); // dips back before the off delay: stays raised
  r.at(r.now + 2_000);
  assert.equal(r.events.length, 1);
  r.feed(12);
  r.at(r.now + 1_000);
  assert.equal(r.events.length, 2);
  assert.equal(r.events[1]!.kind, 'alarm-cleared');
});

test('bad quality for N and no data for N', () => {
  const r = rig([{ tag: 'press/t', badQualityFor: '3s', noDataFor: '5s' }]);
  r.feed(null, 'bad');
  r.at(r.now + 2_000);
  assert.equal(r.events.length, 0);
  r.feed(null, 'bad');
  r.at(r.now + 1_000);
  assert.deepEqual(r.events.map((e) => e.data!.alarm), ['press.t:bad-quality']);
  r.feed(3);
  assert.equal(r.events.at(-1)!.kind, 'alarm-cleared');
  r.at(r.now + 5_001);
  assert.equal(r.events.at(-1)!.data!.alarm, 'press.t:no-data');
  assert.equal(r.events.at(-1)!.kind, 'alarm');
  r.feed(3);
  assert.equal(r.events.at(-1)!.kind, 'alarm-cleared');
});

test('acknowledging is local and only for active alarms; a reload keeps unchanged alarms', () => {
  const rules = [{ tag: 'press/t', high: 1 }];
  const r = rig(rules);
  assert.equal(r.engine.acknowledge('press.t:high', 'me'), false);
  r.feed(2);
  assert.equal(r.engine.acknowledge('press.t:high', 'me'), true);
  assert.equal(r.engine.active()[0]!.acknowledged!.by, 'me');
  r.engine.setRules(alarmsSchema.parse(rules));
  assert.equal(r.engine.active().length, 1, 'same rule: still raised');
  r.engine.setRules(alarmsSchema.parse([{ tag: 'press/t', high: 5 }]));
  assert.equal(r.engine.active().length, 0, 'changed rule starts clear');
  r.engine.stop();
});

test('the schema refuses rules without a condition or with low >= high', () => {
  assert.throws(() => alarmsSchema.parse([{ tag: 'press/t' }]), /at least one of/);
  assert.throws(() => alarmsSchema.parse([{ tag: 'press/t', high: 1, low: 2 }]), /low must be below high/);
  assert.throws(() => alarmsSchema.parse([{ tag: 'notag', high: 1 }]), /source id/);
});
