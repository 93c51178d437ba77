import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { createOutbox, outboxSchema } from '../../outbox/index.ts';
import { numberBatch, tempContext } from '../../../test/support/outbox/testing.ts';
import { sinkSchema } from '../config.ts';
import { createSink } from '../index.ts';
import { natsSinkSchema } from './config.ts';
import { SubjectTemplate, subjectToken } from './subject.ts';
import { NatsCluster, natsServerBinary, readStream } from '../../../test/support/nats/test-cluster.ts';
import { until } from '../../../test/support/wait.ts';

const base = { id: 'n', type: 'nats', servers: 'nats://127.0.0.1:4222', stream: 'S' };

describe('nats sink config', () => {
  test('defaults and several servers', () => {
    const c = natsSinkSchema.parse({ ...base, servers: ['nats://a:4222', 'tls://b:4222'] });
    assert.equal(c.subject, 'fieldgate.{gateway}.{kind}.{source}');
    assert.equal(c.replayHorizon, 120_000);
    assert.equal(c.ackTimeout, 10_000);
    assert.equal(c.create, undefined, 'stream creation is off by default');
  });

  test('refuses what would publish nowhere or ambiguously', () => {
    const issues = (x: object) => {
      const r = natsSinkSchema.safeParse({ ...base, ...x });
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    assert.match(issues({ subject: 'a.{src}' }).join(), /subject: unknown variable \{src\}/);
    assert.match(issues({ subject: 'a.*.{source}' }).join(), /subject: a publish subject has no wildcards/);
    assert.match(issues({ subject: 'a..b' }).join(), /empty tokens/);
    assert.match(issues({ token: 't', user: 'u', password: 'p' }).join(), /choose one of/);
    assert.match(issues({ password: 'p' }).join(), /password needs user/);
    assert.match(issues({ servers: 'http://x:4222' }).join(), /servers: expected nats:\/\/host:port/);
    assert.match(issues({ stream: 'a.b' }).join(), /stream: a JetStream stream name/);
  });

  test('subject template: values cannot add tokens or wildcards; created streams take * per variable', () => {
    const t = new SubjectTemplate('plant.{gateway}.{kind}.{source}.{tag}', 'gw 1');
    assert.equal(t.render('sample', 'ns=2;s=Line.1', 'a>b*c'), 'plant.gw_1.sample.ns=2;s=Line_1.a_b_c');
    assert.equal(t.render('sample', '', 't'), 'plant.gw_1.sample._.t');
    assert.equal(t.wildcard(), 'plant.*.*.*.*');
    assert.equal(new SubjectTemplate('x.gw-{gateway}.{kind}', 'g').wildcard(), 'x.*.*');
    assert.equal(subjectToken('a.b c'), 'a_b_c');
  });
});

const bin = natsServerBinary();

describe('nats sink against one nats-server with a token', { skip: bin.path ? false : bin.why }, () => {
  let server: NatsCluster;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  before(async () => {
    server = await NatsCluster.start(bin.path!, 1, 'authorization { token: "tok-s3cret" }', { token: 'tok-s3cret' });
    nc = await server.client();
    jsm = await jetstreamManager(nc);
  });
  after(async () => {
    await nc?.close();
    await server?.stop();
  });

  async function withSink(cfg: object, fn: (s: ReturnType<typeof setup>) => Promise<void>) {
    const s = setup(cfg);
    try {
      await s.box.start();
      await s.sink.start();
      await fn(s);
    } finally {
      await s.sink.stop(2000);
      await s.box.stop(2000);
      s.ctx.cleanup();
    }
  }
  function setup(cfg: object) {
    const ctx = tempContext('gw-s');
    const box = createOutbox(outboxSchema.parse({ commitInterval: '5ms' }), ctx);
    const sink = createSink(sinkSchema.parse({ id: 'js', type: 'nats', servers: server.urls, backoff: { initial: '20ms', max: '200ms' }, ...cfg }), box, ctx);
    const errors = async () => new Map((await ctx.metrics.errors.get()).values.map((v) => [String(v.labels.code), v.value]));
    return { ctx, box, sink, errors };
  }

  test('create: the absent stream is made with duplicate_window = replayHorizon and subjects from the template; records arrive once', async () => {
    await withSink({ token: 'tok-s3cret', stream: 'MADE', subject: 'made.{gateway}.{kind}.{source}', replayHorizon: '5m', create: { replicas: 1, storage: 'memory' } }, async (s) => {
      await s.box.writeSamples(numberBatch('plc1', 0, 300));
      await until('delivered', () => s.sink.probe().details?.backlog === 0 && Number(s.sink.probe().details?.sent) === 300, 15_000);
      const info = await jsm.streams.info('MADE');
      assert.deepEqual(info.config.subjects, ['made.*.*.*']);
      assert.equal(info.config.duplicate_window, 300_000_000_000);
      assert.equal(info.config.storage, 'memory');
      const stored = await readStream(nc, 'MADE');
      assert.equal(stored.length, 300);
      assert.equal(stored[0]!.subject, 'made.gw-s.sample.plc1');
      assert.deepEqual(stored.map((x) => x.rec.value), Array.from({ length: 300 }, (_, i) => i));
      assert.ok(!(await s.errors()).has('FG_E_NATS_DUPLICATE_WINDOW'));
    });
  });

  test('a stream whose duplicate window is shorter than replayHorizon is used, with FG_E_NATS_DUPLICATE_WINDOW counted', async () => {
    await jsm.streams.add({ name: 'SHORT', subjects: ['short.>'], storage: 'memory' as never, duplicate_window: 10_000_000_000 });
    await withSink({ token: 'tok-s3cret', stream: 'SHORT', subject: 'short.{source}', replayHorizon: '2m' }, async (s) => {
      await s.box.writeSamples(numberBatch('plc1', 0, 10));
      await until('delivered', () => s.sink.probe().details?.backlog === 0, 15_000);
      assert.equal((await s.errors()).get('FG_E_NATS_DUPLICATE_WINDOW'), 1);
    });
  });

  test('a missing stream (create off) keeps the sink down with FG_E_NATS_STREAM; the records wait in the outbox', async () => {
    await withSink({ token: 'tok-s3cret', stream: 'ABSENT', subject: 'absent.{source}' }, async (s) => {
      await s.box.writeSamples(numberBatch('plc1', 0, 10));
      await until('error counted', async () => ((await s.errors()).get('FG_E_NATS_STREAM') ?? 0) >= 1, 15_000);
      const p = s.sink.probe();
      assert.equal(p.state, 'down');
      assert.match(String(p.reason), /FG_E_NATS_STREAM: stream ABSENT does not exist/);
      assert.equal(p.details?.backlog, 10);
    });
  });

  test('a wrong token is FG_E_SINK_CONNECT, and neither the probe nor the logs carry the secret', async () => {
    const lines: string[] = [];
    await withSink({ token: 'wrong-t0ken', stream: 'MADE', subject: 'made.{gateway}.{kind}.{source}' }, async (s) => {
      const log = s.ctx.log as unknown as Record<string, (o: unknown, m?: string) => void>;
      for (const k of ['warn', 'info', 'error']) { const f = log[k]!.bind(log); log[k] = (o, m) => { lines.push(JSON.stringify([o, m])); f(o, m); }; }
      await until('connect error', () => s.sink.probe().details?.lastError !== undefined, 15_000);
      const p = s.sink.probe();
      assert.equal(p.state, 'down');
      assert.match(String(p.reason), /FG_E_SINK_CONNECT/);
      assert.ok(!JSON.stringify(p).includes('wrong-t0ken'));
    });
    assert.ok(!lines.join('\n').includes('wrong-t0ken'));
  });

  test('stop() leaves no socket or timer behind', async () => {
    const before = process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'Timeout').length;
    await withSink({ token: 'tok-s3cret', stream: 'MADE', subject: 'made.{gateway}.{kind}.{source}' }, async (s) => {
      await s.box.writeSamples(numberBatch('plc2', 0, 50));
      await until('delivered', () => s.sink.probe().details?.backlog === 0, 15_000);
    });
    await until('handles released', () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'Timeout').length <= before, 5000);
  });
});
