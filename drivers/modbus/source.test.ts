// The driver against the simulator over real TCP on loopback (ephemeral ports).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModbusSource } from './source.ts';
import { startModbusSimulator, type ModbusSimulator } from './sim/server.ts';
import { batchWhere, byTag, nextBatch, simConfig, sourceConfig, sourceContext } from '../../test/support/modbus/testing.ts';

async function withRun<T>(src: ModbusSource, fn: (stop: () => Promise<void>) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const running = src.run(ac.signal);
  const stop = async () => {
    ac.abort();
    await running;
  };
  try {
    return await fn(stop);
  } finally {
    await stop();
  }
}

const TYPED_MAP = [
  { address: 0, type: 'float32', order: 'CDAB', value: 12.5 },
  { address: 2, type: 'int16', value: -2 },
  { address: 3, type: 'uint32', value: 305419896 },
  { address: 5, type: 'string', length: 3, value: 'PUMP1' },
  { address: 8, type: 'int64', order: 'DCBA', value: -123456789012 },
  { address: 12, type: 'float64', value: 123.456 },
  { address: 16, bit: 4, value: true },
  { address: 17, type: 'uint16', value: 1234 },
  { area: 'input', address: 0, type: 'float32', value: { kind: 'ramp', min: 0, max: 1000, period: '1s' } },
  { area: 'coil', address: 3, value: true },
  { area: 'discrete', address: 9, value: true },
].map((r) => ({ area: 'holding', ...r }));

test('values of every kind arrive decoded, one batch per poll group', async () => {
  const sim = await startModbusSimulator(simConfig({ resolution: 10, devices: [{ unit: 7, registers: TYPED_MAP }] }));
  const ctx = sourceContext();
  const src = new ModbusSource(
    sourceConfig({
      connection: { transport: 'tcp', host: '127.0.0.1', port: sim.port },
      interval: '50ms',
      devices: [{ name: 'pump', unit: 7, tags: [
        { name: 'flow', address: '40001', type: 'float32', order: 'CDAB' },
        { name: 'neg', address: 2, area: 'holding', type: 'int16' },
        { name: 'u32', address: 3, area: 'holding', type: 'uint32' },
        { name: 'label', address: 5, area: 'holding', type: 'string', length: 3 },
        { name: 'i64', address: 8, area: 'holding', type: 'int64', order: 'HGFEDCBA' },
        { name: 'f64', address: 12, area: 'holding', type: 'float64' },
        { name: 'alarm', address: 16, area: 'holding', bit: 4 },
        { name: 'scaled', address: 17, area: 'holding', scale: 0.1, offset: 1 },
        { name: 'ramp', address: '30001', type: 'float32' },
        { name: 'run', address: '00004' },
        { name: 'door', address: 9, area: 'discrete' },
        { name: 'slow', address: 17, area: 'holding', interval: '300ms' },
      ] }],
    }),
    ctx,
  );
  try {
    await withRun(src, async () => {
      const b = await batchWhere(ctx.out, (x) => x.samples.length === 11);
      const s = byTag(b);
      assert.equal(b.source, 'mb');
      assert.ok(b.samples.every((x) => x.quality === 'good'), JSON.stringify(b.samples.filter((x) => x.quality !== 'good')));
      assert.equal(s['pump.flow']!.value, 12.5);
      assert.equal(s['pump.neg']!.value, -2);
      assert.equal(s['pump.u32']!.value, 305419896);
      assert.equal(s['pump.label']!.value, 'PUMP1');
      assert.equal(s['pump.i64']!.value, -123456789012);
      assert.equal(s['pump.f64']!.value, 123.456);
      assert.equal(s['pump.alarm']!.value, true);
      assert.equal(s['pump.scaled']!.value, 124.4);
      assert.equal(s['pump.run']!.value, true);
      assert.equal(s['pump.door']!.value, true);
      const r1 = s['pump.ramp']!.value as number;
      assert.ok(r1 >= 0 && r1 <= 1000);
      // only unscaled float32 registers are flagged float32 (sinks print them as the float32 they are)
      assert.deepEqual(b.samples.filter((x) => x.float32 === true).map((x) => x.tag).sort(), ['pump.flow', 'pump.ramp']);
      const later = await batchWhere(ctx.out, (x) => x.samples.length === 11 && byTag(x)['pump.ramp']!.value !== r1);
      assert.ok(later.samples[0]!.ts >= b.samples[0]!.ts);
      // the 300ms group is its own batch
      const slow = await batchWhere(ctx.out, (x) => x.samples.length === 1);
      assert.equal(slow.samples[0]!.tag, 'pump.slow');
      // holding 0..17 (1 read), input 0..1, coil, discrete: 4 reads for the fast group
      assert.deepEqual(src.groups.map((g) => g.devices[0]!.reads.length), [4, 1]);
      assert.ok(ctx.heartbeats() > 0);
      assert.equal(src.probe().state, 'up');
    });
  } finally {
    await sim.stop();
  }
});

test('a refused coalesced read is split until only the bad tag is bad, and the split is kept', async () => {
  const registers = Array.from({ length: 10 }, (_, i) => ({ area: 'holding', address: i, value: i * 10 }));
  const sim = await startModbusSimulator(simConfig({ devices: [{ unit: 1, registers, illegal: [{ area: 'holding', start: 6 }] }] }));
  const ctx = sourceContext();
  const src = new ModbusSource(
    sourceConfig({
      connection: { transport: 'tcp', host: '127.0.0.1', port: sim.port },
      interval: '50ms',
      devices: [{ tags: registers.map((r) => ({ name: `r${r.address}`, area: 'holding', address: r.address })) }],
    }),
    ctx,
  );
  try {
    await withRun(src, async () => {
      const b = await nextBatch(ctx.out);
      const s = byTag(b);
      assert.equal(b.samples.length, 10);
      assert.deepEqual(s.r6, { ...s.r6, quality: 'bad', reason: 'exception 2', value: null });
      for (const i of [0, 1, 2, 3, 4, 5, 7, 8, 9]) assert.deepEqual([s[`r${i}`]!.quality, s[`r${i}`]!.value], ['good', i * 10]);
      const reads = src.groups[0]!.devices[0]!.reads;
      assert.ok(reads.length >= 2 && reads.length <= 5, `split into ${reads.length}`);
      assert.ok(reads.some((r) => r.start === 6 && r.count === 1), 'the bad tag is read alone');
      // the next poll issues the remembered pieces: no further splitting
      const before = src.stats().splits;
      const req0 = sim.requests;
      await nextBatch(ctx.out);
      await nextBatch(ctx.out);
      assert.equal(src.stats().splits, before);
      assert.ok(sim.requests - req0 <= reads.length * 3);
    });
  } finally {
    await sim.stop();
  }
});

test('timeouts mark samples bad; the source recovers when answers come back', async () => {
  const sim = await startModbusSimulator(simConfig({ devices: [{ unit: 1, registers: [{ area: 'holding', address: 0, value: 42 }] }] }));
  const ctx = sourceContext();
  const src = new ModbusSource(
    sourceConfig({
      connection: { transport: 'tcp', host: '127.0.0.1', port: sim.port },
      interval: '50ms',
      timeout: '80ms',
      devices: [{ unit: 1, breaker: { minCalls: 100 }, tags: [{ name: 'v', address: '40001' }] }],
    }),
    ctx,
  );
  try {
    await withRun(src, async () => {
      assert.equal((await nextBatch(ctx.out)).samples[0]!.value, 42);
      sim.faults.delayMs = 300;
      const bad = await batchWhere(ctx.out, (b) => b.samples[0]!.quality === 'bad');
      assert.equal(bad.samples[0]!.reason, 'timeout');
      assert.equal(bad.samples[0]!.value, null);
      sim.faults.delayMs = 0;
      const good = await batchWhere(ctx.out, (b) => b.samples[0]!.quality === 'good');
      assert.equal(good.samples[0]!.value, 42);
    });
  } finally {
    await sim.stop();
  }
});

test('the source reconnects after the server restarts; probe goes down and up', async () => {
  let sim: ModbusSimulator = await startModbusSimulator(simConfig({ devices: [{ unit: 1, registers: [{ area: 'input', address: 3, value: 7 }] }] }));
  const port = sim.port;
  const ctx = sourceContext();
  const src = new ModbusSource(
    sourceConfig({
      connection: { transport: 'tcp', host: '127.0.0.1', port, connectTimeout: '1s' },
      interval: '50ms',
      reconnect: { initial: '50ms', max: '200ms' },
      devices: [{ tags: [{ name: 'v', address: '30004' }] }],
    }),
    ctx,
  );
  try {
    await withRun(src, async () => {
      assert.equal((await nextBatch(ctx.out)).samples[0]!.value, 7);
      await sim.stop();
      const down = await batchWhere(ctx.out, (b) => b.samples[0]!.reason === 'disconnected');
      assert.equal(down.samples[0]!.quality, 'bad');
      assert.equal(src.probe().state, 'down');
      assert.match(src.probe().reason!, /not connected/);
      sim = await startModbusSimulator(simConfig({ port, devices: [{ unit: 1, registers: [{ area: 'input', address: 3, value: 8 }] }] }));
      const back = await batchWhere(ctx.out, (b) => b.samples[0]!.quality === 'good', 10_000);
      assert.equal(back.samples[0]!.value, 8);
      assert.equal(src.probe().state, 'up');
      // a dropped connection (server still listening) is noticed too
      assert.equal(sim.connections, 1);
      sim.dropConnections();
      const t = Date.now();
      await batchWhere(ctx.out, (b) => b.samples[0]!.quality === 'good' && b.samples[0]!.ts > t + 50, 10_000);
      assert.equal(sim.connections, 2);
    });
  } finally {
    await sim.stop();
  }
});

test('a dead unit id costs its healthy neighbours at most one timeout per breaker cooldown', async () => {
  const regs = [{ area: 'holding', address: 0, value: 1 }, { area: 'holding', address: 50, value: 2 }];
  const sim = await startModbusSimulator(simConfig({ devices: [1, 2, 3].map((unit) => ({ unit, registers: regs })) }));
  sim.faults.silentUnits.add(2);
  const ctx = sourceContext();
  const timeout = 100;
  const cooldown = 1000;
  const src = new ModbusSource(
    sourceConfig({
      connection: { transport: 'tcp', host: '127.0.0.1', port: sim.port },
      interval: '20ms',
      timeout,
      devices: [1, 2, 3].map((unit) => ({
        name: `d${unit}`, unit, maxGap: 0,
        breaker: { minCalls: 2, failureRate: 0.5, cooldown },
        // two reads per device, so a dead one would cost two timeouts per poll without a breaker
        tags: [{ name: 'a', area: 'holding', address: 0 }, { name: 'b', area: 'holding', address: 50 }],
      })),
    }),
    ctx,
  );
  try {
    await withRun(src, async () => {
      const t0 = performance.now();
      let polls = 0;
      let healthyGood = 0;
      let breakerOpen = 0;
      while (performance.now() - t0 < 2_600) {
        const b = await nextBatch(ctx.out);
        polls++;
        const s = byTag(b);
        if (s['d1.a']!.quality === 'good' && s['d3.b']!.quality === 'good') healthyGood++;
        if (s['d2.a']!.reason === 'breaker open') breakerOpen++;
        assert.notEqual(s['d2.a']!.quality, 'good');
      }
      const lat = src.stats().latencies;
      const slowPolls = lat.filter((ms) => ms >= timeout * 0.9).length;
      // opening takes one poll (two timeouts in parallel on the wire? no: maxInFlight 1, so up to
      // two timeouts); afterwards one half-open probe per cooldown: 2.6 s / 1 s -> at most 3
      assert.ok(slowPolls <= 1 + Math.ceil(2_600 / cooldown), `slow polls ${slowPolls} of ${lat.length}`);
      assert.equal(healthyGood, polls, 'healthy devices stay good in every batch');
      assert.ok(breakerOpen > polls / 2, `breaker open in ${breakerOpen} of ${polls} batches`);
      assert.equal(src.probe().state, 'degraded');
      assert.match(src.probe().reason!, /d2/);
    });
  } finally {
    await sim.stop();
  }
});

test('a full channel is an overrun: the poll is skipped, counted, and nothing waits', async () => {
  const sim = await startModbusSimulator(simConfig({ devices: [{ registers: [{ area: 'holding', address: 0, value: 5 }] }] }));
  const ctx = sourceContext({ capacity: 2 });
  const src = new ModbusSource(
    sourceConfig({ connection: { transport: 'tcp', host: '127.0.0.1', port: sim.port }, interval: '10ms', devices: [{ tags: [{ name: 'v', address: '40001' }] }] }),
    ctx,
  );
  try {
    await withRun(src, async (stop) => {
      await new Promise((r) => setTimeout(r, 300));
      await stop();
      assert.equal(ctx.out.depth, 2);
      assert.ok(src.stats().overruns > 5, `overruns ${src.stats().overruns}`);
      assert.ok(ctx.heartbeats() > 5, 'the heartbeat goes on while the channel is full');
      assert.equal(ctx.out.stats().blockedSenders, 0);
    });
  } finally {
    await sim.stop();
  }
});

test('deadband and maxInterval: unchanged values are reported only now and then', async () => {
  const sim = await startModbusSimulator(simConfig({ devices: [{ registers: [{ area: 'holding', address: 0, value: 100 }, { area: 'holding', address: 1, value: { kind: 'ramp', min: 0, max: 60000, period: '1s' } }] }] }));
  const ctx = sourceContext();
  const src = new ModbusSource(
    sourceConfig({
      connection: { transport: 'tcp', host: '127.0.0.1', port: sim.port },
      interval: '20ms',
      devices: [{ tags: [
        { name: 'flat', address: '40001', deadband: 0, maxInterval: '200ms' },
        { name: 'pct', address: '40002', deadband: '1000%' },
        { name: 'all', address: '40001' },
      ] }],
    }),
    ctx,
  );
  try {
    await withRun(src, async (stop) => {
      await new Promise((r) => setTimeout(r, 700));
      await stop();
      const counts: Record<string, number> = {};
      for (const b of ctx.out.drain()) for (const s of b.samples) counts[s.tag] = (counts[s.tag] ?? 0) + 1;
      const polls = counts.all!;
      assert.ok(polls >= 15, `polls ${polls}`);
      // first report, then one per 200 ms: 3..5 in 700 ms
      assert.ok(counts.flat! >= 3 && counts.flat! <= 5, `flat reported ${counts.flat}`);
      // a 1000% band only passes the first value and the wrap of the ramp back to ~0
      assert.ok(counts.pct! >= 1 && counts.pct! < polls / 2, `pct reported ${counts.pct}`);
    });
  } finally {
    await sim.stop();
  }
});

test('after stop nothing is left running', async () => {
  const count = () => {
    const m = new Map<string, number>();
    for (const r of process.getActiveResourcesInfo()) m.set(r, (m.get(r) ?? 0) + 1);
    return m;
  };
  const before = count();
  const sim = await startModbusSimulator(simConfig({ devices: [{ registers: [{ area: 'holding', address: 0, value: 5 }] }] }));
  const ctx = sourceContext();
  const src = new ModbusSource(sourceConfig({ connection: { transport: 'tcp', host: '127.0.0.1', port: sim.port }, interval: '10ms', timeout: '5s', devices: [{ tags: [{ name: 'v', address: '40001' }] }] }), ctx);
  await withRun(src, async () => {
    await nextBatch(ctx.out);
  });
  await sim.stop();
  await new Promise((r) => setImmediate(r));
  const after = count();
  const left = [...after].filter(([r, n]) => n > (before.get(r) ?? 0)).map(([r]) => r);
  assert.deepEqual(left, []);
});
