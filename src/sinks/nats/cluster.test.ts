import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { createOutbox, outboxSchema } from '../../outbox/index.ts';
import { numberBatch, tempContext } from '../../../test/support/outbox/testing.ts';
import { sinkSchema } from '../config.ts';
import { createSink } from '../index.ts';
import { NatsCluster, type StoredRecord, natsServerBinary, readStream } from '../../../test/support/nats/test-cluster.ts';
import { until } from '../../../test/support/wait.ts';
import { runLineChild } from '../../../test/support/line-child.ts';

const bin = natsServerBinary();
const fixture = fileURLToPath(new URL('../../../test/support/nats/kill9.fixture.ts', import.meta.url));

async function addStream(jsm: JetStreamManager, name: string, subjects: string[]): Promise<void> {
  await jsm.streams.add({ name, subjects, num_replicas: 3, storage: 'file' as never, duplicate_window: 120_000_000_000 });
}

/** Each source's values in stream order: the test writes 0, 1, 2, ... per source. */
function bySource(stored: StoredRecord[]): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (const s of stored) {
    let a = m.get(s.rec.source);
    if (!a) m.set(s.rec.source, (a = []));
    a.push(s.rec.value);
  }
  return m;
}

function assertExactlyOnce(stored: StoredRecord[]): void {
  const ids = new Set<string>();
  for (const s of stored) {
    assert.equal(s.msgId, s.rec.id, 'Nats-Msg-Id is the record id');
    assert.ok(!ids.has(s.msgId), `record ${s.msgId} stored twice (stream seq ${s.seq})`);
    ids.add(s.msgId);
  }
}

describe('nats sink against a real 3-node JetStream cluster', { skip: bin.path ? false : bin.why }, () => {
  let cluster: NatsCluster;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  before(async () => {
    cluster = await NatsCluster.start(bin.path!);
    nc = await cluster.client();
    jsm = await jetstreamManager(nc);
  });
  after(async () => {
    await nc?.close();
    await cluster?.stop();
  });

  test('follower killed and restarted, then the stream leader killed, mid-stream: every accepted record exactly once, in order per source', async (t) => {
    await addStream(jsm, 'FG', ['fg.>']);
    const ctx = tempContext('gw-n');
    const box = createOutbox(outboxSchema.parse({ commitInterval: '5ms' }), ctx);
    const sink = createSink(sinkSchema.parse({
      id: 'js', type: 'nats', servers: cluster.urls, stream: 'FG', subject: 'fg.{gateway}.{kind}.{source}',
      backoff: { initial: '50ms', max: '500ms' }, ackTimeout: '3s', connectTimeout: '2s',
    }), box, ctx);
    let writing = true;
    const sources = ['s1', 's2', 's3', 's4'];
    const accepted = new Map(sources.map((s) => [s, 0]));
    const sent = () => Number(sink.probe().details?.sent ?? 0);
    const backlog = () => Number(sink.probe().details?.backlog ?? 0);
    const writers: Promise<void>[] = [];
    try {
      await box.start();
      await sink.start();
      for (const s of sources) {
        writers.push((async () => {
          while (writing) {
            // stay ahead of the sink without an unbounded backlog (the test drains it at the end)
            if (backlog() > 40_000) { await new Promise((r) => setTimeout(r, 5)); continue; }
            const n = accepted.get(s)!;
            await box.writeSamples(numberBatch(s, n, 250));
            accepted.set(s, n + 250);
          }
        })());
      }
      const progress = async (what: string, more: number) => {
        const target = sent() + more;
        await until(what, () => sent() >= target, 30_000, 20);
      };
      const leader = async () => {
        const info = await jsm.streams.info('FG');
        return cluster.indexOf(info.cluster!.leader!);
      };
      await progress('streaming', 15_000);
      const l0 = await leader();
      const follower = (l0 + 1) % 3;
      const t0 = performance.now();
      await cluster.kill(follower);
      await progress('streaming with a follower down', 15_000);
      await cluster.restart(follower);
      await until('the restarted follower current', async () => {
        const info = await jsm.streams.info('FG').catch(() => undefined);
        const reps = info?.cluster?.replicas ?? [];
        return reps.length === 2 && reps.every((r) => r.current && !r.offline);
      }, 30_000, 100);
      await progress('streaming after the follower came back', 15_000);
      const l1 = await leader();
      await cluster.kill(l1);
      await progress('streaming after the leader was killed', 15_000);
      const outage = Math.round(performance.now() - t0);
      writing = false;
      await Promise.all(writers);
      await until('the sink caught up', () => backlog() === 0, 45_000, 50);

      const total = [...accepted.values()].reduce((a, b) => a + b, 0);
      const errors = (await ctx.metrics.errors.get()).values.filter((v) => v.labels.stage === 'sink.js');
      t.diagnostic(`accepted ${total} records; killed follower n${follower + 1} then leader n${l1 + 1}; ${outage} ms from first kill to the end of streaming; sink errors ${JSON.stringify(errors.map((e) => [e.labels.code, e.value]))}`);
      assert.equal(errors.find((e) => e.labels.code === 'FG_E_NATS_ORDER')?.value ?? 0, 0, 'no record stored after a later one');

      const stored = await readStream(nc, 'FG');
      assert.equal(stored.length, total, 'the stream holds as many messages as records accepted');
      assertExactlyOnce(stored);
      const per = bySource(stored);
      for (const s of sources) {
        const values = per.get(s) ?? [];
        assert.equal(values.length, accepted.get(s), `${s}: count`);
        for (let i = 0; i < values.length; i++) if (values[i] !== i) assert.fail(`${s}: stream position ${i} holds value ${values[i]} (in order, no gap, no duplicate expected)`);
      }
      await cluster.restart(l1);
    } finally {
      writing = false;
      await Promise.allSettled(writers);
      await sink.stop(2000);
      await box.stop(2000);
      ctx.cleanup();
    }
  });

  test('kill -9 of fieldgate mid-stream, then a restart: every committed record exactly once, in order per source', async (t) => {
    await addStream(jsm, 'FGK', ['fgk.>']);
    const dir = mkdtempSync(join(tmpdir(), 'fg-nats-kill9-'));
    try {
      const committed: [number, number][] = [];
      let total = 0;
      const w = runChild(dir, cluster.urls, 'write', (l) => {
        const [tag, a, b] = l.split(' ');
        if (tag === 'C') {
          committed.push([Number(a), Number(b)]);
          total += Number(b) - Number(a);
        }
      });
      // killed while records are certainly in flight: after some are stored, before all committed are
      const count = async () => (await jsm.streams.info('FGK')).state.messages;
      await until('child streaming', async () => total >= 30_000 && (await count()) >= 10_000, 30_000, 5);
      w.child.kill('SIGKILL');
      const r1 = await w.exited;
      assert.equal(r1.signal, 'SIGKILL', r1.err);
      const before = await count();
      let dups = -1;
      const d = runChild(dir, cluster.urls, 'drain', (l) => { if (l.startsWith('DRAINED ')) dups = Number(l.split(' ')[1]); });
      const r2 = await d.exited;
      assert.equal(r2.code, 0, r2.err);

      const stored = await readStream(nc, 'FGK');
      t.diagnostic(`committed ${total} records reported before the kill; stream held ${before} at the kill, ${stored.length} after the restart; ${dups} re-sent records dropped by the duplicate window`);
      assertExactlyOnce(stored);
      const values = bySource(stored).get('plc1') ?? [];
      for (let i = 1; i < values.length; i++) assert.ok(values[i]! > values[i - 1]!, `in order: ${values[i - 1]} then ${values[i]}`);
      const have = new Set(values);
      let missing = 0;
      for (const [a, b] of committed) for (let v = a; v < b; v++) if (!have.has(v)) missing++;
      assert.equal(missing, 0, `${missing} committed records never reached the stream`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function runChild(dir: string, urls: string[], mode: 'write' | 'drain', onLine: (l: string) => void) {
  return runLineChild(fixture, [dir, urls.join(','), mode], onLine);
}
