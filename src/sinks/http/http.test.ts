import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { createOutbox, outboxSchema } from '../../outbox/index.ts';
import { numberBatch, tempContext } from '../../../test/support/outbox/testing.ts';
import { sinkSchema } from '../config.ts';
import { createSink } from '../index.ts';
import { type CompactSamplesJson, decodeCompactSamples } from '../json.ts';
import { until as waitUntil } from '../../../test/support/wait.ts';

interface Req { headers: IncomingMessage['headers']; body: Buffer }

/** A real HTTP server whose answer the test sets: status per request. */
async function server(answer: (r: Req) => number) {
  const reqs: Req[] = [];
  const srv: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { headers: req.headers, body: Buffer.concat(chunks) };
      reqs.push(r);
      res.statusCode = answer(r);
      res.end();
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()));
  const port = (srv.address() as AddressInfo).port;
  return { reqs, url: `http://127.0.0.1:${port}/ingest`, close: () => new Promise<void>((r) => { srv.closeAllConnections(); srv.close(() => r()); }) };
}

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

/** the shared poller, with this file's longer default (broker restarts take a while) */
async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  await waitUntil(what, cond, ms, 10);
}

async function setup(url: string, sink: Record<string, unknown>) {
  const ctx = tempContext('gw-h');
  const box = createOutbox(outboxSchema.parse({ commitInterval: '5ms' }), ctx);
  const stage = createSink(sinkSchema.parse({ id: 'api', type: 'http', url, backoff: { initial: '10ms', max: '100ms' }, ...sink }), box, ctx);
  await box.start();
  await stage.start();
  const stop = async () => { await stage.stop(1000); await box.stop(1000); ctx.cleanup(); };
  cleanups.push(stop);
  return { ctx, box, stage };
}

describe('http sink', () => {
  test('5xx and an outage are retried: zero loss, in order, same Idempotency-Key on a retry', async () => {
    let failing = true;
    const srv = await server(() => (failing ? 503 : 200));
    cleanups.push(srv.close);
    const { box, stage } = await setup(srv.url, { batchSize: 100, gzip: true, headers: { authorization: 'Bearer t0ken' } });
    for (let i = 0; i < 1000; i += 100) await box.writeSamples(numberBatch('plc1', i, 100));
    await until('retries', () => srv.reqs.length >= 3);
    await until('probe down', () => stage.probe().state === 'down');
    assert.match(stage.probe().reason ?? '', /HTTP 503/);
    assert.equal(new Set(srv.reqs.map((r) => r.headers['idempotency-key'])).size, 1, 'the retried batch keeps its key');
    failing = false;
    await until('all delivered', () => stage.probe().details?.backlog === 0);
    const ok = srv.reqs.filter((_, i) => i >= srv.reqs.length - 10);
    const values: number[] = [];
    for (const r of ok) {
      assert.equal(r.headers['content-encoding'], 'gzip');
      assert.equal(r.headers.authorization, 'Bearer t0ken');
      const body = JSON.parse(gunzipSync(r.body).toString()) as { records: { id: string; value: number }[] };
      assert.equal(r.headers['idempotency-key'], body.records[0]!.id);
      values.push(...body.records.map((x) => x.value));
    }
    assert.deepEqual(values, Array.from({ length: 1000 }, (_, i) => i));
  });

  test('a 4xx is not retried forever: dead-lettered, counted, the rest goes on', async () => {
    const srv = await server((r) => (r.body.toString().includes('"value":5,') ? 400 : 200));
    cleanups.push(srv.close);
    const { ctx, box, stage } = await setup(srv.url, { batchSize: 10, format: 'ndjson' });
    for (let i = 0; i < 30; i += 10) await box.writeSamples(numberBatch('plc1', i, 10));
    await until('all handled', () => stage.probe().details?.backlog === 0);
    assert.equal(srv.reqs.length, 3, 'each batch sent once');
    assert.equal(stage.probe().details?.deadLetter, 10);
    const lines = srv.reqs[1]!.body.toString().trim().split('\n');
    assert.equal(lines.length, 10, 'ndjson: one record per line');
    const dropped = (await ctx.metrics.dropped.get()).values.find((v) => v.labels.reason === 'rejected');
    assert.equal(dropped?.value, 10);
  });

  test('format: compact: one line per source of a chunk in the MQTT compact shape; ids and values decode exactly', async () => {
    const srv = await server(() => 200);
    cleanups.push(srv.close);
    const { box, stage } = await setup(srv.url, { batchSize: 100, format: 'compact' });
    for (let i = 0; i < 300; i += 50) {
      await box.writeSamples({ ...numberBatch('plc1', i, 50) });
      await box.writeSamples({ ...numberBatch('plc2', i, 50) });
    }
    await box.writeEvents([{ source: 'reload', kind: 'reload', ts: 1, severity: 'info', message: 'applied' }]);
    await until('all delivered', () => stage.probe().details?.backlog === 0);
    const got = new Map<string, number[]>();
    const ids: string[] = [];
    let events = 0;
    for (const r of srv.reqs) {
      assert.equal(r.headers['content-type'], 'application/x-ndjson');
      for (const line of r.body.toString().trim().split('\n')) {
        const m = JSON.parse(line) as CompactSamplesJson | { records: { kind: string; id: string }[] };
        if ('records' in m) { events += m.records.filter((x) => x.kind === 'event').length; ids.push(...m.records.map((x) => x.id)); continue; }
        for (const s of decodeCompactSamples(m)) { got.set(s.source, [...(got.get(s.source) ?? []), s.value as number]); ids.push(s.id); }
      }
      assert.equal(r.headers['idempotency-key'], ids[ids.length - Number(r.headers['x-fieldgate-records'])], 'the key is the chunk\'s first record id');
    }
    assert.deepEqual(got.get('plc1'), Array.from({ length: 300 }, (_, i) => i));
    assert.deepEqual(got.get('plc2'), Array.from({ length: 300 }, (_, i) => i));
    assert.equal(events, 1);
    assert.equal(new Set(ids).size, 601, 'every record once, each with its own id');
  });

  test('probe is down with the reason while the server is unreachable', async () => {
    const srv = await server(() => 200);
    await srv.close();
    const { box, stage } = await setup(srv.url, {});
    await box.writeSamples(numberBatch('plc1', 0, 5));
    await until('down', () => stage.probe().state === 'down');
    assert.match(stage.probe().reason ?? '', /unreachable.*ECONNREFUSED.*backlog 5/);
  });
});
