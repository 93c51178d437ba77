/**
 * The driver's Modbus TCP wire against a hand-driven device on loopback: the device decides how
 * its answers are cut into TCP segments and in which order they go, which the simulator does not.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { ModbusLink, type ReadError } from './link.ts';
import { mbapFrame, parseMbap } from './sim/frames.ts';

interface Request {
  txid: number;
  unit: number;
  fc: number;
  start: number;
  count: number;
}

/** Register i of unit u holds u * 1000 + i; requests are handed to `answer`, which writes them. */
async function device(answer: (socket: net.Socket, reqs: Request[]) => void | Promise<void>): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const reqs: Request[] = [];
      const used = parseMbap(buf, (txid, unit, pdu) => reqs.push({ txid, unit, fc: pdu[0]!, start: pdu.readUInt16BE(1), count: pdu.readUInt16BE(3) }));
      buf = buf.subarray(used);
      if (reqs.length > 0) void answer(socket, reqs);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function response(r: Request): Buffer {
  const pdu = Buffer.alloc(2 + r.count * 2);
  pdu[0] = r.fc;
  pdu[1] = r.count * 2;
  for (let i = 0; i < r.count; i++) pdu.writeUInt16BE(r.unit * 1000 + r.start + i, 2 + i * 2);
  return mbapFrame(r.txid, r.unit, r.fc, { pdu });
}

async function withLink(port: number, maxInFlight: number, fn: (link: ModbusLink) => Promise<void>): Promise<void> {
  const link = new ModbusLink({ connection: { transport: 'tcp', host: '127.0.0.1', port, maxInFlight, connectTimeout: 1000 }, requestDelay: 0 });
  try {
    await link.connect(AbortSignal.timeout(2000));
    await fn(link);
  } finally {
    await link.close();
  }
}

const values = (b: Buffer): number[] => Array.from({ length: b.length / 2 }, (_, i) => b.readUInt16BE(i * 2));

test('answers cut into single bytes, several in one segment, and out of order each reach their own request', async () => {
  let mode: 'bytes' | 'together-reversed' = 'bytes';
  const held: Request[] = [];
  const dev = await device(async (socket, reqs) => {
    if (mode === 'bytes') {
      for (const r of reqs) {
        for (const byte of response(r)) {
          socket.write(Buffer.from([byte]));
          await turn(); // each byte its own segment, as far as loopback allows
        }
      }
      return;
    }
    held.push(...reqs);
    if (held.length < 4) return;
    // all four answers in one write, last request first
    socket.write(Buffer.concat(held.splice(0).reverse().map(response)));
  });
  try {
    await withLink(dev.port, 4, async (link) => {
      assert.deepEqual(values(await link.read(3, 'holding', 10, 3, 2000)), [3010, 3011, 3012]);
      mode = 'together-reversed';
      const got = await Promise.all([1, 2, 3, 4].map((u) => link.read(u, 'holding', u, 2, 2000)));
      assert.deepEqual(got.map(values), [[1001, 1002], [2002, 2003], [3003, 3004], [4004, 4005]]);
    });
  } finally {
    await dev.close();
  }
});

test('a stream that is not Modbus TCP drops the connection: the pending read fails with the reason, none hangs', async () => {
  const dev = await device((socket, reqs) => {
    // an MBAP header claiming 0 bytes follow: no device sends that
    socket.write(Buffer.from([reqs[0]!.txid >> 8, reqs[0]!.txid & 0xff, 0, 0, 0, 0, 1, 3]));
  });
  try {
    await withLink(dev.port, 1, async (link) => {
      const lost = new Promise<string>((r) => link.onCloseOnce(r));
      await assert.rejects(link.read(1, 'holding', 0, 1, 2000), (e: ReadError) => e.reason === 'MBAP length 0, expected 2..254; connection dropped for 1 holding register at 0' && e.code === 'FG_E_MODBUS_FRAME');
      assert.equal(await lost, 'MBAP length 0, expected 2..254; connection dropped');
      assert.equal(link.connected, false);
    });
  } finally {
    await dev.close();
  }
});

test('an unanswered request times out on the link timer; a late answer is ignored and the next read gets its own', async () => {
  let first = true;
  let late: (() => void) | undefined;
  const dev = await device((socket, reqs) => {
    for (const r of reqs) {
      if (first) {
        first = false;
        late = () => socket.write(response(r)); // sent only after the timeout
      } else socket.write(response(r));
    }
  });
  try {
    await withLink(dev.port, 1, async (link) => {
      const t0 = performance.now();
      await assert.rejects(link.read(1, 'holding', 0, 2, 150), (e: ReadError) => e.reason === 'timeout');
      const waited = performance.now() - t0;
      assert.ok(waited >= 145 && waited < 1000, `timed out after ${waited.toFixed(0)} ms`);
      late!();
      assert.deepEqual(values(await link.read(2, 'holding', 5, 1, 1000)), [2005]);
    });
  } finally {
    await dev.close();
  }
});
