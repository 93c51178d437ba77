// A reload whose new stage fails to start leaves what ran before running: real stages on loopback
// (a Modbus simulator whose new port is taken, a health server whose new port is taken, a source
// whose driver throws when it is created), and `pipeline.config` keeps describing what runs.
// A stage that ignores its stop deadline does not hold pipeline.stop().
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import { stringify } from 'yaml';
import { z } from 'zod';
import { defineDriver } from '../../src/core/contracts.ts';
import { printReload } from '../../src/cli/reload-result.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { buildConfigSchema, type FieldgateConfig } from '../../src/config/schema.ts';
import { sourceBaseShape } from '../../src/core/config-common.ts';
import { FgError } from '../../src/core/errors.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { applyConfig } from '../../src/pipeline/reload.ts';
import { get, tempDir, testDrivers, tickerControl, until } from './health-testkit.ts';

const tmp = tempDir('fg-rollback-');
after(() => tmp.cleanup());

const brokenSchema = z.strictObject({ ...sourceBaseShape, type: z.literal('broken') });
/** A driver whose create() throws: a source that cannot even be built with this config. */
const brokenDriver = defineDriver<z.output<typeof brokenSchema>>({
  type: 'broken',
  description: 'test-only: create() throws',
  schema: brokenSchema,
  channelDefaults: { capacity: 8, whenFull: 'block' },
  create(cfg) {
    throw new FgError('FG_E_DRIVER_UNKNOWN', `broken ${cfg.id}: this driver never starts`);
  },
});

/** A simulator that listens on a real port and whose stop() never returns (ignores its deadline). */
const stubbornServers: Server[] = [];
const stubbornDriver = defineDriver<{ id: string; type: 'stubborn' }>({
  type: 'stubborn',
  description: 'test-only: a simulator that ignores stop',
  schema: z.strictObject({ ...sourceBaseShape, type: z.literal('stubborn') }),
  channelDefaults: { capacity: 8, whenFull: 'block' },
  create() {
    throw new Error('not a source');
  },
  simulator: {
    schema: z.strictObject({ type: z.literal('stubborn'), id: z.string() }),
    async start() {
      const server = createServer((s) => s.end());
      stubbornServers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as { port: number }).port;
      return { address: `127.0.0.1:${port}`, stop: () => new Promise<void>(() => {}) };
    },
  },
});
after(() => { for (const s of stubbornServers) s.close(); });

const drivers = [...testDrivers, brokenDriver, stubbornDriver];
const schema = buildConfigSchema(drivers);
const config = (doc: Record<string, unknown>): FieldgateConfig =>
  parseConfigText(stringify({ gateway: { id: 'gw-rollback', dataDir: tmp.dir }, ...doc }), 'rollback.yaml', tmp.dir, { schema });

interface Line { level: number; msg: string; stage?: string; code?: string }
function capture(): { lines: Line[]; log: Logger } {
  const lines: Line[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Line);
      cb();
    },
  });
  return { lines, log: createLogger({ level: 'info', format: 'json', destination }) };
}

/** Holds a loopback port (found with port 0) so a stage configured for it cannot listen. */
async function takenPort(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, close: () => new Promise((r) => server.close(() => r())) };
}

async function received(p: Pipeline, stage: string): Promise<number> {
  return (await p.metrics.received.get()).values.find((v) => v.labels.stage === stage)?.value ?? 0;
}

const ticker = (id: string, interval = '20ms') => ({ type: 'ticker', id, interval, tags: 2 });

test('a source whose new driver throws at start: the old source runs again with its old config, the other change applies', async () => {
  const { lines, log } = capture();
  const first = config({ sources: [ticker('a'), ticker('b')], health: { port: 0 } });
  const p = new Pipeline({ config: first, baseDir: tmp.dir, log, drivers });
  await p.start();
  try {
    await until('a and b read', async () => (await received(p, 'source.a')) > 3 && (await received(p, 'source.b')) > 3);
    const runsBefore = tickerControl.get('a')!.runs;
    // a becomes a source whose driver cannot be built; b's interval changes (must apply)
    const next = config({ sources: [{ type: 'broken', id: 'a' }, ticker('b', '30ms')], health: { port: 0 } });
    const r = await applyConfig(p, next, { deadlineMs: 2_000 });

    assert.equal(r.ok, false);
    assert.deepEqual(r.changes.sort(), ['source a rolled back: it runs its previous configuration', 'source b restarted (configuration changed)']);
    assert.equal(r.errors.length, 1);
    assert.match(r.errors[0]!, /^source a: the new configuration failed to start \(FG_E_DRIVER_UNKNOWN: broken a: this driver never starts\); the previous one was started again$/);
    // what runs is the old a and the new b, and the config says exactly that
    assert.deepEqual(p.config.sources, [first.sources[0], next.sources[1]]);
    assert.deepEqual(p.sources.map((s) => s.name).sort(), ['source.a', 'source.b']);
    assert.deepEqual(p.sources.find((s) => s.config.id === 'a')!.config, first.sources[0]);
    // ... and serves: a is read again (a new run of the ticker), the health server answers
    const aNow = await received(p, 'source.a');
    await until('a reads again', async () => (await received(p, 'source.a')) > aNow + 3);
    assert.ok(tickerControl.get('a')!.runs > runsBefore);
    const health = await get(`${p.health!.url}/healthz`);
    assert.equal(health.status, 200, health.body);
    // the log says which: the failure with its code, and the restore
    assert.ok(lines.some((l) => l.stage === 'source.a' && l.code === 'FG_E_RELOAD' && /starting the previous one again/.test(l.msg)));
    assert.ok(lines.some((l) => l.stage === 'source.a' && /stage restored/.test(l.msg)));
    // `fieldgate reload` prints it as partly applied, the rollback under "restarted", the error listed
    const printed = printReload({ pid: 1, why: 'test', startedAt: 0, finishedAt: 100, result: r });
    assert.match(printed, /reload partly applied/);
    assert.match(printed, /restarted:\n(.*\n)* {2}source a rolled back/);
    assert.match(printed, /errors:\n {2}source a: the new configuration failed/);

    // the next reload diffs against what runs: the same broken file fails the same way, a good one applies
    const again = await applyConfig(p, next, { deadlineMs: 2_000 });
    assert.deepEqual(again.changes, ['source a rolled back: it runs its previous configuration']);
    const good = await applyConfig(p, config({ sources: [ticker('a', '25ms'), ticker('b', '30ms')], health: { port: 0 } }));
    assert.ok(good.ok, good.errors.join('; '));
    assert.deepEqual(good.changes, ['source a restarted (configuration changed)']);
  } finally {
    await p.stop(2_000);
  }
});

test('an added source whose driver throws is not added; the running ones are untouched', async () => {
  const p = new Pipeline({ config: config({ sources: [ticker('c')], health: { enabled: false } }), baseDir: tmp.dir, log: createLogger({ level: 'silent' }), drivers });
  await p.start();
  try {
    const c = p.sources[0];
    const r = await applyConfig(p, config({ sources: [ticker('c'), { type: 'broken', id: 'd' }], health: { enabled: false } }));
    assert.equal(r.ok, false);
    assert.match(r.errors[0]!, /^source d: not added: FG_E_DRIVER_UNKNOWN/);
    assert.deepEqual(p.config.sources.map((s) => (s as { id: string }).id), ['c']);
    assert.equal(p.sources.length, 1);
    assert.equal(p.sources[0], c);
  } finally {
    await p.stop(2_000);
  }
});

test('a simulator moved onto a port in use: the old simulator listens again on its port and the source reading it goes on', async () => {
  const free = await takenPort();
  const port = free.port;
  await free.close(); // the simulator takes this one; the blocker below holds another
  const blocker = await takenPort();
  const sim = (p: number) => ({
    type: 'modbus', id: 'plc', port: p, host: '127.0.0.1',
    devices: [{ unit: 1, registers: [{ area: 'holding', address: 0, value: { kind: 'ramp', min: 0, max: 1000, period: '10s' } }] }],
  });
  const source = {
    type: 'modbus', id: 'm', interval: '20ms', timeout: '300ms',
    connection: { transport: 'tcp', host: '127.0.0.1', port },
    devices: [{ unit: 1, tags: [{ name: 'v', area: 'holding', address: 0 }] }],
  };
  const first = config({ simulators: [sim(port)], sources: [source], health: { enabled: false } });
  const p = new Pipeline({ config: first, baseDir: tmp.dir, log: createLogger({ level: 'silent' }), drivers });
  await p.start();
  try {
    await until('m reads the simulator', async () => (await received(p, 'source.m')) > 3);
    const r = await applyConfig(p, config({ simulators: [sim(blocker.port)], sources: [source], health: { enabled: false } }), { deadlineMs: 2_000 });
    assert.equal(r.ok, false);
    assert.match(r.errors[0]!, new RegExp(`^simulator plc: the new configuration failed to start \\(FG_E_PORT_IN_USE: simulator.plc cannot listen on 127.0.0.1:${blocker.port}`));
    assert.deepEqual(p.config.simulators, first.simulators);
    assert.equal(p.simulators.length, 1);
    assert.equal(p.simulators[0]!.address, `modbus-tcp://127.0.0.1:${port}`);
    const before = await received(p, 'source.m');
    await until('m reads the restored simulator', async () => (await received(p, 'source.m')) > before + 3 && p.sources[0]!.probe().state === 'up');
  } finally {
    await p.stop(2_000);
    await blocker.close();
  }
});

test('health moved onto a port in use: the previous health server answers again, the config keeps its settings', async () => {
  const blocker = await takenPort();
  const first = config({ sources: [ticker('h')], health: { port: 0 } });
  const p = new Pipeline({ config: first, baseDir: tmp.dir, log: createLogger({ level: 'silent' }), drivers });
  await p.start();
  try {
    const r = await applyConfig(p, config({ sources: [ticker('h')], health: { port: blocker.port } }), { deadlineMs: 2_000 });
    assert.equal(r.ok, false);
    assert.match(r.errors[0]!, /^health: .*already in use.*; the previous health settings stay$/);
    assert.deepEqual(p.config.health, first.health);
    const res = await get(`${p.health!.url}/healthz`);
    assert.equal(res.status, 200, res.body);
  } finally {
    await p.stop(2_000);
    await blocker.close();
  }
});

test('a stage that ignores its stop deadline does not hold pipeline.stop(): abandoned with FG_E_STOP_DEADLINE', async () => {
  const { lines, log } = capture();
  const p = new Pipeline({ config: config({ simulators: [{ type: 'stubborn', id: 'mule' }], sources: [ticker('s')], health: { enabled: false } }), baseDir: tmp.dir, log, drivers });
  await p.start();
  await until('s reads', async () => (await received(p, 'source.s')) > 2);
  // stop() never resolving would hang the test: race it against a bound far above the deadline
  let hung: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    p.stop(500).then(() => 'stopped'),
    new Promise<string>((resolve) => { hung = setTimeout(() => resolve('held'), 20_000); }),
  ]);
  clearTimeout(hung);
  assert.equal(outcome, 'stopped');
  const abandoned = lines.filter((l) => l.code === 'FG_E_STOP_DEADLINE');
  assert.deepEqual(abandoned.map((l) => l.stage), ['simulator.mule']);
  assert.ok(lines.some((l) => l.msg === 'pipeline stopped'));
  // the source stopped normally, before the simulator (sources first)
  assert.equal(p.sources[0]!.channel.closed, true);
});

test('a reload removing a stage that ignores its deadline completes after the deadline', async () => {
  const { lines, log } = capture();
  const p = new Pipeline({ config: config({ simulators: [{ type: 'stubborn', id: 'mule2' }], health: { enabled: false } }), baseDir: tmp.dir, log, drivers });
  await p.start();
  try {
    const r = await applyConfig(p, config({ health: { enabled: false } }), { deadlineMs: 300 });
    assert.ok(r.ok, r.errors.join('; '));
    assert.deepEqual(r.changes, ['simulator mule2 removed']);
    assert.deepEqual(p.config.simulators, []);
    assert.ok(lines.some((l) => l.code === 'FG_E_STOP_DEADLINE' && l.stage === 'simulator.mule2'));
  } finally {
    await p.stop(1_000);
  }
});
