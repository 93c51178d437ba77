import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { FAST_MS, FAST_WINDOW_MS, ReconnectPolicy } from './reconnect.ts';
import { ModbusSource } from './source.ts';
import { startModbusSimulator } from './sim/server.ts';
import { batchWhere, errorCount, simConfig, sourceConfig, sourceContext } from '../../test/support/modbus/testing.ts';

test('policy: failures step up between half and all of initial x 2^n, capped at max', () => {
  for (const r of [0, 0.999]) {
    const p = new ReconnectPolicy({ initial: 100, max: 1000, stable: 10_000, random: () => r });
    const delays = Array.from({ length: 7 }, (_, i) => p.failed(i));
    const ceilings = [100, 200, 400, 800, 1000, 1000, 1000];
    delays.forEach((d, i) => assert.ok(d >= ceilings[i]! / 2 && d <= ceilings[i]!, `step ${i}: ${d}`));
  }
});

test('policy: a connection that drops before it is stable is a failure; a stable one resets and retries fast', () => {
  const p = new ReconnectPolicy({ initial: 100, max: 5000, stable: 10_000, random: () => 0.5 });
  let now = 0;
  p.failed(now); // step 0
  p.failed(now); // step 1
  p.connected((now += 1000));
  const flap = p.lost((now += 2000)); // up 2 s < stable
  assert.equal(flap.healthy, false);
  assert.equal(flap.delay, 300); // step 2: ceiling 400, half fixed + half of the rest
  assert.equal(p.steps, 3);
  p.connected((now += 300));
  const healthy = p.lost((now += 10_000)); // up 10 s: stable
  assert.equal(healthy.healthy, true);
  assert.ok(healthy.delay <= FAST_MS && healthy.delay >= FAST_MS / 2, `first retry after a healthy connection: ${healthy.delay}`);
  assert.equal(p.steps, 0);
  // refused connects during the fast window stay fast...
  for (let i = 0; i < 10; i++) assert.ok(p.failed((now += 1000)) <= FAST_MS);
  // ...and once it is over, the backoff steps up again from initial
  now += FAST_WINDOW_MS;
  assert.equal(p.failed(now), 75);
  assert.equal(p.failed(now), 150);
  // a connection that drops quickly ends the fast retries at once
  p.connected(now);
  p.lost((now += 5000));
  p.connected(now);
  assert.equal(p.lost((now += 10_000)).delay, 750);
  p.connected(now);
  assert.equal(p.lost(now + 10).delay, 75);
});

/** A device that accepts every connection and closes it after `holdMs`. */
async function flappingDevice(holdMs: number): Promise<{ port: number; accepts: number[]; close: () => Promise<void> }> {
  const accepts: number[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    accepts.push(performance.now());
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    if (holdMs === 0) s.destroy();
    else setTimeout(() => s.destroy(), holdMs);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    accepts,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

for (const holdMs of [0, 150]) {
  test(`a device that accepts and drops ${holdMs === 0 ? 'at once' : `after ${holdMs} ms`}: one reconnect per backoff step, one warning per state change at most`, async () => {
    const dev = await flappingDevice(holdMs);
    const lines: string[] = [];
    const ctx = sourceContext({ logLines: lines });
    const initial = 100;
    const max = 800;
    const src = new ModbusSource(
      sourceConfig({
        connection: { transport: 'tcp', host: '127.0.0.1', port: dev.port },
        interval: '100ms',
        reconnect: { initial, max, stable: '10s' },
        devices: [{ unit: 1, tags: [{ name: 'a', address: 0, area: 'holding' }] }],
      }),
      ctx,
    );
    const ac = new AbortController();
    const running = src.run(ac.signal);
    try {
      // long enough to reach the cap: steps 100, 200, 400, 800, 800...
      await new Promise((r) => setTimeout(r, 4_000));
    } finally {
      ac.abort();
      await running;
      await dev.close();
    }
    const a = dev.accepts;
    assert.ok(a.length >= 3, `reconnected ${a.length} times`);
    // the gap before reconnect i is at least the floor of backoff step i-1 (half its ceiling),
    // plus the time the connection was held: never two reconnects in one step
    const policy = new ReconnectPolicy({ initial, max, stable: 10_000 });
    for (let i = 1; i < a.length; i++) {
      const gap = a[i]! - a[i - 1]!;
      const floor = policy.floor(i - 1) + holdMs;
      assert.ok(gap >= floor - 5, `reconnect ${i} came ${gap.toFixed(0)} ms after the previous one, step floor ${floor} ms`);
    }
    // at most as many as the steps allow in 4 s (the old driver reconnected about 4 times a second forever)
    assert.ok(a.length <= 12, `${a.length} connections in 4 s`);
    const warns = lines.map((l) => JSON.parse(l) as { level: number; msg: string; drops?: number }).filter((l) => l.level >= 40);
    const drops = a.length;
    // every drop is a state change (up -> down); warned only at the 1st, 2nd, 4th, 8th... drop
    assert.ok(warns.length <= drops, `${warns.length} warnings for ${drops} drops`);
    assert.ok(warns.length <= Math.floor(Math.log2(drops)) + 1, `${warns.length} warnings for ${drops} drops: ${warns.map((w) => w.msg).join(' | ')}`);
    assert.ok(warns.every((w) => w.msg.startsWith('modbus connection unstable')), warns.map((w) => w.msg).join(' | '));
    assert.ok((await errorCount(ctx.metrics, 'FG_E_MODBUS_DISCONNECTED')) >= drops - 1);
  });
}

test('after a healthy connection is lost, the first retry comes within about a second and data flows again', async () => {
  const sim = await startModbusSimulator(simConfig({ devices: [{ unit: 1, registers: [{ area: 'holding', address: 0, value: 7 }] }] }));
  let port = sim.port;
  const lines: string[] = [];
  const ctx = sourceContext({ logLines: lines });
  const src = new ModbusSource(
    sourceConfig({
      connection: { transport: 'tcp', host: '127.0.0.1', port },
      interval: '50ms',
      reconnect: { initial: '2s', max: '30s', stable: '300ms' },
      devices: [{ unit: 1, tags: [{ name: 'a', address: 0, area: 'holding' }] }],
    }),
    ctx,
  );
  const ac = new AbortController();
  const running = src.run(ac.signal);
  let sim2: Awaited<ReturnType<typeof startModbusSimulator>> | undefined;
  try {
    await batchWhere(ctx.out, (b) => b.samples[0]!.quality === 'good');
    await new Promise((r) => setTimeout(r, 400)); // stable now
    await sim.stop();
    const lostAt = performance.now();
    await batchWhere(ctx.out, (b) => b.samples[0]!.reason === 'disconnected');
    await new Promise((r) => setTimeout(r, 1_500)); // an outage with a few refused attempts
    sim2 = await startModbusSimulator(simConfig({ port, devices: [{ unit: 1, registers: [{ area: 'holding', address: 0, value: 7 }] }] }));
    port = sim2.port;
    const backAt = performance.now();
    await batchWhere(ctx.out, (b) => b.samples[0]!.quality === 'good' && b.samples[0]!.value === 7, 5_000);
    const took = performance.now() - backAt;
    assert.ok(took < 1_500, `data again ${took.toFixed(0)} ms after the device returned (initial backoff is 2 s)`);
    const msgs = lines.map((l) => JSON.parse(l) as { level: number; msg: string; failedAttempts?: number });
    const warns = msgs.filter((m) => m.level >= 40);
    // one for the loss, one for the first refused connect (a new cause); none per attempt
    assert.deepEqual(warns.map((w) => w.msg), ['modbus connection lost; reconnecting', 'modbus connect failed']);
    const restored = msgs.find((m) => m.msg === 'modbus connection restored');
    assert.ok(restored && restored.failedAttempts! >= 1, JSON.stringify(restored));
    assert.ok(performance.now() - lostAt < 6_000);
  } finally {
    ac.abort();
    await running;
    await sim2?.stop();
  }
});
