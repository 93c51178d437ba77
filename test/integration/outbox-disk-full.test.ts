// A full disk, for real: the outbox on a small tmpfs. New records wait once the filesystem's free
// space drops below outbox.diskReserve (ingestion pauses cleanly, nothing refused), the probe says
// down with the reason, the failure is counted and logged at most once per interval; a file sink
// that starts draining lets the outbox delete confirmed rows, and ingestion resumes by itself.
// Every accepted record reaches the sink, in order. Needs root (mount); skipped otherwise, with why.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { readinessSchema } from '../../src/health/config.ts';
import { ProbeScheduler } from '../../src/health/probes.ts';
import { readiness } from '../../src/health/status.ts';
import { Taps } from '../../src/health/taps.ts';
import { createLogger } from '../../src/log.ts';
import { createOutbox, outboxSchema } from '../../src/outbox/index.ts';
import { assertSourceAccounting, numberBatch, tempContext } from '../support/outbox/testing.ts';
import { sinkSchema } from '../../src/sinks/config.ts';
import { createSink } from '../../src/sinks/index.ts';
import { until } from '../support/wait.ts';

function mountTmpfs(dir: string, size: string): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to mount a small tmpfs (run it through .ci/run, or as root)';
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
    return undefined;
  } catch (e) {
    return `cannot mount a tmpfs here (${(e as Error).message.split('\n')[0]}); a container needs CAP_SYS_ADMIN`;
  }
}

test('disk full on a small filesystem: ingestion pauses, the probe is down, draining heals it, nothing accepted is lost', async (t) => {
  const ctx = tempContext('gw-diskfull');
  const mnt = join(ctx.dir, 'small');
  mkdirSync(mnt);
  const why = mountTmpfs(mnt, '6M');
  if (why) {
    ctx.cleanup();
    t.skip(why);
    return;
  }
  const lines: string[] = [];
  ctx.log = createLogger({ level: 'info', format: 'json', destination: new Writable({ write(c, _e, cb) { lines.push(String(c)); cb(); } }) });
  const box = createOutbox(outboxSchema.parse({ path: join(mnt, 'outbox.db'), commitInterval: '5ms', diskReserve: '1500KB', dropLogInterval: '1s' }), ctx);
  // the sink exists (its cursor holds every row) but is not started: nothing drains yet
  const sink = createSink(sinkSchema.parse({ id: 'hist', type: 'file', path: join(ctx.dir, 'out.jsonl'), maxBytes: '1GB', whenBehind: 'block' }), box, ctx);
  // and a cloud sink that never comes back, bounded: it must neither hold the disk nor lose count
  const cloud = box.cursor('cloud', { records: 5_000, whenBehind: 'drop-oldest' });
  try {
    await box.start();
    let accepted = 0;
    let refused = 0;
    let next = 0;
    let stop = false;
    let resolvedAt = Date.now();
    // ingestion: up to 8 writes of 200 samples in flight at once (the router keeps up to 64), in order
    const inFlight = new Set<Promise<void>>();
    const ingest = (async () => {
      while (!stop) {
        while (inFlight.size >= 8) await Promise.race(inFlight);
        // two sources, every other batch: the accounting is checked per source too
        const b = numberBatch(next % 400 === 0 ? 'plc' : 'rtu', next, 200);
        next += 200;
        const w: Promise<void> = box.writeSamples(b).then(
          () => { accepted += 200; resolvedAt = Date.now(); inFlight.delete(w); },
          () => { refused += 200; inFlight.delete(w); },
        );
        inFlight.add(w);
      }
      await Promise.all(inFlight);
    })();
    await until('the outbox reports the full disk', () => box.probe().state === 'down', 60_000);
    const p = box.probe();
    assert.match(p.reason ?? '', /disk full/);
    // what /readyz answers: not ready, with the outbox's reason
    const view = { stages: () => [box], sources: [], router: { lastBatchTime: 0, batchesRouted: 0 }, metrics: ctx.metrics, taps: new Taps() };
    const probes = new ProbeScheduler({ stages: view.stages, unhealthyMs: 0, stableMs: 0 });
    const ready = (): ReturnType<typeof readiness> => { probes.refresh(); return readiness(view, probes, readinessSchema.parse({})); };
    const notReady = ready();
    assert.equal(notReady.ok, false);
    assert.ok(notReady.reasons.some((r) => /outbox is down: outbox cannot write: disk full/.test(r)), notReady.reasons.join('; '));
    const stuckAt = accepted;
    // it stays paused: nothing is refused, nothing more accepted, however long it lasts
    await new Promise((r) => setTimeout(r, 2_500));
    assert.equal(accepted, stuckAt, 'no write resolves while the disk is full');
    assert.equal(refused, 0, 'no write is refused: they wait');
    assert.equal(box.probe().state, 'down');
    const errors = (await ctx.metrics.errors.get()).values.find((v) => v.labels.code === 'FG_E_OUTBOX_DISK_FULL')?.value ?? 0;
    assert.ok(errors >= 2, `every failed attempt is counted (${errors})`);
    assert.ok(errors <= 40, `retried calmly (every 250 ms), not in a tight loop: ${errors} attempts`);
    const logged = lines.filter((l) => l.includes('FG_E_OUTBOX_DISK_FULL')).length;
    assert.ok(logged >= 1 && logged <= 5, `logged at most once a second (dropLogInterval), not per attempt: ${logged} lines for ${errors} failures`);

    // the upstream comes: draining frees pages in the file, ingestion resumes without a restart
    await sink.start();
    await until('ingestion resumes by itself', () => box.probe().state === 'up' && accepted > stuckAt + 20_000, 60_000);
    assert.ok(Date.now() - resolvedAt < 5_000);
    assert.equal(ready().ok, true, 'ready again once healed');
    stop = true;
    await ingest;
    await until('the sink drains', () => (sink.probe().details as { backlog: number }).backlog === 0, 60_000);
    await sink.stop(2_000);
    const got = readFileSync(join(ctx.dir, 'out.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { value: number }).value);
    assert.equal(refused, 0);
    assert.equal(got.length, accepted, 'every accepted record reached the sink');
    assert.deepEqual(got, Array.from({ length: accepted }, (_, i) => i), 'in order, none twice');
    assert.ok(box.stats().accepted === accepted);
    // the accounting identity, per sink: accepted = delivered + dropped (+ still owed)
    const hist = (await ctx.metrics.sent.get()).values.find((v) => v.labels.stage === 'sink.hist')?.value ?? 0;
    assert.equal(hist, accepted, 'hist: every record delivered, none dropped');
    assert.equal(cloud.dropped.lag + cloud.backlog(), accepted, 'cloud: dropped for lag + still owed = accepted');
    assert.ok(cloud.backlog() <= 5_000);
    // per source: the file sink confirmed each source's records, the cloud lost its own to lag
    const a = await assertSourceAccounting(box, ctx.metrics);
    const bySource = (src: string) => got.filter((v) => (Math.floor(v / 200) % 2 === 0) === (src === 'plc')).length;
    assert.deepEqual(a.sinks.hist!.confirmed, { plc: bySource('plc'), rtu: bySource('rtu') });
    assert.deepEqual(a.accepted, { plc: bySource('plc'), rtu: bySource('rtu') });
    assert.ok((a.sinks.cloud!.dropped.plc?.lag ?? 0) > 0 && (a.sinks.cloud!.dropped.rtu?.lag ?? 0) > 0);
  } finally {
    await sink.stop(1_000).catch(() => undefined);
    await box.stop(2_000);
    try { execFileSync('umount', [mnt]); } catch { /* not mounted */ }
    ctx.cleanup();
  }
});
