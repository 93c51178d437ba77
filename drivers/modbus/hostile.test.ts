/**
 * The driver against misbehaving Modbus TCP devices: a raw `net` server on loopback that sends
 * hand-made bytes. For every case: the source keeps running, no sample with a wrong value is
 * `good`, the error is counted under its code (and per device), and the log stays bounded.
 *
 * The device's true registers hold 1000 + address; a hostile answer carries 0xDEAD in every
 * data register (and 0xFF in every coil byte), so a hostile answer taken as good shows up as a
 * wrong value. The cases run side by side (each its own device and source) to keep this fast.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import type { Sample } from '../../src/core/sample.ts';
import { ModbusSource } from './source.ts';
import { deviceErrorCount, errorCount, sourceConfig, sourceContext } from '../../test/support/modbus/testing.ts';

interface Req {
  tid: number;
  unit: number;
  fc: number;
  start: number;
  count: number;
}

/** What the device does with one request: bytes to send now or after `delay`, or nothing. */
type Behaviour = (req: Req, socket: net.Socket, n: number) => void;

const UNIT = 1;
const TIMEOUT = 300;

function trueData(req: Req): Buffer {
  if (req.fc <= 2) {
    const b = Buffer.alloc((req.count + 7) >> 3);
    for (let i = 0; i < req.count; i++) if ((req.start + i) % 3 === 0) b[i >> 3]! |= 1 << (i & 7);
    return b;
  }
  const b = Buffer.alloc(req.count * 2);
  for (let i = 0; i < req.count; i++) b.writeUInt16BE(1000 + req.start + i, i * 2);
  return b;
}

function hostileData(req: Req, bytes = req.fc <= 2 ? (req.count + 7) >> 3 : req.count * 2): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) b[i] = req.fc <= 2 ? 0xff : i % 2 === 0 ? 0xde : 0xad;
  return b;
}

/** MBAP frame with every field given; `length` defaults to the true one. */
function frame(f: { tid: number; proto?: number; length?: number; unit: number; pdu: Buffer }): Buffer {
  const b = Buffer.alloc(7 + f.pdu.length);
  b.writeUInt16BE(f.tid, 0);
  b.writeUInt16BE(f.proto ?? 0, 2);
  b.writeUInt16BE(f.length ?? 1 + f.pdu.length, 4);
  b[6] = f.unit;
  f.pdu.copy(b, 7);
  return b;
}

const pdu = (fc: number, bc: number, data: Buffer): Buffer => Buffer.concat([Buffer.from([fc, bc]), data]);
const good = (r: Req): Buffer => frame({ tid: r.tid, unit: r.unit, pdu: pdu(r.fc, trueData(r).length, trueData(r)) });

async function device(behave: Behaviour, onConnect?: (s: net.Socket) => void): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    if (onConnect) {
      onConnect(socket);
      return;
    }
    let buf = Buffer.alloc(0);
    let n = 0;
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 12) {
        const req = { tid: buf.readUInt16BE(0), unit: buf[6]!, fc: buf[7]!, start: buf.readUInt16BE(8), count: buf.readUInt16BE(10) };
        buf = buf.subarray(12);
        behave(req, socket, n++);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => connections,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const later = (socket: net.Socket, ms: number, bytes: Buffer) => setTimeout(() => !socket.destroyed && socket.write(bytes), ms);

/** The expected value of each tag (see trueData). */
const EXPECTED: Record<string, unknown> = { 'd.a': 1040, 'd.b': 1041, 'd.c': (1042 << 16) + 1043, 'd.coil': true, 'd.coil2': false };

interface Case {
  name: string;
  behave?: Behaviour;
  onConnect?: (s: net.Socket) => void;
  /** codes that must be counted */
  codes: string[];
  /** every sample must be bad (the device never answers right) */
  allBad?: boolean;
  /** at least one good sample expected (the device answers right at least sometimes) */
  someGood?: boolean;
  /** text the bad reasons must contain (some sample) */
  reason?: RegExp;
}

const CASES: Case[] = [
  { name: 'byte count shorter than the data', codes: ['FG_E_MODBUS_FRAME'], allBad: true, reason: /d: byte count \d+, expected 8 for 4 holding registers at 40/,
    behave: (r, s) => s.write(frame({ tid: r.tid, unit: r.unit, pdu: pdu(r.fc, Math.max(0, hostileData(r).length - 4), hostileData(r)) })) },
  { name: 'byte count longer than the data', codes: ['FG_E_MODBUS_FRAME'], allBad: true, reason: /byte count \d+, expected/,
    behave: (r, s) => s.write(frame({ tid: r.tid, unit: r.unit, pdu: pdu(r.fc, hostileData(r).length + 2, hostileData(r)) })) },
  { name: 'byte count right, frame carries fewer bytes', codes: ['FG_E_MODBUS_FRAME'], allBad: true, reason: /data bytes in the frame/,
    behave: (r, s) => s.write(frame({ tid: r.tid, unit: r.unit, pdu: pdu(r.fc, hostileData(r).length, hostileData(r).subarray(1)) })) },
  { name: 'wrong transaction id', codes: ['FG_E_MODBUS_FRAME', 'FG_E_MODBUS_TIMEOUT'], allBad: true, reason: /timeout/,
    behave: (r, s) => s.write(frame({ tid: (r.tid + 7) & 0xffff, unit: r.unit, pdu: pdu(r.fc, hostileData(r).length, hostileData(r)) })) },
  { name: 'wrong unit id', codes: ['FG_E_MODBUS_FRAME'], allBad: true, reason: /unit id 9, expected 1/,
    behave: (r, s) => s.write(frame({ tid: r.tid, unit: 9, pdu: pdu(r.fc, hostileData(r).length, hostileData(r)) })) },
  { name: 'wrong function code', codes: ['FG_E_MODBUS_FRAME'], allBad: true, reason: /function code \d+, expected/,
    behave: (r, s) => s.write(frame({ tid: r.tid, unit: r.unit, pdu: pdu(r.fc === 3 ? 4 : 3, hostileData(r).length, hostileData(r)) })) },
  { name: 'protocol id 7', codes: ['FG_E_MODBUS_FRAME'], allBad: true, reason: /protocol id 7, expected 0/,
    behave: (r, s) => s.write(frame({ tid: r.tid, proto: 7, unit: r.unit, pdu: pdu(r.fc, hostileData(r).length, hostileData(r)) })) },
  { name: 'truncated frame', codes: ['FG_E_MODBUS_FRAME'], allBad: true, reason: /an answer stopped after \d+ of \d+ bytes/,
    behave: (r, s) => {
      const f = frame({ tid: r.tid, unit: r.unit, pdu: pdu(r.fc, hostileData(r).length, hostileData(r)) });
      s.write(f.subarray(0, f.length - 3));
    } },
  { name: 'MBAP length 0', codes: ['FG_E_MODBUS_FRAME'], allBad: true, reason: /MBAP length 0, expected 2\.\.254/,
    behave: (r, s) => s.write(frame({ tid: r.tid, length: 0, unit: r.unit, pdu: pdu(r.fc, hostileData(r).length, hostileData(r)) })) },
  { name: 'MBAP length 261', codes: ['FG_E_MODBUS_FRAME'], allBad: true, reason: /MBAP length 261/,
    behave: (r, s) => s.write(frame({ tid: r.tid, length: 261, unit: r.unit, pdu: pdu(r.fc, hostileData(r).length, hostileData(r)) })) },
  { name: 'random bytes', codes: ['FG_E_MODBUS_FRAME'], allBad: true,
    behave: (r, s, n) => {
      // seeded: the same garbage every run (a linear congruential generator)
      let x = (r.fc * 7919 + n * 104729) >>> 0;
      const b = Buffer.alloc(40);
      for (let i = 0; i < b.length; i++) b[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
      s.write(b);
    } },
  ...[1, 2, 3, 4, 11].map((code): Case => ({
    name: `exception ${code}`, codes: ['FG_E_MODBUS_EXCEPTION'], allBad: true, reason: new RegExp(`exception ${code}`),
    behave: (r, s) => s.write(frame({ tid: r.tid, unit: r.unit, pdu: Buffer.from([r.fc | 0x80, code]) })),
  })),
  { name: 'exception answer with trailing bytes', codes: ['FG_E_MODBUS_FRAME'], allBad: true, reason: /exception answer of 4 bytes/,
    behave: (r, s) => s.write(frame({ tid: r.tid, unit: r.unit, pdu: Buffer.from([r.fc | 0x80, 2, 0xde, 0xad]) })) },
  { name: 'accept, then close', codes: ['FG_E_MODBUS_DISCONNECTED'], allBad: true, onConnect: (s) => s.destroy() },
  { name: 'accept, then silence', codes: ['FG_E_MODBUS_TIMEOUT'], allBad: true, reason: /timeout/, behave: () => {} },
  { name: 'slow answers just under the timeout', codes: [], someGood: true, behave: (r, s) => later(s, TIMEOUT - 120, good(r)) },
  { name: 'slow answers just over the timeout', codes: ['FG_E_MODBUS_TIMEOUT'], allBad: true, reason: /timeout/, behave: (r, s) => later(s, TIMEOUT + 60, good(r)) },
  { name: 'a hostile answer, then a right one', codes: ['FG_E_MODBUS_FRAME'], someGood: true,
    behave: (r, s, n) => s.write(n % 2 === 0 ? frame({ tid: r.tid, unit: r.unit, pdu: pdu(r.fc, 2, hostileData(r)) }) : good(r)) },
];

async function runCase(c: Case): Promise<string | undefined> {
  const dev = await device(c.behave ?? (() => {}), c.onConnect);
  const lines: string[] = [];
  const ctx = sourceContext({ logLines: lines });
  const src = new ModbusSource(
    sourceConfig({
      connection: { transport: 'tcp', host: '127.0.0.1', port: dev.port, connectTimeout: 1000 },
      interval: '50ms',
      timeout: TIMEOUT,
      reconnect: { initial: '100ms', max: '400ms' },
      devices: [{
        name: 'd', unit: UNIT,
        // a wide breaker window: the cases look at answers, not at the breaker
        breaker: { minCalls: 1000 },
        tags: [
          { name: 'a', address: 40, area: 'holding' },
          { name: 'b', address: 41, area: 'holding' },
          { name: 'c', address: 42, area: 'holding', type: 'uint32' },
          { name: 'coil', address: 3, area: 'coil' },
          { name: 'coil2', address: 4, area: 'coil' },
        ],
      }],
    }),
    ctx,
  );
  const ac = new AbortController();
  const running = src.run(ac.signal);
  const samples: Sample[] = [];
  const problems: string[] = [];
  try {
    const deadline = performance.now() + 4_000;
    const enough = async () => {
      for (const code of c.codes) if ((await errorCount(ctx.metrics, code)) === 0) return false;
      if (c.someGood && !samples.some((s) => s.quality === 'good')) return false;
      if (c.reason && !samples.some((s) => c.reason!.test(s.reason ?? ''))) return false;
      return samples.length >= 20;
    };
    while (performance.now() < deadline && !(await enough())) {
      const b = await ctx.out.recv(AbortSignal.timeout(Math.max(1, Math.ceil(deadline - performance.now())))).catch(() => undefined);
      if (b) samples.push(...b.samples);
    }
    for (const s of samples) {
      if (s.quality === 'good' && s.value !== EXPECTED[s.tag]) problems.push(`good sample with a wrong value: ${JSON.stringify(s, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`);
      if (s.quality === 'good' && c.allBad) problems.push(`good sample although every answer is wrong: ${s.tag}=${String(s.value)}`);
    }
    if (c.someGood && !samples.some((s) => s.quality === 'good')) problems.push('no good sample');
    if (c.reason && !samples.some((s) => c.reason!.test(s.reason ?? ''))) {
      problems.push(`no sample reason matches ${c.reason}; reasons: ${[...new Set(samples.map((s) => s.reason))].join(' | ')}`);
    }
    for (const code of c.codes) {
      if ((await errorCount(ctx.metrics, code)) === 0) problems.push(`${code} not counted`);
      if (code !== 'FG_E_MODBUS_DISCONNECTED' && (await deviceErrorCount(ctx.metrics, 'd', code)) === 0) problems.push(`${code} not counted for device d`);
    }
    // bounded log: a handful of lines for seconds of a device misbehaving on every request
    if (lines.length > 12) problems.push(`${lines.length} log lines:\n${lines.slice(0, 20).join('')}`);
    if (process.env.HOSTILE_VERBOSE) {
      console.log(`${c.name}: ${samples.length} samples, ${samples.filter((x) => x.quality === 'good').length} good, ${lines.length} log lines; reasons: ${[...new Set(samples.map((x) => x.reason))].join(' | ')}`);
      for (const l of lines) console.log(`  ${l.trim()}`);
    }
    // the source is still running and answers its probe
    const probe = src.probe();
    if (!['up', 'down', 'degraded'].includes(probe.state)) problems.push(`probe ${probe.state}`);
  } finally {
    ac.abort();
    await running;
    await dev.close();
  }
  return problems.length > 0 ? `${c.name}: ${problems.join('; ')}` : undefined;
}

test('hostile Modbus TCP devices: no wrong value is good, every error is counted, the log is bounded', async () => {
  const t0 = performance.now();
  const failures = (await Promise.all(CASES.map(runCase))).filter((f) => f !== undefined);
  assert.deepEqual(failures, []);
  assert.ok(performance.now() - t0 < 15_000, 'the hostile suite stays fast');
});

test('NaN and infinities from float registers are reported as they are; nonFinite: bad marks them bad and counts them', async () => {
  // holding 0-1: NaN, 2-3: +Infinity, 4-5: 1.5 (float32, ABCD)
  const regs = Buffer.from([0x7f, 0xc0, 0, 0, 0x7f, 0x80, 0, 0, 0x3f, 0xc0, 0, 0]);
  const dev = await device((r, s) => s.write(frame({ tid: r.tid, unit: r.unit, pdu: pdu(r.fc, r.count * 2, regs.subarray(r.start * 2, (r.start + r.count) * 2)) })));
  try {
    for (const nonFinite of ['report', 'bad'] as const) {
      const ctx = sourceContext();
      const src = new ModbusSource(
        sourceConfig({
          connection: { transport: 'tcp', host: '127.0.0.1', port: dev.port },
          interval: '50ms',
          devices: [{
            name: 'd', unit: 1, nonFinite,
            tags: [
              { name: 'nan', address: 0, area: 'holding', type: 'float32' },
              { name: 'inf', address: 2, area: 'holding', type: 'float32' },
              { name: 'ok', address: 4, area: 'holding', type: 'float32' },
              { name: 'nanReported', address: 0, area: 'holding', type: 'float32', nonFinite: 'report' },
            ],
          }],
        }),
        ctx,
      );
      const ac = new AbortController();
      const running = src.run(ac.signal);
      try {
        const b = await ctx.out.recv(AbortSignal.timeout(5_000));
        const s = Object.fromEntries(b!.samples.map((x) => [x.tag, x]));
        assert.equal(s['d.ok']!.value, 1.5);
        assert.equal(s['d.nanReported']!.quality, 'good');
        assert.ok(Number.isNaN(s['d.nanReported']!.value));
        if (nonFinite === 'report') {
          assert.equal(s['d.nan']!.quality, 'good');
          assert.ok(Number.isNaN(s['d.nan']!.value));
          assert.deepEqual([s['d.inf']!.quality, s['d.inf']!.value], ['good', Infinity]);
          assert.equal(await errorCount(ctx.metrics, 'FG_E_MODBUS_NOT_FINITE'), 0);
        } else {
          assert.deepEqual([s['d.nan']!.quality, s['d.nan']!.value, s['d.nan']!.reason], ['bad', null, 'not finite: NaN']);
          assert.deepEqual([s['d.inf']!.quality, s['d.inf']!.reason], ['bad', 'not finite: Infinity']);
          assert.ok((await deviceErrorCount(ctx.metrics, 'd', 'FG_E_MODBUS_NOT_FINITE')) >= 2); // 2 per poll
        }
      } finally {
        ac.abort();
        await running;
      }
    }
  } finally {
    await dev.close();
  }
});

test('a decoder that fails marks only its tag bad, with a readable reason, counted under its code per device', async () => {
  const dev = await device((r, s) => s.write(good(r)));
  const lines: string[] = [];
  const ctx = sourceContext({ logLines: lines });
  const src = new ModbusSource(
    sourceConfig({
      connection: { transport: 'tcp', host: '127.0.0.1', port: dev.port },
      interval: '50ms',
      devices: [{ name: 'd', unit: 1, tags: [{ name: 'a', address: 40, area: 'holding' }, { name: 'b', address: 41, area: 'holding' }] }],
    }),
    ctx,
  );
  // unreachable from the wire (answers carry exactly the requested bytes): a decoder is given a
  // position past the end of its answer, as a planning bug would
  const tag = src.groups[0]!.devices[0]!.reads[0]!.tags[1]!;
  const decode = tag.decode;
  tag.decode = (buf, at) => decode(buf, at + 5);
  const ac = new AbortController();
  const running = src.run(ac.signal);
  try {
    const b = await ctx.out.recv(AbortSignal.timeout(5_000));
    const s = Object.fromEntries(b!.samples.map((x) => [x.tag, x]));
    assert.deepEqual([s['d.a']!.quality, s['d.a']!.value], ['good', 1040]);
    assert.deepEqual([s['d.b']!.quality, s['d.b']!.value], ['bad', null]);
    assert.equal(s['d.b']!.reason, 'decode error: the value needs register 6 of the answer, which holds 2 registers');
    assert.ok((await deviceErrorCount(ctx.metrics, 'd', 'FG_E_MODBUS_DECODE')) >= 1);
    assert.ok(lines.some((l) => l.includes('d.b: decode error')));
  } finally {
    ac.abort();
    await running;
    await dev.close();
  }
});
