// A real pipeline (Modbus simulator on loopback -> source -> router -> SQLite outbox) with the
// health stage: probes flip when the simulator dies and come back when it returns, /readyz goes
// 503 then 200, /api/status and /metrics describe it, and nothing is left open after stop().
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startModbusSimulator, type ModbusSimulator } from '../../drivers/modbus/sim/server.ts';
import { simConfig } from '../support/modbus/testing.ts';
import type { StatusDocument } from '../../src/health/status.ts';
import { silentLogger } from '../../src/log.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { get, tempDir, testConfig, testDrivers, until } from './health-testkit.ts';

const sim = () => simConfig({ devices: [{ unit: 1, registers: [{ area: 'holding', address: 0, value: { kind: 'sine', amplitude: 10, offset: 50, period: '5s' } }] }] });

let simulator: ModbusSimulator;
let port = 0;
const tmp = tempDir();
after(() => tmp.cleanup());

before(async () => {
  simulator = await startModbusSimulator(sim());
  port = simulator.port;
});

function config() {
  return testConfig({
    gateway: { id: 'gw-health', dataDir: tmp.dir },
    sources: [
      {
        type: 'modbus', id: 'press', interval: '50ms', timeout: '200ms',
        reconnect: { initial: '50ms', max: '200ms' },
        connection: { transport: 'tcp', host: '127.0.0.1', port, connectTimeout: '300ms' },
        devices: [{ unit: 1, tags: [{ name: 'temp', area: 'holding', address: 0 }] }],
      },
    ],
    health: { port: 0, probes: { unhealthy: '100ms', stable: '400ms' }, readiness: { maxDataAge: '1s' }, watchdog: { heartbeatTimeout: '5s' } },
  }, tmp.dir);
}

async function status(url: string): Promise<StatusDocument> {
  const r = await get(`${url}/api/status`);
  assert.equal(r.status, 200);
  return JSON.parse(r.body) as StatusDocument;
}

test('probes flip when the simulator dies and come back when it returns; /readyz 503 then 200', async () => {
  const handlesBefore = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').length;
  const p = new Pipeline({ config: config(), baseDir: tmp.dir, log: silentLogger(), drivers: testDrivers });
  await p.start();
  try {
    const url = p.health!.url!;
    await until('ready', async () => (await get(`${url}/readyz`)).status === 200);
    let st = await status(url);
    const names = st.stages.map((s) => `${s.kind}:${s.name}`);
    for (const n of ['health:health', 'outbox:outbox', 'router:router', 'source:source.press']) assert.ok(names.includes(n), `${n} in ${names.join(', ')}`);
    const src = st.stages.find((s) => s.name === 'source.press')!;
    assert.equal(src.state, 'up');
    assert.equal(src.channel?.capacity, 64);
    assert.ok(st.ready.ok);

    // the device goes away
    await simulator.stop();
    const down = await until('readyz 503', async () => {
      const r = await get(`${url}/readyz`);
      return r.status === 503 ? (JSON.parse(r.body) as { reasons: string[] }) : undefined;
    }, 10_000);
    assert.ok(down.reasons.some((r) => r.includes('source.press')), down.reasons.join('; '));
    st = await status(url);
    const s2 = st.stages.find((s) => s.name === 'source.press')!;
    assert.equal(s2.state, 'down');
    assert.match(s2.reason ?? '', /not connected/);
    assert.equal(st.totals.state, 'down');
    assert.ok(st.events.some((e) => e.source === 'source.press' && e.kind === 'health' && e.severity === 'critical'));
    assert.equal((await get(`${url}/healthz`)).status, 200, 'a device away is not a reason to restart the process');

    // and comes back on the same port
    simulator = await startModbusSimulator({ ...sim(), port });
    await until('readyz 200 again', async () => (await get(`${url}/readyz`)).status === 200, 15_000);
    st = await status(url);
    assert.equal(st.stages.find((s) => s.name === 'source.press')!.state, 'up');
    assert.ok(st.events.some((e) => e.source === 'source.press' && e.kind === 'health' && e.severity === 'info'), 'the recovery is an event too');
    // rates are measured over windows of at least a second
    st = await until('a samples/s figure', async () => { const d = await status(url); return d.totals.samplesPerS > 0 ? d : undefined; });
    assert.ok(st.stages.find((s) => s.name === 'source.press')!.rates.in > 0);
    assert.ok((st.totals.backlog ?? 0) > 0, 'the outbox backlog is reported');

    const metrics = (await get(`${url}/metrics`)).body;
    assert.match(metrics, /fieldgate_stage_health\{stage="source.press",kind="source",state="up"\} 1/);
    assert.match(metrics, /fieldgate_records_received_total\{stage="router"\} [1-9]/);
    assert.match(metrics, /fieldgate_channel_depth\{channel="source.press"\}/);
    assert.match(metrics, /fieldgate_nodejs_eventloop_lag_seconds/, 'process and event-loop metrics');
  } finally {
    await p.stop(5_000);
    await simulator.stop();
  }
  // nothing the pipeline opened is still there (the test runner's own handles were there before)
  await new Promise((r) => setTimeout(r, 50));
  const left = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap');
  assert.ok(left.length <= handlesBefore, `handles before ${handlesBefore}, after stop: ${left.join(', ')}`);
});

test('a port in use stops the pipeline before any device is touched, with FG_E_PORT_IN_USE', async () => {
  const first = new Pipeline({ config: config(), baseDir: tmp.dir, log: silentLogger(), drivers: testDrivers });
  await first.start();
  try {
    const cfg = config();
    cfg.health.port = first.health!.port!;
    simulator = await startModbusSimulator({ ...sim(), port });
    const before = simulator.connections;
    const second = new Pipeline({ config: { ...cfg, gateway: { ...cfg.gateway, dataDir: `${tmp.dir}/second` } }, baseDir: tmp.dir, log: silentLogger(), drivers: testDrivers });
    await assert.rejects(second.start(), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'FG_E_PORT_IN_USE');
      assert.match(e.message, new RegExp(`:${cfg.health.port}`));
      assert.match(e.message, /health\.port/);
      return true;
    });
    assert.equal(simulator.connections, before, 'no source connected');
  } finally {
    await first.stop(5_000);
    await simulator.stop();
  }
});
