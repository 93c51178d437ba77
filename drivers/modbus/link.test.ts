import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModbusLink, type ReadError } from './link.ts';
import { startModbusSimulator } from './sim/server.ts';
import { simConfig } from '../../test/support/modbus/testing.ts';

const devices = [1, 2, 3].map((unit) => ({ unit, registers: [{ area: 'holding', address: 0, value: unit }] }));

test('one request at a time, rotating round-robin between unit ids', async () => {
  const order: number[] = [];
  const sim = await startModbusSimulator(simConfig({ transport: 'rtu-over-tcp', devices }), { onRequest: (u) => order.push(u) });
  const link = new ModbusLink({ connection: { transport: 'rtu-over-tcp', host: '127.0.0.1', port: sim.port, connectTimeout: 1000 }, requestDelay: 0 });
  try {
    await link.connect(AbortSignal.timeout(2000));
    const reads = [1, 1, 1, 1, 2, 3, 3].map((u) => link.read(u, 'holding', 0, 1, 1000));
    const bufs = await Promise.all(reads);
    assert.deepEqual(bufs.map((b) => b.readUInt16BE(0)), [1, 1, 1, 1, 2, 3, 3]);
    // reads submitted together rotate between units instead of draining unit 1 first
    assert.deepEqual(order, [1, 2, 3, 1, 3, 1, 1]);
  } finally {
    await link.close();
    await sim.stop();
  }
});

test('requestDelay spaces requests; exceptions and disconnects reject with their reason', async () => {
  const sim = await startModbusSimulator(simConfig({ devices }));
  const link = new ModbusLink({ connection: { transport: 'tcp', host: '127.0.0.1', port: sim.port, maxInFlight: 1, connectTimeout: 1000 }, requestDelay: 30 });
  try {
    await link.connect(AbortSignal.timeout(2000));
    const t0 = performance.now();
    await Promise.all([1, 2, 3, 1].map((u) => link.read(u, 'holding', 0, 1, 1000)));
    assert.ok(performance.now() - t0 >= 85, 'three pauses of 30 ms between four requests');
    await assert.rejects(link.read(1, 'holding', 65530, 10, 1000), (e: ReadError) => e.reason === 'exception 2' && e.code === 'FG_E_MODBUS_EXCEPTION');
    await assert.rejects(link.read(1, 'holding', 0, 126, 1000), (e: ReadError) => e.reason === 'exception 3');
    const lost = new Promise<string>((r) => link.onCloseOnce(r));
    sim.faults.delayMs = 500;
    const pending = link.read(2, 'holding', 0, 1, 2000);
    setTimeout(() => sim.dropConnections(), 50);
    await assert.rejects(pending, (e: ReadError) => e.reason === 'disconnected');
    // a FIN gives 'connection closed'; a reset gives the socket's error (the simulator drops the
    // connection before or after reading the request: a race on a busy machine)
    assert.match(await lost, /^(connection closed|read ECONNRESET)$/);
    assert.equal(link.connected, false);
  } finally {
    await link.close();
    await sim.stop();
  }
});

test('connect failures carry FG_E_MODBUS_CONNECT', async () => {
  const sim = await startModbusSimulator(simConfig({ devices }));
  const port = sim.port;
  await sim.stop(); // nothing listens there now
  const link = new ModbusLink({ connection: { transport: 'tcp', host: '127.0.0.1', port, maxInFlight: 1, connectTimeout: 1000 }, requestDelay: 0 });
  await assert.rejects(link.connect(AbortSignal.timeout(2000)), (e: Error & { code?: string }) => e.code === 'FG_E_MODBUS_CONNECT' && /ECONNREFUSED/.test(e.message));
  await assert.rejects(link.read(1, 'holding', 0, 1, 100), (e: ReadError) => e.reason === 'disconnected');
});
