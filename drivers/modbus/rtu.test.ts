// RTU framing: over TCP (serial-to-Ethernet converters) and over a real pseudo-terminal pair
// made by socat, one end opened by the simulator, the other by the driver (serialport).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModbusSource } from './source.ts';
import { startModbusSimulator } from './sim/server.ts';
import { batchWhere, byTag, simConfig, sourceConfig, sourceContext } from '../../test/support/modbus/testing.ts';

const UNITS = [1, 2, 3];
const simDevices = UNITS.map((unit) => ({
  unit,
  registers: [
    { area: 'holding', address: 0, type: 'float32', order: 'CDAB', value: unit * 1.5 },
    { area: 'holding', address: 2, value: unit },
    { area: 'coil', address: 0, value: unit % 2 === 1 },
  ],
  illegal: [{ area: 'holding', start: 10 }],
}));
const srcDevices = (units: number[]) =>
  units.map((unit) => ({
    name: `u${unit}`,
    unit,
    breaker: { minCalls: 2, cooldown: '5s' },
    tags: [
      { name: 'f', address: '40001', type: 'float32', order: 'CDAB' },
      { name: 'n', address: '40003' },
      { name: 'bad', address: '40011' },
      { name: 'c', address: '00001' },
    ],
  }));

async function runUntil(src: ModbusSource, fn: () => Promise<void>): Promise<void> {
  const ac = new AbortController();
  const running = src.run(ac.signal);
  try {
    await fn();
  } finally {
    ac.abort();
    await running;
  }
}

function assertUnits(b: { samples: { tag: string; value: unknown; quality: string; reason?: string }[] }, units: number[]): void {
  const s = byTag(b as never);
  for (const u of units) {
    assert.equal(s[`u${u}.f`]!.value, u * 1.5);
    assert.equal(s[`u${u}.n`]!.value, u);
    assert.equal(s[`u${u}.c`]!.value, u % 2 === 1);
    assert.deepEqual([s[`u${u}.bad`]!.quality, s[`u${u}.bad`]!.reason], ['bad', 'exception 2']);
  }
}

test('RTU over TCP: frames with CRC, several unit ids on one line, exceptions, a dead unit', async () => {
  const sim = await startModbusSimulator(simConfig({ transport: 'rtu-over-tcp', devices: simDevices }));
  const ctx = sourceContext();
  // unit 9 is not on the line: it times out, its breaker opens, the others are unaffected
  const src = new ModbusSource(
    sourceConfig({ connection: { transport: 'rtu-over-tcp', host: '127.0.0.1', port: sim.port }, interval: '50ms', timeout: '150ms', devices: srcDevices([...UNITS, 9]) }),
    ctx,
  );
  try {
    await runUntil(src, async () => {
      const b = await batchWhere(ctx.out, (x) => byTag(x)['u9.f']!.reason === 'breaker open', 8_000);
      assertUnits(b, UNITS);
      assert.equal(src.probe().state, 'degraded');
    });
  } finally {
    await sim.stop();
  }
});

test('RTU on a serial line (socat pseudo-terminal pair)', async (t) => {
  if (spawnSync('socat', ['-V'], { stdio: 'ignore' }).error) {
    console.log('# skipped: socat is not installed (apt-get install -y socat); .ci/run installs it');
    t.skip('socat is not installed');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'fg-modbus-pty-'));
  const simEnd = join(dir, 'sim');
  const drvEnd = join(dir, 'drv');
  const socat = spawn('socat', [`pty,raw,echo=0,link=${simEnd}`, `pty,raw,echo=0,link=${drvEnd}`], { stdio: 'ignore' });
  try {
    const t0 = Date.now();
    while (!(existsSync(simEnd) && existsSync(drvEnd))) {
      if (Date.now() - t0 > 5_000) throw new Error('socat did not create the pty pair');
      await new Promise((r) => setTimeout(r, 20));
    }
    const sim = await startModbusSimulator(simConfig({ transport: 'rtu', path: simEnd, baudRate: 19200, devices: simDevices }));
    const ctx = sourceContext();
    const src = new ModbusSource(
      sourceConfig({
        connection: { transport: 'rtu', path: drvEnd, baudRate: 19200, parity: 'none' },
        interval: '100ms',
        timeout: '300ms',
        devices: srcDevices(UNITS),
      }),
      ctx,
    );
    try {
      await runUntil(src, async () => {
        const b = await batchWhere(ctx.out, (x) => x.samples.some((s) => s.quality === 'good'), 8_000);
        assertUnits(b, UNITS);
        // one request at a time on a bus, rotating between units: every unit answered in every batch
        const b2 = await batchWhere(ctx.out, () => true);
        assertUnits(b2, UNITS);
      });
    } finally {
      await sim.stop();
    }
  } finally {
    socat.kill('SIGTERM');
    await new Promise((r) => (socat.exitCode !== null ? r(null) : socat.once('exit', r)));
    rmSync(dir, { recursive: true, force: true });
  }
});
