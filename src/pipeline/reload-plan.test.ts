// The reload plan is a pure diff of two configs: these cases pin what restarts, what is added or
// removed, in which order, and which settings wait for a restart.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { parseConfigText } from '../config/load.ts';
import type { FieldgateConfig } from '../config/schema.ts';
import { planReload, planSection } from './reload-plan.ts';

const modbus = (id: string, port: number, interval = '100ms') => ({
  type: 'modbus', id, interval,
  connection: { transport: 'tcp', host: '127.0.0.1', port },
  devices: [{ unit: 1, tags: [{ name: 'v', area: 'holding', address: 0 }] }],
});
const simDevices = [{ unit: 1, registers: [{ area: 'holding', address: 0, value: { kind: 'ramp', min: 0, max: 10, period: '10s' } }] }];
const fileSink = (id: string, path: string) => ({ type: 'file', id, path });

function config(doc: Record<string, unknown>): FieldgateConfig {
  return parseConfigText(stringify({ gateway: { id: 'gw', dataDir: '/tmp/fg-plan' }, ...doc }), 'plan.yaml', '/tmp');
}

test('identical configs plan nothing', () => {
  const c = config({ sources: [modbus('a', 1502)], sinks: [fileSink('f', 'out.jsonl')] });
  assert.deepEqual(planReload(c, config({ sources: [modbus('a', 1502)], sinks: [fileSink('f', 'out.jsonl')] })), {
    stages: [], health: false, alarms: false, gateway: false, broker: false,
  });
});

test('one changed source of three restarts that one; an added one is added, a removed one removed', () => {
  const prev = config({ sources: [modbus('a', 1502), modbus('b', 1503), modbus('c', 1504)] });
  const next = config({ sources: [modbus('a', 1502), modbus('b', 1503, '200ms'), modbus('d', 1505)] });
  const plan = planReload(prev, next);
  assert.deepEqual(plan.stages.map((s) => `${s.action} ${s.section} ${s.id}`), [
    'remove sources c', 'restart sources b', 'add sources d',
  ]);
  const b = plan.stages[1]!;
  assert.equal(b.action, 'restart');
  if (b.action === 'restart') {
    assert.equal((b.prev as { interval?: number }).interval, 100);
    assert.equal((b.next as { interval?: number }).interval, 200);
  }
});

test('sections in apply order: simulators, sinks, models, sources; removals before restarts before additions', () => {
  const prev = config({
    simulators: [{ type: 'modbus', id: 's1', port: 0, devices: simDevices }],
    sources: [modbus('x', 1502), modbus('y', 1503)],
    sinks: [fileSink('f1', 'a.jsonl'), fileSink('f2', 'b.jsonl')],
  });
  const next = config({
    simulators: [{ type: 'modbus', id: 's2', port: 0, devices: simDevices }],
    sources: [modbus('y', 1509), modbus('z', 1504)],
    sinks: [fileSink('f3', 'c.jsonl'), fileSink('f1', 'a2.jsonl')],
  });
  assert.deepEqual(planReload(prev, next).stages.map((s) => `${s.action} ${s.section} ${s.id}`), [
    'remove simulators s1', 'add simulators s2',
    'remove sinks f2', 'restart sinks f1', 'add sinks f3',
    'remove sources x', 'restart sources y', 'add sources z',
  ]);
});

test('enabled: false counts as not running: disabling removes, enabling adds, a disabled entry changing plans nothing', () => {
  const e = (id: string, enabled: boolean, v = 1) => ({ id, enabled, v });
  assert.deepEqual(planSection('sinks', [e('a', true)], [e('a', false)]).map((c) => c.action), ['remove']);
  assert.deepEqual(planSection('sinks', [e('a', false)], [e('a', true)]).map((c) => c.action), ['add']);
  assert.deepEqual(planSection('sinks', [e('a', false, 1)], [e('a', false, 2)]), []);
  // no enabled key at all (sources, simulators) means running
  assert.deepEqual(planSection('sources', [{ id: 'a' }], [{ id: 'a' }]), []);
  assert.deepEqual(planSection('sources', [{ id: 'a' }], []).map((c) => c.action), ['remove']);
});

test('order within a list does not matter; a deep change inside an entry does', () => {
  assert.deepEqual(planSection('sources', [{ id: 'a' }, { id: 'b' }], [{ id: 'b' }, { id: 'a' }]), []);
  const deep = (n: number) => ({ id: 'a', devices: [{ unit: 1, tags: [{ name: 'v', address: n }] }] });
  assert.deepEqual(planSection('sources', [deep(0)], [deep(1)]).map((c) => c.action), ['restart']);
});

test('settings: health and alarms flagged, gateway and broker wait, log level and format reported from -> to', () => {
  const prev = config({ health: { port: 8080 }, log: { level: 'info', format: 'json' } });
  const next = config({
    gateway: { id: 'gw2', dataDir: '/tmp/fg-plan' },
    health: { port: 8081 },
    broker: { enabled: true, port: 0 },
    alarms: [{ tag: 'a/v', high: 50 }],
    log: { level: 'debug', format: 'pretty' },
  });
  const plan = planReload(prev, next);
  assert.deepEqual(plan.stages, []);
  assert.equal(plan.health, true);
  assert.equal(plan.gateway, true);
  assert.equal(plan.broker, true);
  assert.equal(plan.alarms, true);
  assert.deepEqual(plan.logLevel, { from: 'info', to: 'debug' });
  assert.deepEqual(plan.logFormat, { from: 'json', to: 'pretty' });
});

test('the plan does not touch its inputs', () => {
  const prev = config({ sources: [modbus('a', 1502)] });
  const next = config({ sources: [modbus('a', 1503)] });
  const before = [structuredClone(prev), structuredClone(next)];
  planReload(prev, next);
  assert.deepEqual([prev, next], before);
});
