// /api/tags, tag history, /api/alarms and acknowledging, on a running pipeline (test ticker
// driver, real outbox and file sink): alarms raised by a limit and by missing data reach the
// upstream file as events; acknowledging is local and needs a JSON POST.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { ActiveAlarm } from '../../src/alarms/engine.ts';
import type { TagsDocument } from '../../src/health/tags.ts';
import { silentLogger } from '../../src/log.ts';
import { Pipeline } from '../../src/pipeline/pipeline.ts';
import { get, tempDir, testConfig, testDrivers, tickerControl, until } from './health-testkit.ts';

const tmp = tempDir('fg-tags-api-');
after(() => tmp.cleanup());

async function post(url: string, type?: string): Promise<number> {
  const r = await fetch(url, { method: 'POST', headers: type ? { 'Content-Type': type } : {}, body: '{}' });
  await r.text();
  return r.status;
}

test('tags, history and alarms over HTTP; alarm events go upstream through the outbox', async () => {
  const out = join(tmp.dir, 'out.jsonl');
  const cfg = testConfig({
    gateway: { id: 'gw-tags', dataDir: join(tmp.dir, 'data') },
    sources: [{ type: 'ticker', id: 'tk', interval: '20ms', tags: 4 }],
    alarms: [
      { id: 'big', tag: 'tk/t0', high: 20, severity: 'critical' },
      { id: 'quiet', tag: 'tk/t1', noDataFor: '600ms' },
    ],
    sinks: [{ id: 'file', type: 'file', path: out }],
    health: { port: 0 },
  }, tmp.dir);
  const p = new Pipeline({ config: cfg, baseDir: tmp.dir, log: silentLogger(), drivers: testDrivers });
  await p.start();
  try {
    const url = p.health!.url!;
    const json = async <T>(path: string): Promise<T> => JSON.parse((await get(`${url}${path}`)).body) as T;

    const tags = await until('tags with values', async () => {
      const d = await json<TagsDocument>('/api/tags');
      return d.total === 4 && d.sources[0]!.devices[0]!.tags.every((t) => t.quality === 'good') ? d : undefined;
    }, 10_000);
    assert.deepEqual(tags.sources.map((s) => s.source), ['tk']);
    assert.deepEqual(tags.sources[0]!.devices[0]!.tags.map((t) => t.tag), ['t0', 't1', 't2', 't3']);
    assert.equal((await json<TagsDocument>('/api/tags?q=t3')).shown, 1);

    const h = await json<{ t: number[]; last: number[]; resolutionMs: number }>('/api/tags/tk/t2/history?since=1m');
    assert.ok(h.t.length >= 1);
    assert.equal(h.resolutionMs, 1_000);
    assert.equal((await get(`${url}/api/tags/tk/nope/history`)).status, 404);
    assert.equal((await get(`${url}/api/tags/tk/t2/history?since=soon`)).status, 400);

    // t0 = polls: above 20 after about 20 polls
    const raised = await until('the limit alarm', async () => (await json<{ active: ActiveAlarm[] }>('/api/alarms')).active.find((a) => a.id === 'big:high'), 10_000);
    assert.equal(raised.severity, 'critical');
    assert.ok(typeof raised.value === 'number' && raised.value > 20);

    // acknowledge: JSON only, active alarms only, recorded with who and when
    assert.equal(await post(`${url}/api/alarms/big:high/ack`), 415);
    assert.equal(await post(`${url}/api/alarms/nope/ack`, 'application/json'), 404);
    assert.equal(await post(`${url}/api/alarms/big:high/ack`, 'application/json'), 200);
    const acked = (await json<{ active: ActiveAlarm[] }>('/api/alarms')).active.find((a) => a.id === 'big:high')!;
    assert.match(acked.acknowledged!.by, /127\.0\.0\.1/);
    assert.equal((await get(`${url}/api/alarms`)).status, 200);

    // the device goes quiet: the no-data alarm is raised; back: cleared
    tickerControl.get('tk')!.down = true;
    await until('the no-data alarm', async () => (await json<{ active: ActiveAlarm[] }>('/api/alarms')).active.some((a) => a.id === 'quiet:no-data'), 10_000);
    tickerControl.get('tk')!.down = false;
    await until('the no-data alarm clears', async () => !(await json<{ active: ActiveAlarm[] }>('/api/alarms')).active.some((a) => a.id === 'quiet:no-data'), 15_000);

    // raised and cleared reach upstream through the outbox (the file sink here)
    const events = await until('alarm events in the upstream file', () => {
      if (!existsSync(out)) return undefined;
      const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; event?: { kind: string; data?: { alarm?: string } }; data?: { alarm?: string } });
      const ev = lines.filter((l) => JSON.stringify(l).includes('"alarm":'));
      const text = JSON.stringify(ev);
      return text.includes('big:high') && text.includes('quiet:no-data') && text.includes('alarm-cleared') ? ev : undefined;
    }, 15_000, 100);
    assert.ok(events.length >= 3);
  } finally {
    await p.stop(5_000);
    tickerControl.delete('tk');
  }
});
