// One dead upstream does not hold the others hostage, with real parts: a Modbus simulator read by
// the real driver, a file sink, and an MQTT sink to a real broker (aedes) that is stopped for
// longer than the MQTT sink's lag bound. The file sink gets every record, the source skips no
// poll, the MQTT sink's skipped records are counted on it (reason lag), and once the broker is
// back it goes on in order from its new cursor. Then the device dies and comes back: the gateway
// events (stage down, stage up) arrive upstream through the outbox.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { startModbusSimulator, type ModbusSimulator } from '../../drivers/modbus/sim/server.ts';
import { simConfig } from '../support/modbus/testing.ts';
import { silentLogger } from '../../src/log.ts';
import { assertSourceAccounting } from '../support/outbox/testing.ts';
import type { OverloadGovernor } from '../../src/pipeline/overload.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { TestBroker } from '../support/mqtt/test-broker.ts';
import { tempDir, testConfig, testDrivers, until } from './health-testkit.ts';
import { metric } from '../support/pipeline-metrics.ts';

const tmp = tempDir('fg-sink-lag-');
after(() => tmp.cleanup());

const sim = () => simConfig({
  devices: [{ unit: 1, registers: [
    { area: 'holding', address: 0, value: { kind: 'ramp', min: 0, max: 30000, period: '10m' } },
    { area: 'holding', address: 1, value: { kind: 'sine', amplitude: 10, offset: 50, period: '5s' } },
    { area: 'holding', address: 2, value: { kind: 'sine', amplitude: 5, offset: 20, period: '7s' } },
    { area: 'holding', address: 3, value: { kind: 'ramp', min: 0, max: 1000, period: '1m' } },
  ] }],
});

interface Rec { id: string; kind: string; source: string; type?: string; data?: Record<string, unknown> }
const seqOf = (r: Rec): number => Number(r.id.slice(r.id.lastIndexOf(':') + 1));


test('a dead MQTT upstream past its lag bound: the file sink gets everything, no poll skipped, drops counted on the MQTT sink; gateway events upstream', async () => {
  let simulator: ModbusSimulator = await startModbusSimulator(sim());
  const port = simulator.port;
  const broker = new TestBroker();
  await broker.start();
  const filePath = join(tmp.dir, 'hist.jsonl');
  const cfg = testConfig({
    gateway: { id: 'gw-lag', dataDir: join(tmp.dir, 'data') },
    sources: [{
      type: 'modbus', id: 'plc', interval: '200ms', timeout: '300ms',
      reconnect: { initial: '50ms', max: '200ms' },
      connection: { transport: 'tcp', host: '127.0.0.1', port, connectTimeout: '300ms' },
      devices: [{ unit: 1, tags: [0, 1, 2, 3].map((a) => ({ name: `r${a}`, area: 'holding', address: a })) }],
    }],
    outbox: { commitInterval: '10ms' },
    sinks: [
      // the file sink never sheds (shedAt 0): what is shed during the outage could only be the dead sink's doing
      { type: 'file', id: 'hist', path: filePath, maxBytes: '1GB', shedAt: 0 },
      { type: 'mqtt', id: 'cloud', url: broker.url, maxLag: { records: 50 }, backoff: { initial: '100ms', max: '300ms' }, connectTimeout: '1s' },
    ],
    health: { port: 0, probes: { unhealthy: '100ms', stable: '400ms' }, watchdog: { heartbeatTimeout: '10s' } },
  }, tmp.dir);
  const p = new Pipeline({ config: cfg, baseDir: tmp.dir, log: silentLogger(), drivers: testDrivers });
  await p.start();
  const received = (): Rec[] => broker.received.flatMap((m) => (JSON.parse(m.payload.toString()) as { records: Rec[] }).records);
  try {
    await until('records at the broker', () => received().length > 20, 10_000);

    // the upstream dies for longer than its bound (50 records = 2.5 s at 20 samples/s)
    // (a poll can overrun while the first connection is made: counted from here). Only polls
    // skipped because the channel was full count: a poll late on a busy machine is no backpressure.
    const overrunsBefore = await metric(p, 'overruns', { stage: 'source.plc', reason: 'full' });
    await broker.stop();
    const outageAt = Date.now();
    // the overload rule never counts a sink whose upstream is down (on a busy machine the live
    // sinks may have made the sources shed before: counted from the moment the cloud sink is down)
    const overload = p.ctx.overload as OverloadGovernor;
    const cloudSink = p.sinks.find((s) => s.name === 'sink.cloud')!;
    await until('the cloud sink is down and nothing is shed', () => cloudSink.probe().state === 'down' && overload.share === 1, 10_000);
    const shedBefore = await metric(p, 'overruns', { stage: 'source.plc', reason: 'shed' });
    const lastBefore = Math.max(...received().map(seqOf));
    await until('the MQTT sink skips records (lag)', async () => (await metric(p, 'dropped', { stage: 'sink.cloud', reason: 'lag' })) > 0 && Date.now() - outageAt > 5_000, 20_000);
    const cloud = p.sinks.find((s) => s.name === 'sink.cloud')!;
    assert.ok((cloud.probe().details as { backlog: number }).backlog <= 50 + 20, 'the dead sink holds at most its bound (and what came since the last commit)');
    const hist = p.sinks.find((s) => s.name === 'sink.hist')!;
    assert.ok((hist.probe().details as { backlog: number }).backlog < 200, 'the file sink keeps up meanwhile');
    assert.equal(await metric(p, 'overruns', { stage: 'source.plc', reason: 'full' }), overrunsBefore, 'no poll skipped for backpressure while the upstream is dead');
    assert.equal(await metric(p, 'overruns', { stage: 'source.plc', reason: 'shed' }), shedBefore, 'no poll shed for a dead upstream (the overload rule is for connected sinks)');
    assert.equal(await metric(p, 'dropped', { stage: 'sink.hist' }), 0);

    // back: it goes on from its new cursor, in order
    const before = broker.received.length;
    await broker.start();
    await until('the MQTT sink drains', () => cloud.probe().state === 'up' && (cloud.probe().details as { backlog: number }).backlog === 0 && broker.received.length > before + 3, 15_000);
    const after = broker.received.slice(before).flatMap((m) => (JSON.parse(m.payload.toString()) as { records: Rec[] }).records).map(seqOf);
    const fresh = after.filter((s) => s > lastBefore);
    assert.ok(fresh.length > 0);
    for (let i = 1; i < fresh.length; i++) assert.ok(fresh[i]! > fresh[i - 1]!, `in order after the return (${fresh[i - 1]} then ${fresh[i]})`);

    // the device dies and comes back: stage down / up events reach the broker through the outbox
    await simulator.stop();
    const events = (): Rec[] => received().filter((r) => r.kind === 'event' && r.source === 'gateway' && r.data?.stage === 'source.plc');
    await until('a stage-down event upstream', () => events().some((e) => e.type === 'stage-down'), 15_000);
    simulator = await startModbusSimulator({ ...sim(), port });
    await until('a stage-up event upstream', () => events().some((e) => e.type === 'stage-up'), 15_000);
    const down = events().find((e) => e.type === 'stage-down')!;
    assert.ok(typeof down.data?.reason === 'string' && down.data.reason.length > 0, 'with the reason');
    assert.ok(received().some((r) => r.kind === 'event' && r.type === 'sink-behind' && r.data?.sink === 'cloud'), 'the lag was an event too');
  } finally {
    await p.stop(5_000);
    await simulator.stop();
    await broker.stop();
  }
  // accounting, per sink, over the whole run: accepted = delivered + dropped (every record settled at stop)
  const accepted = p.outbox.stats().accepted;
  const lines = readFileSync(filePath, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Rec);
  const histSent = await metric(p, 'sent', { stage: 'sink.hist' });
  const cloudSent = await metric(p, 'sent', { stage: 'sink.cloud' });
  const cloudDropped = await metric(p, 'dropped', { stage: 'sink.cloud' });
  const cloudOwed = p.outbox.cursor('cloud').backlog();
  const histOwed = p.outbox.cursor('hist').backlog();
  assert.equal(histSent + histOwed, accepted, `hist: ${histSent} delivered + ${histOwed} owed = ${accepted} accepted`);
  assert.equal(lines.length, histSent, 'the file holds what was counted delivered');
  assert.deepEqual(lines.map(seqOf), Array.from({ length: lines.length }, (_, i) => i + 1), 'every record, in order');
  // per source, for the sink that lost nothing: the samples the router got accepted, the gateway's events
  const samplesAccepted = await metric(p, 'sent', { stage: 'router' });
  const eventsAccepted = await metric(p, 'sent', { stage: 'gateway-events' });
  assert.equal(lines.filter((r) => r.kind === 'sample' && r.source === 'plc').length, samplesAccepted, 'hist: every sample of source plc');
  assert.equal(lines.filter((r) => r.kind === 'event' && r.source === 'gateway').length, eventsAccepted, 'hist: every event of source gateway');
  assert.equal(samplesAccepted + eventsAccepted, accepted);
  assert.equal(cloudSent + cloudDropped + cloudOwed, accepted, `cloud: ${cloudSent} delivered + ${cloudDropped} dropped + ${cloudOwed} owed = ${accepted}`);
  assert.ok(cloudDropped > 0);
  const unique = new Set(received().map((r) => r.id));
  assert.ok(unique.size >= cloudSent, 'the broker got at least what was counted delivered');
  // and per source, for both sinks: accepted = confirmed + dropped (lag) + pending, each record once
  const a = await assertSourceAccounting(p.outbox, p.metrics);
  assert.deepEqual(a.accepted, { plc: samplesAccepted, gateway: eventsAccepted });
  for (const source of ['plc', 'gateway']) {
    assert.equal(a.sinks.hist!.confirmed[source], lines.filter((r) => r.source === source).length, `hist confirmed ${source} = the lines of ${source} in its file`);
  }
  assert.ok((a.sinks.cloud!.dropped.plc?.lag ?? 0) > 0, 'the cloud sink\'s lag drops are counted on source plc');
  const cloudGot = new Set(received().filter((r) => r.source === 'plc').map((r) => r.id)).size;
  assert.ok(cloudGot >= a.sinks.cloud!.confirmed.plc!, 'the broker got at least the plc records counted confirmed');
});
