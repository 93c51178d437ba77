// Reload of the sections that apply in place on a running pipeline: the log level reaches the
// stages' loggers at once (the format waits for a restart), and the outbox's limits and policies
// apply without restarting it or losing a record (path and synchronous wait for a restart).
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import { stringify } from 'yaml';
import { z } from 'zod';
import { defineDriver } from '../core/contracts.ts';
import { tempDir, testDrivers, until } from '../../test/integration/health-testkit.ts';
import { sourceBaseShape } from '../core/config-common.ts';
import { parseConfigText } from '../config/load.ts';
import { buildConfigSchema, type FieldgateConfig } from '../config/schema.ts';
import { duration } from '../core/units.ts';
import type { SampleBatch } from '../core/sample.ts';
import { createLogger } from '../log.ts';
import { Pipeline } from './pipeline.ts';
import { reloadFromFile } from './reload.ts';

const tmp = tempDir('fg-reload-live-');
after(() => tmp.cleanup());

const chattySchema = z.strictObject({
  ...sourceBaseShape,
  type: z.literal('chatty'),
  interval: duration().default(10),
});
type ChattyConfig = z.output<typeof chattySchema>;

/** A source that logs one debug and one warn line per batch through its stage's logger. */
const chattyDriver = defineDriver<ChattyConfig>({
  type: 'chatty',
  description: 'test-only: logs at debug and warn on every batch',
  schema: chattySchema,
  channelDefaults: { capacity: 64, whenFull: 'block' },
  create(cfg, ctx) {
    return {
      async run(signal) {
        let n = 0;
        while (!signal.aborted) {
          ctx.log.debug({ n }, 'chatty debug');
          ctx.log.warn({ n }, 'chatty warn');
          const now = Date.now();
          const batch: SampleBatch = { source: cfg.id, samples: [{ source: cfg.id, tag: 'n', ts: now, value: n, quality: 'good' }], receivedAt: now };
          await ctx.out.send(batch, signal);
          ctx.heartbeat();
          n++;
          await new Promise<void>((resolve) => {
            const onAbort = (): void => { clearTimeout(t); resolve(); };
            const t = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(); }, cfg.interval);
            signal.addEventListener('abort', onAbort, { once: true });
          });
        }
      },
      probe() {
        return { state: 'up' };
      },
    };
  },
});

const drivers = [...testDrivers, chattyDriver];
const schema = buildConfigSchema(drivers);

/** Writes `doc` as the config file and returns the loader a reload uses (with the test drivers). */
function configFile(name: string): { file: string; write: (doc: Record<string, unknown>) => FieldgateConfig; load: (f: string) => { config: FieldgateConfig; file: string; baseDir: string } } {
  const file = join(tmp.dir, name);
  const parse = (text: string): FieldgateConfig => parseConfigText(text, name, tmp.dir, { schema });
  return {
    file,
    write: (doc) => {
      const text = stringify(doc);
      writeFileSync(file, text);
      return parse(text);
    },
    load: (f) => ({ config: parse(readFileSync(f, 'utf8')), file: f, baseDir: tmp.dir }),
  };
}

interface Line { level: number; msg: string; stage?: string; changes?: string[] }

function capture(): { lines: Line[]; destination: Writable } {
  const lines: Line[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Line);
      cb();
    },
  });
  return { lines, destination };
}

test('log level debug -> warn reaches the running stages at once; the format waits for a restart', async () => {
  const { lines, destination } = capture();
  const cf = configFile('log.yaml');
  const doc = (level: string, format = 'json') => ({
    gateway: { id: 'gw-live-log', dataDir: join(tmp.dir, 'log-data') },
    sources: [{ type: 'chatty', id: 'a' }],
    health: { enabled: false },
    log: { level, format },
  });
  const config = cf.write(doc('debug'));
  const p = new Pipeline({ config, baseDir: tmp.dir, log: createLogger({ level: 'debug', format: 'json', destination }), drivers });
  await p.start();
  try {
    const stageLines = (from: number, msg: string) => lines.slice(from).filter((l) => l.stage === 'source.a' && l.msg === msg).length;
    await until('the source logs at debug', () => stageLines(0, 'chatty debug') >= 3);
    const source = p.sources[0]!;

    cf.write(doc('warn'));
    const r = await reloadFromFile(p, cf.file, { load: cf.load });
    assert.ok(r.ok, r.errors.join('; '));
    assert.deepEqual(r.changes, ['log level debug -> warn applied']);
    // the summary line is still written (a quieter level applies right after it)
    const summary = lines.findIndex((l) => l.msg === 'configuration reloaded: log level debug -> warn applied');
    assert.ok(summary >= 0, 'the summary line names the change');
    await until('the running source keeps logging at warn', () => stageLines(summary, 'chatty warn') >= 5);
    assert.equal(stageLines(summary + 1, 'chatty debug'), 0, 'no debug line from the running stage after the reload');
    assert.equal(p.sources[0], source, 'the source was not restarted for a log change');
    assert.equal(p.config.log.level, 'warn');
    assert.equal(p.log.isLevelEnabled('info'), false);

    // louder again, plus a format change: the level applies, the format waits (the output stays JSON)
    cf.write(doc('debug', 'pretty'));
    const mark = lines.length;
    const r2 = await reloadFromFile(p, cf.file, { load: cf.load });
    assert.deepEqual(r2.changes, ['log level warn -> debug applied', 'log format json -> pretty: takes effect at the next restart']);
    assert.ok(lines.slice(mark).some((l) => l.msg.startsWith('configuration reloaded: log level warn -> debug applied; log format json -> pretty: takes effect at the next restart')));
    await until('debug lines are back', () => stageLines(mark, 'chatty debug') >= 3);
    assert.equal(p.config.log.format, 'json', 'the running format is kept until the restart');
    assert.equal(p.sources[0], source);
  } finally {
    await p.stop(5_000);
  }
});

test('outbox maxBytes and whenFull apply live: the same outbox, no record lost; path and synchronous wait', async () => {
  const cf = configFile('outbox.yaml');
  const dataDir = join(tmp.dir, 'outbox-data');
  const doc = (outbox: Record<string, unknown>) => ({
    gateway: { id: 'gw-live-outbox', dataDir },
    sources: [{ type: 'ticker', id: 't', interval: '10ms', tags: 50 }],
    health: { enabled: false },
    outbox: { commitInterval: '5ms', ...outbox },
  });
  const config = cf.write(doc({ maxBytes: '100KB', whenFull: 'block' }));
  const p = new Pipeline({ config, baseDir: tmp.dir, log: createLogger({ level: 'silent' }), drivers });
  await p.start();
  try {
    const box = p.outbox;
    const epoch = box.stats().epoch;
    // no sinks: nothing is confirmed, so the outbox fills and `block` holds the router's writes
    await until('the outbox is full and holds a write', () => box.stats().full && box.stats().blockedWrites > 0);
    const before = box.stats();
    assert.equal(before.dropped.full, 0);

    // a larger bound: the held write goes in and ingestion goes on, nothing dropped
    cf.write(doc({ maxBytes: '64MB', whenFull: 'block' }));
    const r = await reloadFromFile(p, cf.file, { load: cf.load });
    assert.ok(r.ok, r.errors.join('; '));
    assert.deepEqual(r.changes, ['outbox maxBytes 100000 -> 64000000 applied (the outbox keeps running and keeps its contents)']);
    await until('records keep arriving past the old bound', () => box.stats().rows > before.rows + 1_000);
    const grown = box.stats();
    assert.equal(grown.full, false);
    assert.equal(grown.maxBytes, 64_000_000);
    assert.equal(grown.epoch, epoch, 'the same file, never reopened');
    assert.equal(grown.firstSeq, 1, 'no record was deleted');
    assert.equal(grown.rows, grown.lastSeq, 'every record accepted is still there');
    assert.equal(grown.dropped.full + grown.dropped.expired, 0);
    assert.equal(p.outbox, box);
    assert.equal(p.config.outbox.maxBytes, 64_000_000);

    // path and synchronous need the file reopened: reported, not applied
    cf.write(doc({ maxBytes: '64MB', whenFull: 'block', synchronous: 'full', path: 'other.db' }));
    const r2 = await reloadFromFile(p, cf.file, { load: cf.load });
    assert.deepEqual(r2.changes, ['outbox path (unset) -> other.db, synchronous normal -> full: take effect at the next restart (the outbox keeps its contents)']);
    assert.equal(p.config.outbox.synchronous, 'normal');
    assert.equal(p.config.outbox.path, undefined);
    assert.equal(box.stats().file, join(dataDir, 'outbox.db'));

    // drop-oldest with a small bound: applied at once, and every record is kept or counted as dropped
    cf.write(doc({ maxBytes: '100KB', whenFull: 'drop-oldest' }));
    const r3 = await reloadFromFile(p, cf.file, { load: cf.load });
    assert.deepEqual(r3.changes, ['outbox maxBytes 64000000 -> 100000, whenFull block -> drop-oldest applied (the outbox keeps running and keeps its contents)']);
    await until('the oldest are dropped under the new bound', () => box.stats().dropped.full > 0);
    const s = box.stats();
    assert.equal(s.rows + s.dropped.full + s.dropped.expired, s.lastSeq, 'kept + counted drops = every record accepted');
    assert.equal(s.blockedWrites, 0);
    assert.equal(s.epoch, epoch);
  } finally {
    await p.stop(5_000);
  }
});
