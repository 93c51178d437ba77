// The dashboard in a real headless Chromium (Debian's chromium driven by playwright-core): the
// page loads, shows every stage of a running pipeline with its health, and updates when a source
// goes down. Screenshots land in test-output/ for humans to look at.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { startModbusSimulator } from '../../drivers/modbus/sim/server.ts';
import { simConfig } from '../support/modbus/testing.ts';
import type { StatusDocument } from '../../src/health/status.ts';
import { silentLogger } from '../../src/log.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { get, tempDir, testConfig, testDrivers, until } from '../integration/health-testkit.ts';
import { openDashboard, SCREENSHOTS as OUT, skipWithoutChromium } from '../support/chromium.ts';
import { root as ROOT } from '../support/cli.ts';

const tmp = tempDir('fg-dash-');
after(() => tmp.cleanup());

test('the dashboard shows every stage with its health and follows a source going down', { skip: skipWithoutChromium('dashboard test') }, async () => {
  const mk = (extra: Record<string, unknown> = {}) => simConfig({
    devices: [{ unit: 1, registers: [{ area: 'holding', address: 0, type: 'float32', value: { kind: 'sine', amplitude: 6, offset: 88, period: '4s' } }] }],
    ...extra,
  });
  const press = await startModbusSimulator(mk());
  const pump = await startModbusSimulator(mk());
  const source = (id: string, port: number) => ({
    type: 'modbus', id, interval: '20ms', timeout: '200ms', reconnect: { initial: '100ms', max: '300ms' },
    connection: { transport: 'tcp', host: '127.0.0.1', port, connectTimeout: '300ms' },
    devices: [{ unit: 1, tags: [{ name: 'temperature', area: 'holding', address: 0, type: 'float32' }] }],
  });
  const cfg = testConfig({
    gateway: { id: 'dash-demo', dataDir: tmp.dir },
    sources: [source('press', press.port), source('pump', pump.port)],
    models: [{
      id: 'nab', path: join(ROOT, 'models/nab-machine-temp/model.onnx'),
      input: { name: 'window', window: 177, summary: { recent: 44 }, features: [{ tag: 'press/temperature' }] },
      outputs: [{ name: 'score' }, { name: 'z', field: 'z_level' }],
      thresholds: [{ field: 'score', above: 1, clear: 0.7 }],
      workers: { min: 1, max: 1 }, watch: false,
    }],
    health: { port: 0, probes: { unhealthy: '200ms', stable: '1s' }, readiness: { maxDataAge: '2s' } },
  }, tmp.dir);
  const p = new Pipeline({ config: cfg, baseDir: tmp.dir, log: silentLogger(), drivers: testDrivers });
  await p.start();
  const url = p.health!.url!;
  const { page, errors, close } = await openDashboard(`${url}/`, { width: 1400, height: 900 });
  try {
    await page.waitForSelector('[data-stage="source.press"][data-state="up"]', { timeout: 15_000 });

    // every stage the server knows is drawn, with the server's health state
    const st = JSON.parse((await get(`${url}/api/status`)).body) as StatusDocument;
    for (const s of st.stages) {
      const el = page.locator(`[data-stage="${s.name}"]`);
      assert.equal(await el.count(), 1, `${s.name} is drawn`);
      assert.match(String(await el.getAttribute('data-state')), /^(up|degraded|down)$/);
    }
    assert.ok(st.stages.some((s) => s.kind === 'model'), 'the model is a stage');
    assert.equal(await page.locator('#gw').textContent(), 'dash-demo');
    // let the model fill its window so the predictions chart has something to show
    await until('predictions', async () => (JSON.parse((await get(`${url}/api/status`)).body) as StatusDocument).predictions.length > 20, 30_000, 250)
      .catch(() => undefined);
    await page.waitForTimeout(1_500);
    await page.screenshot({ path: join(OUT, 'dashboard-running.png'), fullPage: true });

    // one device goes away: its stage turns red and an event appears, the other stays up
    await pump.stop();
    await page.waitForSelector('[data-stage="source.pump"][data-state="down"]', { timeout: 15_000 });
    assert.equal(await page.locator('[data-stage="source.press"]').getAttribute('data-state'), 'up');
    await page.waitForSelector('#events li.critical', { timeout: 5_000 });
    assert.match(String(await page.locator('#events li.critical').first().textContent()), /source\.pump is down/);
    assert.match(String(await page.locator('#ready').textContent()), /not ready/);
    await page.screenshot({ path: join(OUT, 'dashboard-source-down.png'), fullPage: true });
    assert.deepEqual(errors, [], 'no script errors on the page');
    process.stdout.write(`# screenshots: ${join(OUT, 'dashboard-running.png')}, ${join(OUT, 'dashboard-source-down.png')}\n`);
  } finally {
    await close();
    await p.stop(5_000);
    await press.stop();
    await pump.stop();
  }
});
