// Reload on a running pipeline with Modbus simulators on loopback: a change to one source
// restarts that source only (the others keep their connection and their counters go on), added
// and removed sources come and go, a bad file changes nothing, and the outbox keeps its contents.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { stringify } from 'yaml';
import { startModbusSimulator, type ModbusSimulator } from '../../drivers/modbus/sim/server.ts';
import { simConfig } from '../support/modbus/testing.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { silentLogger } from '../../src/log.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { applyConfig, reloadFromFile } from '../../src/pipeline/reload.ts';
import { tempDir, testConfig, testDrivers, testSchema, until } from './health-testkit.ts';

const tmp = tempDir('fg-reload-');
after(() => tmp.cleanup());

const sim = () => simConfig({ devices: [{ unit: 1, registers: [{ area: 'holding', address: 0, value: { kind: 'ramp', min: 0, max: 1000, period: '10s' } }] }] });

function source(id: string, port: number, interval = '20ms') {
  return {
    type: 'modbus', id, interval, timeout: '300ms',
    connection: { transport: 'tcp', host: '127.0.0.1', port },
    devices: [{ unit: 1, tags: [{ name: 'v', area: 'holding', address: 0 }] }],
  };
}

async function received(p: Pipeline, stage: string): Promise<number> {
  return (await p.metrics.received.get()).values.find((v) => v.labels.stage === stage)?.value ?? 0;
}

test('a reload that changes one source leaves the others running: same connection, counters go on', async () => {
  const sims: ModbusSimulator[] = [];
  for (let i = 0; i < 3; i++) sims.push(await startModbusSimulator(sim()));
  const [sa, sb, sc] = sims as [ModbusSimulator, ModbusSimulator, ModbusSimulator];
  const doc = (bInterval: string, withC: boolean) => ({
    gateway: { id: 'gw-reload', dataDir: tmp.dir },
    sources: [source('a', sa.port), source('b', sb.port, bInterval), ...(withC ? [source('c', sc.port)] : [])],
    health: { port: 0 },
  });
  const p = new Pipeline({ config: testConfig(doc('20ms', false), tmp.dir), baseDir: tmp.dir, log: silentLogger(), drivers: testDrivers });
  await p.start();
  try {
    await until('both sources read', async () => (await received(p, 'source.a')) > 5 && (await received(p, 'source.b')) > 5);
    const a = p.sources.find((s) => s.config.id === 'a')!;
    const b = p.sources.find((s) => s.config.id === 'b')!;
    const healthBefore = p.health;
    const rowsBefore = p.outbox.stats().rows;
    const aBefore = await received(p, 'source.a');
    assert.equal(sa.connections, 1);
    assert.equal(sb.connections, 1);

    const result = await applyConfig(p, testConfig(doc('30ms', true), tmp.dir));
    assert.ok(result.ok, result.errors.join('; '));
    assert.deepEqual(result.changes.sort(), ['source b restarted (configuration changed)', 'source c added']);

    // a: the very same stage, never restarted, still on its first connection, still counting
    assert.equal(p.sources.find((s) => s.config.id === 'a'), a);
    assert.equal(a.supervisor.status().restarts, 0);
    await until('a keeps reading', async () => (await received(p, 'source.a')) > aBefore + 10);
    assert.equal(sa.connections, 1, 'a did not reconnect');
    // b: a new stage on a new connection; c: added
    const b2 = p.sources.find((s) => s.config.id === 'b')!;
    assert.notEqual(b2, b);
    assert.equal(b.channel.closed, true, 'the old b channel was closed and drained');
    await until('b reconnected and reads again', () => sb.connections === 2 && b2.probe().state === 'up');
    await until('c reads', async () => (await received(p, 'source.c')) > 0 && sc.connections === 1);
    assert.equal(p.health, healthBefore, 'health settings unchanged: the health stage was not restarted');
    assert.ok(p.outbox.stats().rows >= rowsBefore, 'the outbox kept its contents');

    // removing c and restoring b
    const r2 = await applyConfig(p, testConfig(doc('20ms', false), tmp.dir));
    assert.deepEqual(r2.changes.sort(), ['source b restarted (configuration changed)', 'source c removed']);
    assert.deepEqual(p.sources.map((s) => s.name).sort(), ['source.a', 'source.b']);
    assert.equal(sa.connections, 1, 'a still on its first connection');

    // a bad file changes nothing and says where it is wrong
    const file = join(tmp.dir, 'bad.yaml');
    writeFileSync(file, stringify({ ...doc('20ms', false), sources: [{ ...source('a', sa.port), interval: 'often' }] }));
    const load = (f: string) => ({ config: parseConfigText(readFileSync(f, 'utf8'), 'bad.yaml', tmp.dir, { schema: testSchema }), file: f, baseDir: tmp.dir });
    const r3 = await reloadFromFile(p, file, { load });
    assert.equal(r3.ok, false);
    assert.match(r3.errors.join('\n'), /bad\.yaml:\d+:\d+.*sources\[0\]\.interval/);
    assert.equal(p.sources.find((s) => s.config.id === 'a'), a);
    assert.ok(p.running);
  } finally {
    await p.stop(5_000);
    for (const s of sims) await s.stop();
  }
});

test("a reload that changes a sink's shedAt moves the router's wait bound with it (no restart needed)", async () => {
  const doc = (sinks: Record<string, unknown>[]) => ({
    gateway: { id: 'gw-reload-shed', dataDir: join(tmp.dir, 'shed') },
    sources: [{ type: 'ticker', id: 't', interval: '50ms', tags: 1 }],
    sinks,
    health: { enabled: false },
  });
  const file = (id: string, shedAt: string) => ({ type: 'file', id, path: join(tmp.dir, `${id}.ndjson`), shedAt });
  const p = new Pipeline({ config: testConfig(doc([file('f', '500ms')]), tmp.dir), baseDir: tmp.dir, log: silentLogger(), drivers: testDrivers });
  await p.start();
  try {
    assert.equal(p.router.shedAt, 500);
    const changed = await applyConfig(p, testConfig(doc([file('f', '2s')]), tmp.dir), { deadlineMs: 2_000 });
    assert.ok(changed.ok, changed.errors.join('; '));
    assert.equal(p.router.shedAt, 2_000, 'a changed shedAt applies at once');
    await applyConfig(p, testConfig(doc([file('f', '2s'), file('g', '300ms')]), tmp.dir), { deadlineMs: 2_000 });
    assert.equal(p.router.shedAt, 300, 'an added sink with a stricter bound sets it');
    await applyConfig(p, testConfig(doc([file('g', '0ms')]), tmp.dir), { deadlineMs: 2_000 });
    assert.equal(p.router.shedAt, 0, 'no sink sheds any more: neither does the router');
  } finally {
    await p.stop(2_000);
  }
});
