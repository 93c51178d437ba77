// The source watchdog belongs to the pipeline; health only observes it. A wedged source in a
// running pipeline is restarted by the pipeline's watchdog, the health stage reports the count
// and the event, and a reload of health.watchdog (or of health.enabled) rebuilds the watchdog.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createLogger } from '../../src/log.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { applyConfig } from '../../src/pipeline/reload.ts';
import { get, tempDir, testConfig, testDrivers, tickerControl, until } from './health-testkit.ts';

const tmp = tempDir('fg-watchdog-');
after(() => tmp.cleanup());
const log = createLogger({ level: 'silent' });

const config = (health: Record<string, unknown>) => testConfig({
  gateway: { id: 'gw-watchdog', dataDir: tmp.dir },
  sources: [{ type: 'ticker', id: 'wd-stuck', interval: '10ms', wedgeAfter: 3 }, { type: 'ticker', id: 'wd-ok', interval: '10ms' }],
  health: { port: 0, ...health },
}, tmp.dir);

test('the pipeline restarts a wedged source; health reports the restarts and the event', async () => {
  const p = new Pipeline({ config: config({ watchdog: { heartbeatTimeout: '300ms' } }), baseDir: tmp.dir, log, drivers: testDrivers });
  await p.start();
  try {
    assert.ok(p.watchdog, 'the pipeline owns a watchdog');
    await until('the wedged source restarted twice', () => p.watchdog!.restarts('source.wd-stuck') >= 2 && tickerControl.get('wd-stuck')!.runs >= 3, 10_000);
    assert.equal(p.watchdog.restarts('source.wd-ok'), 0);
    // health observes: the count in its own probe, the event in the dashboard's ring
    const details = p.health!.probe().details as { watchdogRestarts: number };
    assert.ok(details.watchdogRestarts >= 2, `health sees ${details.watchdogRestarts} restarts`);
    assert.ok(p.taps.events.toArray().some((e) => e.kind === 'watchdog-restart' && e.source === 'source.wd-stuck'));
    const status = await get(`${p.health!.url}/api/status`);
    assert.equal(status.status, 200);
  } finally {
    await p.stop(5_000);
  }
});

test('a reload of the watchdog settings rebuilds it; health disabled means no watchdog', async () => {
  const first = config({ watchdog: { heartbeatTimeout: '60s' } });
  const p = new Pipeline({ config: first, baseDir: tmp.dir, log, drivers: testDrivers });
  await p.start();
  try {
    const before = p.watchdog;
    assert.ok(before);
    // an unrelated health change keeps the running watchdog (and its counts)
    let r = await applyConfig(p, config({ watchdog: { heartbeatTimeout: '60s' }, probes: { unhealthy: '200ms' } }), { deadlineMs: 2_000 });
    assert.equal(r.ok, true, r.errors.join('; '));
    assert.equal(p.watchdog, before);
    r = await applyConfig(p, config({ watchdog: { heartbeatTimeout: '300ms' } }), { deadlineMs: 2_000 });
    assert.equal(r.ok, true, r.errors.join('; '));
    assert.notEqual(p.watchdog, before);
    await until('the new watchdog restarts the wedged source', () => (p.watchdog?.restarts('source.wd-stuck') ?? 0) >= 1, 10_000);
    r = await applyConfig(p, config({ watchdog: { enabled: false, heartbeatTimeout: '300ms' } }), { deadlineMs: 2_000 });
    assert.equal(r.ok, true, r.errors.join('; '));
    assert.equal(p.watchdog, undefined);
    r = await applyConfig(p, config({ enabled: false }), { deadlineMs: 2_000 });
    assert.equal(r.ok, true, r.errors.join('; '));
    assert.equal(p.health, undefined);
    assert.equal(p.watchdog, undefined);
  } finally {
    await p.stop(5_000);
  }
});
