// The operator's view in a real headless Chromium: the demo plant's tag table with live values,
// a tag trend, an alarm raised by a simulator value crossing a limit (in the list and on the
// card within 2 s, then cleared), the score chart, and a reload's planned restart.
// Screenshots land in test-output/.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { ActiveAlarm } from '../../src/alarms/engine.ts';
import { alarmsSchema } from '../../src/alarms/config.ts';
import type { StatusDocument } from '../../src/health/status.ts';
import { silentLogger } from '../../src/log.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { applyConfig } from '../../src/pipeline/reload.ts';
import { fastDemoConfig } from '../support/fast-demo.ts';
import { get, tempDir, until } from '../integration/health-testkit.ts';
import { openDashboard, SCREENSHOTS as OUT, skipWithoutChromium } from '../support/chromium.ts';

const tmp = tempDir('fg-dash-tags-');
after(() => tmp.cleanup());

/** every tag of deploy/examples/demo.yaml */
const DEMO_TAGS = ['press/press1.temperature', 'press/press1.oil_pressure', 'press/press1.strokes', 'press/press1.running',
  'press/chiller.supply_temp', 'line1/ambient', 'line1/pressure', 'line1/running'];
/** the ones whose simulated value keeps moving */
const MOVING = ['press/press1.temperature', 'press/press1.oil_pressure', 'press/press1.strokes', 'line1/ambient', 'line1/pressure'];
const ALARM = 'line-pressure:high';

test('tag table, trend, alarms and planned restarts on the demo plant', { skip: skipWithoutChromium('dashboard tags test') }, async () => {
  const { cfg, baseDir } = await fastDemoConfig(tmp.dir);
  type Any = Record<string, unknown>;
  // line pressure: a 12 s sine between 4 and 8; the alarm is above 7.5 (clears below 7)
  const opc = (cfg.simulators as Any[]).find((s) => s.type === 'opcua')!;
  const pressure = (opc.variables as Any[]).find((v) => v.path === 'Line1/Pressure')!;
  (pressure.generator as Any).period = 12_000;
  cfg.alarms = alarmsSchema.parse([{ id: 'line-pressure', tag: 'line1/pressure', high: 7.5, deadband: 0.5, severity: 'warning' }]);
  cfg.health.probes = { unhealthy: 200, stable: 1_000 };
  // a threshold the score stays above, so the model card's anomaly colour can be checked
  const model = cfg.models[0]!;
  model.thresholds = [{ ...model.thresholds[0]!, above: 0.001, clear: 0.0005 }];

  const p = new Pipeline({ config: cfg, baseDir, log: silentLogger() });
  await p.start();
  const url = p.health!.url!;
  const { page, errors, close } = await openDashboard(`${url}/`, { width: 1500, height: 1000 });
  try {

    // every demo tag is listed, read good
    const row = (key: string) => {
      const i = key.indexOf('/');
      return page.locator(`#tags tr.tag[data-source="${key.slice(0, i)}"][data-tag="${key.slice(i + 1)}"]`);
    };
    for (const key of DEMO_TAGS) await row(key).and(page.locator('[data-quality="good"]')).waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('#tags tr.tag').count(), DEMO_TAGS.length, 'one row per demo tag, no more');
    const values = async () => Object.fromEntries(await Promise.all(MOVING.map(async (k) => [k, await row(k).locator('td.value').textContent()] as const)));
    const first = await values();
    await until('every moving tag shows a new value', async () => {
      const now = await values();
      return MOVING.every((k) => now[k] !== first[k]);
    }, 15_000, 250);

    // search narrows the table
    await page.fill('#tag-search', 'chiller');
    await until('search applied', async () => (await page.locator('#tags tr.tag').count()) === 1, 5_000, 100);
    await page.fill('#tag-search', '');
    await until('search cleared', async () => (await page.locator('#tags tr.tag').count()) === DEMO_TAGS.length, 5_000, 100);

    // clicking a tag opens its trend, which draws
    await row('press/press1.temperature').click();
    await page.waitForSelector('#trend:not([hidden]) #trend-chart canvas', { timeout: 10_000 });
    await until('trend has buckets', async () => /\d+ buckets/.test(String(await page.locator('#trend-note').textContent())), 10_000, 200);

    // predictions: the score chart with its threshold line
    await until('predictions', async () => (JSON.parse((await get(`${url}/api/series`)).body) as { models: { t: number[] }[] }).models.some((m) => m.t.length > 3), 60_000, 500);
    await page.waitForSelector('#scores canvas', { timeout: 10_000 });
    assert.match(String(await page.locator('#scores').textContent()), /threshold 0\.001/);
    // a raised model threshold colours the model card
    await until('the model threshold raised', async () => (JSON.parse((await get(`${url}/api/status`)).body) as StatusDocument).stages
      .some((s) => s.kind === 'model' && (s.raised?.length ?? 0) > 0), 30_000, 100);
    await page.waitForSelector('[data-stage="model.press-temp-anomaly"][data-anomaly="raised"]', { timeout: 2_000 });

    // the alarm: raised by the simulator's sine crossing 7.5, shown within 2 s, then cleared
    const active = async () => (JSON.parse((await get(`${url}/api/alarms`)).body) as { active: ActiveAlarm[] }).active;
    await until('the alarm is clear to begin with', async () => (await active()).length === 0, 20_000, 50);
    await until('the alarm is raised', async () => (await active()).some((a) => a.id === ALARM), 20_000, 20);
    const raisedAt = Date.now();
    await page.waitForSelector(`#alarms tr[data-alarm="${ALARM}"]`, { timeout: 2_000 });
    await page.waitForSelector('[data-stage="source.line1"][data-alarm="warning"]', { timeout: 2_000 });
    const shownMs = Date.now() - raisedAt;
    assert.ok(shownMs <= 2_000, `shown after ${shownMs} ms`);
    assert.equal(await row('line1/pressure').getAttribute('data-alarm'), 'warning', 'the tag row is coloured');
    await page.screenshot({ path: join(OUT, 'dashboard-alarm.png'), fullPage: true });
    // acknowledge from the page: local, recorded with who and when
    await page.click(`#alarms button[data-ack="${ALARM}"]`).catch(() => undefined);
    await until('the alarm clears', async () => (await active()).length === 0, 20_000, 20);
    const clearedAt = Date.now();
    await page.waitForSelector(`#alarms tr[data-alarm="${ALARM}"]`, { state: 'detached', timeout: 2_000 });
    await page.waitForSelector('[data-stage="source.line1"]:not([data-alarm])', { timeout: 2_000 });
    process.stdout.write(`# alarm shown ${shownMs} ms after it was raised, gone ${Date.now() - clearedAt} ms after it cleared\n`);
    const st = JSON.parse((await get(`${url}/api/status`)).body) as StatusDocument;
    const kinds = st.events.filter((e) => e.data?.alarm === ALARM).map((e) => e.kind);
    assert.ok(kinds.includes('alarm') && kinds.includes('alarm-cleared'), `raised and cleared events: ${kinds.join(',')}`);

    // with the trend of the pressure open, for the screenshot of the whole page
    await row('line1/pressure').click();
    await page.waitForTimeout(1_500);
    await page.screenshot({ path: join(OUT, 'dashboard-tags.png'), fullPage: true });

    // a reload that restarts line1: shown as a planned restart, followed by a "back up" event, no critical event
    const next = structuredClone(p.config);
    const line1 = (next.sources as Any[]).find((s) => s.id === 'line1')!;
    line1.publishingInterval = 400;
    const since = Date.now();
    const result = await applyConfig(p, next);
    assert.ok(result.ok);
    assert.deepEqual(result.restarted, ['source line1 restarted (configuration changed)']);
    await until('back up event', async () => (JSON.parse((await get(`${url}/api/status`)).body) as StatusDocument).events
      .some((e) => e.kind === 'back-up' && e.source === 'source.line1' && e.ts >= since), 30_000, 100);
    const after = JSON.parse((await get(`${url}/api/status`)).body) as StatusDocument;
    const critical = after.events.filter((e) => e.ts >= since && e.severity === 'critical' && e.source === 'source.line1');
    assert.deepEqual(critical, [], 'a planned restart is not a failure');
    await page.waitForSelector('#events li.info >> text=/source.line1 is back up after a planned restart/', { timeout: 5_000 });
    await page.screenshot({ path: join(OUT, 'dashboard-reload.png'), fullPage: true });
    assert.deepEqual(errors, [], 'no script errors on the page');
    process.stdout.write(`# screenshots: ${join(OUT, 'dashboard-tags.png')}, ${join(OUT, 'dashboard-alarm.png')}\n`);
  } finally {
    await close();
    await p.stop(10_000);
  }
});
