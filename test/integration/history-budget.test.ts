// The dashboard's tag history stays within health.history.maxBytes for the tags configured at
// start: a 5,000-tag Modbus gateway gets 45 s buckets over the hour instead of 10 s (16 MB, not
// 38 MB), says so once in the start log, and still serves the history it keeps.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import { createLogger } from '../../src/log.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { tempDir, testConfig, testDrivers } from './health-testkit.ts';

const tmp = tempDir('fg-history-budget-');
after(() => tmp.cleanup());

function modbus(tags: number) {
  // 50 float32 tags per device, as bench:e2e polls them
  const devices = Array.from({ length: Math.ceil(tags / 50) }, (_, d) => ({
    unit: 1, name: `d${d}`,
    tags: Array.from({ length: Math.min(50, tags - d * 50) }, (_, j) => ({ name: `t${j}`, area: 'holding', address: j * 2, type: 'float32' })),
  }));
  return { type: 'modbus', id: 'plc', interval: '1s', connection: { transport: 'tcp', host: '127.0.0.1', port: 1 }, devices };
}

function build(tags: number, history: Record<string, unknown> = {}) {
  const lines: { msg: string; resolution?: number }[] = [];
  const destination = new Writable({ write(c: Buffer, _e, cb) { for (const l of c.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as { msg: string }); cb(); } });
  const cfg = testConfig({ gateway: { id: 'gw-budget', dataDir: tmp.dir }, sources: [modbus(tags)], health: { port: 0, history } }, tmp.dir);
  const p = new Pipeline({ config: cfg, baseDir: tmp.dir, log: createLogger({ level: 'info', format: 'json', destination }), drivers: testDrivers });
  return { p, lines };
}

test('5,000 configured tags: the hour-long tier widens to fit 16 MB, logged once; 1,000 tags keep 10 s', async () => {
  const big = build(5_000);
  assert.equal(big.p.taps.tags.opts.coarse.resolution, 45_000);
  assert.equal(big.p.taps.tags.opts.fine.resolution, 1_000, 'the live part stays at 1 s');
  const said = big.lines.filter((l) => l.msg.startsWith('tag history:'));
  assert.equal(said.length, 1);
  assert.match(said[0]!.msg, /^tag history: 5000 configured tags at 10 s buckets would take 38\.4 MB, over health\.history\.maxBytes \(16\.0 MB\): the 60-minute trend uses 45 s buckets \(16\.0 MB\)/);

  const small = build(1_000);
  assert.equal(small.p.taps.tags.opts.coarse.resolution, 10_000);
  assert.equal(small.lines.filter((l) => l.msg.startsWith('tag history:')).length, 0);

  const unbounded = build(5_000, { maxBytes: 0 });
  assert.equal(unbounded.p.taps.tags.opts.coarse.resolution, 10_000, 'maxBytes: 0 keeps what was asked');
  const roomy = build(5_000, { maxBytes: '64MB' });
  assert.equal(roomy.p.taps.tags.opts.coarse.resolution, 10_000);

  // a widened store still answers history: one tag's buckets over the hour are 45 s wide
  const store = big.p.taps.tags;
  const now = Date.now();
  for (let i = 0; i < 200; i++) store.record({ source: 'plc', receivedAt: now - 200_000 + i * 1_000, samples: [{ source: 'plc', tag: 'd0.t0', ts: now - 200_000 + i * 1_000, value: i, quality: 'good' }] });
  const h = store.history('plc', 'd0.t0', now - 3_600_000, now);
  assert.ok(h, 'the tag has a history');
  assert.equal(h.resolutionMs, 45_000);
});
