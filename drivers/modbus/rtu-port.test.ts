/**
 * The one private field of modbus-serial the RTU wires use (`_port._buffer`, see rtu-port.ts):
 * modbus-serial is pinned to an exact version, and these tests fail the moment either the pin
 * or the field's shape changes, instead of the RTU quiet-after-timeout silently doing nothing.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import ModbusSerial from 'modbus-serial';
import type { ModbusRTU } from 'modbus-serial/ModbusRTU.js';
import { RtuWire, rtuPortOf } from './rtu-port.ts';

const require = createRequire(import.meta.url);

test('modbus-serial is pinned to the exact version installed', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
  const installed = (require('modbus-serial/package.json') as { version: string }).version;
  assert.match(pkg.dependencies['modbus-serial']!, /^\d+\.\d+\.\d+$/, 'an exact version, no range');
  assert.equal(installed, pkg.dependencies['modbus-serial']);
});

test("RTU over TCP (telnet port): received bytes sit in _port._buffer, and discardReceived empties it", async () => {
  const server = net.createServer((s) => s.write(Buffer.from([0x01, 0x03, 0x02]))); // a partial frame, unasked
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const client = await RtuWire.connect({ transport: 'rtu-over-tcp', host: '127.0.0.1', port, connectTimeout: 1000 });
  const owner = { answer: () => {}, broken: () => {}, closed: () => {}, stray: () => {} };
  const wire = new RtuWire(client, owner, false);
  try {
    const deadline = performance.now() + 2000;
    while ((rtuPortOf(client)?._buffer.length ?? 0) < 3 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.ok(rtuPortOf(client), 'modbus-serial telnet port has no Buffer _buffer: its shape changed');
    assert.equal(rtuPortOf(client)!._buffer.length, 3);
    wire.discardReceived();
    assert.equal(rtuPortOf(client)!._buffer.length, 0);
  } finally {
    wire.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('serial RTU (buffered port): the port keeps received bytes in _buffer', () => {
  // the port is built without opening a device: only its shape is looked at
  const Port = (ModbusSerial as unknown as { RTUBufferedPort: new (path: string, opts: object) => { _buffer?: unknown; _client: { emit: (e: string, d: Buffer) => void } } }).RTUBufferedPort;
  const port = new Port('/dev/null-fieldgate-test', { baudRate: 9600 });
  assert.ok(Buffer.isBuffer(port._buffer), 'modbus-serial RTUBufferedPort has no Buffer _buffer: its shape changed');
  port._client.emit('data', Buffer.from([0x07, 0x03]));
  assert.equal((port._buffer as Buffer).length, 2);
  const client = new ModbusSerial.default(port as never) as unknown as ModbusRTU;
  assert.ok(rtuPortOf(client));
});
