// The overload rule with real parts: a Modbus simulator read by the real driver, an MQTT sink to a
// real broker (aedes) behind a proxy that passes half of what the gateway publishes (a healthy
// upstream that is too slow). The sources shed polls (counted, reason shed), the sink's lag stays
// bounded, shedding ends when the upstream is fast again, an upstream that is DOWN never makes
// anyone shed, and nothing accepted is lost: the broker gets every accepted sample, in order.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { startModbusSimulator } from '../../drivers/modbus/sim/server.ts';
import { simConfig } from '../support/modbus/testing.ts';
import { silentLogger } from '../../src/log.ts';
import type { OverloadGovernor } from '../../src/pipeline/overload.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { TestBroker } from '../support/mqtt/test-broker.ts';
import { ThrottleProxy } from '../support/throttle-proxy.ts';
import { tempDir, testConfig, testDrivers, until } from './health-testkit.ts';
import { metric } from '../support/pipeline-metrics.ts';

const tmp = tempDir('fg-overload-');
after(() => tmp.cleanup());

const TAGS = 40;

interface Rec { id: string; kind: string; source: string }
const seqOf = (r: Rec): number => Number(r.id.slice(r.id.lastIndexOf(':') + 1));


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a connected upstream too slow for ingestion: sources shed polls (counted), lag stays bounded, nothing accepted is lost; a dead upstream sheds nothing', async () => {
  const simulator = await startModbusSimulator(simConfig({
    devices: [{ unit: 1, registers: Array.from({ length: TAGS }, (_, a) => ({ area: 'holding', address: a, value: { kind: 'ramp', min: 0, max: 30000, period: `${10 + a}s` } })) }],
  }));
  const broker = new TestBroker();
  await broker.start();
  const proxy = new ThrottleProxy(broker.port);
  await proxy.start();
  const cfg = testConfig({
    gateway: { id: 'gw-over', dataDir: `${tmp.dir}/data` },
    sources: [{
      type: 'modbus', id: 'plc', interval: '20ms', timeout: '500ms',
      reconnect: { initial: '50ms', max: '200ms' },
      connection: { transport: 'tcp', host: '127.0.0.1', port: simulator.port, connectTimeout: '500ms' },
      devices: [{ unit: 1, tags: Array.from({ length: TAGS }, (_, a) => ({ name: `r${a}`, area: 'holding', address: a })) }],
    }],
    outbox: { commitInterval: '10ms' },
    // shedAt is left at its default (500 ms)
    sinks: [{ type: 'mqtt', id: 'up', url: `mqtt://127.0.0.1:${proxy.port}`, batchSize: 100, backoff: { initial: '100ms', max: '300ms' }, connectTimeout: '1s' }],
    health: { enabled: false },
  }, tmp.dir);
  const p = new Pipeline({ config: cfg, baseDir: tmp.dir, log: silentLogger(), drivers: testDrivers });
  const overload = p.ctx.overload as OverloadGovernor;
  const shed = () => metric(p, 'overruns', { stage: 'source.plc', reason: 'shed' });
  const sinkUp = () => p.sinks[0]!.probe().state === 'up';
  await p.start();
  try {
    await until('data at the broker', () => broker.received.length > 10, 10_000);
    // (a machine too busy to keep up sheds too, by the same rule: so shedding is counted from here)

    // what the gateway publishes per second, unthrottled; then the link passes half of it
    const f0 = proxy.forwarded;
    const t0 = performance.now();
    await sleep(2_000);
    const perSecond = ((proxy.forwarded - f0) * 1000) / (performance.now() - t0);
    const shedBeforeThrottle = await shed();
    proxy.rate = perSecond / 2;

    await until('the source sheds polls', async () => (await shed()) > shedBeforeThrottle + 10 && overload.share < 1, 15_000);
    // over the next seconds the lag stays near its bound: 500 ms at 2x overload peaks near 1 s
    let maxLag = 0;
    const cursor = p.outbox.cursor('up');
    const shedAtStart = await shed();
    for (const end = Date.now() + 5_000; Date.now() < end;) {
      maxLag = Math.max(maxLag, cursor.lagMs());
      await sleep(50);
    }
    assert.ok(maxLag < 3_000, `lag stayed bounded while shedding (max ${Math.round(maxLag)} ms)`);
    assert.ok((await shed()) > shedAtStart, 'and the source kept shedding meanwhile');
    assert.ok(sinkUp(), 'the sink stayed connected');

    // the link is fast again: shedding ends by itself
    proxy.rate = 0;
    await until('shedding ends', () => overload.share === 1, 15_000);

    // the upstream dies: the outbox keeps everything for it and nobody sheds
    await broker.stop();
    await until('the sink sees its upstream down', () => !sinkUp(), 10_000);
    // a disconnected sink reports nothing: whatever share was left recovers within a few ticks
    await until('no shedding without a connected sink', () => overload.share === 1, 5_000);
    const shedBefore = await shed();
    await sleep(3_000);
    assert.equal(await shed(), shedBefore, 'no poll shed while the upstream is down');
    assert.equal(overload.share, 1);
    await broker.start();
    await until('the sink drains after the outage', () => sinkUp() && p.outbox.cursor('up').backlog() === 0, 20_000);
  } finally {
    await p.stop(5_000);
    await proxy.stop();
    await broker.stop();
    await simulator.stop();
  }
  // nothing accepted is lost: every sample the router had accepted reached the broker, in order
  const accepted = await metric(p, 'sent', { stage: 'router' });
  const seen = new Set<number>();
  let last = 0;
  let inOrder = true;
  for (const m of broker.received) {
    for (const r of (JSON.parse(m.payload.toString()) as { records: Rec[] }).records) {
      if (r.kind !== 'sample') continue;
      const s = seqOf(r);
      if (seen.has(s)) continue; // a replay after the outage: the same id again
      if (s < last) inOrder = false;
      last = s;
      seen.add(s);
    }
  }
  assert.equal(seen.size, accepted, `the broker got ${seen.size} distinct samples of ${accepted} accepted`);
  assert.ok(inOrder, 'first deliveries in seq order');
  assert.equal(await metric(p, 'dropped', { stage: 'sink.up' }), 0, 'the sink dropped nothing');
  const shedTotal = await shed();
  assert.ok(shedTotal > 0);
  // skipped polls are polls, not samples: the source read fewer samples, none was accepted and lost
  assert.equal(await metric(p, 'dropped', { stage: 'source.plc' }), 0);
});
