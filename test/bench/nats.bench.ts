// npm run bench:nats — records/s from the outbox through the NATS sink into a 3-replica JetStream
// stream (a real 3-node nats-server cluster on loopback), against, in the same run, a bare client
// publishing the same payloads with the same ack discipline (Nats-Msg-Id on every message, every
// message acknowledged by JetStream, the same number in flight), and bytes on the wire per record.
import { createServer, connect as netConnect, type Server } from 'node:net';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, createInbox, headers, type NatsConnection } from '@nats-io/transport-node';
import { createOutbox, outboxSchema, type OutboxRecord } from '../../src/outbox/index.ts';
import { numberBatch, tempContext } from '../support/outbox/testing.ts';
import { sinkSchema } from '../../src/sinks/config.ts';
import { createSink } from '../../src/sinks/index.ts';
import { recordJsonText } from '../../src/sinks/json.ts';
import { NatsCluster, natsServerBinary } from '../support/nats/test-cluster.ts';
import { until } from '../support/wait.ts';

const N = Number(process.env.BENCH_RECORDS ?? 200_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WIRE_N = 20_000;
const GROUP = 100;
const BATCH = 500; // the sink's default batchSize
const IN_FLIGHT = 16; // the sink's default maxInFlight
const SOURCES = ['plc1', 'plc2', 'plc3', 'plc4'];

const bin = natsServerBinary();
if (!bin.path) {
  console.log(`bench:nats skipped: ${bin.why}`);
  process.exit(0);
}

/** The records the outbox would hand the sink: the same ids, subjects and JSON text in both runs. */
function records(n: number, gateway: string): { subject: string; id: string; payload: string }[] {
  const out: { subject: string; id: string; payload: string }[] = [];
  const seen = new Map<string, string>();
  let seq = 0;
  for (let i = 0; out.length < n; i++) {
    const src = SOURCES[i % SOURCES.length]!;
    for (const s of numberBatch(src, Math.floor(i / SOURCES.length) * 100, 100).samples) {
      const r: OutboxRecord = { kind: 'sample', seq: ++seq, id: `${gateway}:1:${seq}`, sample: s };
      out.push({ subject: `fieldgate.${gateway}.sample.${src}`, id: r.id, payload: recordJsonText(r, seen) });
    }
  }
  return out.slice(0, n);
}

/** The only stream on the cluster: the ones of earlier runs are deleted (their subjects overlap, and they cost memory). */
async function freshStream(jsm: JetStreamManager, name: string, subject: string): Promise<void> {
  for await (const old of jsm.streams.names()) await jsm.streams.delete(old);
  await jsm.streams.add({ name, subjects: [subject], num_replicas: 3, storage: 'file' as never, duplicate_window: 120_000_000_000 });
}

/** The library's own call: js.publish (a request per message) with IN_FLIGHT*BATCH messages unacknowledged. */
async function bareLibrary(servers: string[], recs: ReturnType<typeof records>, prefix: string): Promise<number> {
  const nc = await connect({ servers });
  const js = jetstream(nc);
  const window = IN_FLIGHT * BATCH;
  const inflight: Promise<unknown>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < recs.length; i++) {
    const r = recs[i]!;
    inflight.push(js.publish(prefix + r.subject, r.payload, { msgID: r.id, timeout: 30_000 }));
    if (inflight.length >= window) await Promise.all(inflight.splice(0, BATCH));
  }
  await Promise.all(inflight);
  const secs = (performance.now() - t0) / 1000;
  await nc.close();
  return recs.length / secs;
}

/** The same ack discipline on the bare connection: publish with a reply subject, count acks on one inbox. */
async function bareInbox(servers: string[], recs: ReturnType<typeof records>, prefix: string): Promise<number> {
  const nc = await connect({ servers });
  const inbox = createInbox();
  let acked = 0;
  let wake: (() => void) | undefined;
  nc.subscribe(`${inbox}.*`, { callback: (_e, m) => {
    if (m.headers?.hasError || !m.data.length) throw new Error('publish failed');
    acked++;
    wake?.();
  } });
  await nc.flush();
  const window = IN_FLIGHT * BATCH;
  const t0 = performance.now();
  for (let i = 0; i < recs.length; i++) {
    const r = recs[i]!;
    const h = headers();
    h.set('Nats-Msg-Id', r.id);
    nc.publish(prefix + r.subject, r.payload, { reply: `${inbox}.${i}`, headers: h });
    if (i % BATCH === BATCH - 1) {
      await new Promise((res) => setImmediate(res));
      while (i + 1 - acked >= window) await new Promise<void>((res) => { wake = res; });
    }
  }
  while (acked < recs.length) await new Promise<void>((res) => { wake = res; });
  const secs = (performance.now() - t0) / 1000;
  await nc.close();
  return recs.length / secs;
}

/**
 * Not what the sink does: GROUP records per message (a JSON array, Nats-Msg-Id = the first id), to
 * show how much of the cluster's cost is per message rather than per byte.
 */
async function bareGrouped(servers: string[], recs: ReturnType<typeof records>, prefix: string): Promise<number> {
  const grouped: typeof recs = [];
  for (let i = 0; i < recs.length; i += GROUP) {
    const g = recs.slice(i, i + GROUP);
    grouped.push({ subject: g[0]!.subject, id: g[0]!.id, payload: `[${g.map((r) => r.payload).join(',')}]` });
  }
  const rate = await bareInbox(servers, grouped, prefix);
  return rate * GROUP;
}

/** fieldgate: the records committed to an outbox first, then the sink drains them into the stream. */
async function sink(servers: string[], n: number, stream: string, subject: string): Promise<number> {
  const ctx = tempContext('gw-bench');
  const box = createOutbox(outboxSchema.parse({ commitRows: 4000, commitInterval: '20ms', maxBytes: '4GB' }), ctx);
  await box.start();
  const writes: Promise<void>[] = [];
  for (let i = 0; i * 100 < n; i++) {
    const src = SOURCES[i % SOURCES.length]!;
    writes.push(box.writeSamples(numberBatch(src, Math.floor(i / SOURCES.length) * 100, 100)));
    if (writes.length >= 60) await Promise.all(writes.splice(0));
  }
  await Promise.all(writes);
  const s = createSink(sinkSchema.parse({ id: 'js', type: 'nats', servers, stream, subject, batchSize: BATCH, maxInFlight: IN_FLIGHT }), box, ctx);
  const t0 = performance.now();
  await s.start();
  await until('sink drained', () => s.probe().details?.backlog === 0, 300_000, 2);
  const secs = (performance.now() - t0) / 1000;
  await s.stop(2000);
  await box.stop(2000);
  ctx.cleanup();
  return n / secs;
}

/** A loopback TCP proxy to one server that counts the bytes each way: what the client puts on the wire. */
async function countingProxy(port: number): Promise<{ url: string; up: () => number; down: () => number; close(): Promise<void>; server: Server }> {
  let up = 0;
  let down = 0;
  const server = createServer((c) => {
    const s = netConnect(port, '127.0.0.1');
    c.on('data', (d: Buffer) => { up += d.length; s.write(d); });
    s.on('data', (d: Buffer) => { down += d.length; c.write(d); });
    c.on('close', () => s.destroy());
    s.on('close', () => c.destroy());
    c.on('error', () => undefined);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const p = (server.address() as { port: number }).port;
  return {
    server, url: `nats://127.0.0.1:${p}`, up: () => up, down: () => down,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** CPU seconds (user + system) of a process so far, from /proc. */
function cpuOf(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 Hz)
}

/** Runs `fn` and says how much CPU the three servers and this process spent per record meanwhile. */
async function withCpu<T>(n: number, fn: () => Promise<T>): Promise<{ value: T; serverUs: number; clientUs: number }> {
  const pids = cluster.nodes.map((x) => x.proc!.pid!);
  const s0 = pids.reduce((a, p) => a + cpuOf(p), 0);
  const c0 = process.cpuUsage();
  const value = await fn();
  const c = process.cpuUsage(c0);
  const s1 = pids.reduce((a, p) => a + cpuOf(p), 0);
  return { value, serverUs: ((s1 - s0) * 1e6) / n, clientUs: (c.user + c.system) / n };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (x: number) => Math.round(x).toLocaleString('en-US');

const cluster = await NatsCluster.start(bin.path);
let admin: NatsConnection | undefined;
try {
  admin = await cluster.client();
  const jsm = await jetstreamManager(admin);
  console.log(`bench:nats: ${N} records per run, 3-node cluster (nats-server ${bin.path}), stream R3 file storage, ` +
    `${BATCH} x ${IN_FLIGHT} = ${BATCH * IN_FLIGHT} messages in flight, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const recs = records(N, 'gw-bench');
  const avg = recs.reduce((a, r) => a + r.payload.length, 0) / recs.length;
  console.log(`payload: one JSON record per message, ${avg.toFixed(0)} bytes on average, Nats-Msg-Id header ${recs[0]!.id.length} bytes`);
  const cpu: Record<string, { server: number[]; client: number[] }> = { lib: { server: [], client: [] }, raw: { server: [], client: [] }, fg: { server: [], client: [] }, grp: { server: [], client: [] } };
  const measure = async (k: string, out: number[], fn: () => Promise<number>) => {
    const r = await withCpu(N, fn);
    out.push(r.value);
    cpu[k]!.server.push(r.serverUs);
    cpu[k]!.client.push(r.clientUs);
  };
  const lib: number[] = [];
  const raw: number[] = [];
  const fg: number[] = [];
  const grp: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    await freshStream(jsm, 'BL', 'l.>');
    await measure('lib', lib, () => bareLibrary(cluster.urls, recs, 'l.'));
    await freshStream(jsm, 'BR', 'r.>');
    await measure('raw', raw, () => bareInbox(cluster.urls, recs, 'r.'));
    await freshStream(jsm, 'BF', 'fieldgate.>');
    await measure('fg', fg, () => sink(cluster.urls, N, 'BF', 'fieldgate.{gateway}.{kind}.{source}'));
    await freshStream(jsm, 'BG', 'g.>');
    await measure('grp', grp, () => bareGrouped(cluster.urls, recs, 'g.'));
    console.log(`round ${round}: js.publish ${fmt(lib.at(-1)!)}/s, bare publish+inbox ${fmt(raw.at(-1)!)}/s, fieldgate sink ${fmt(fg.at(-1)!)}/s ` +
      `(ratio to js.publish ${(fg.at(-1)! / lib.at(-1)!).toFixed(2)}, to bare ${(fg.at(-1)! / raw.at(-1)!).toFixed(2)}); ` +
      `for scale, ${GROUP} records per message: ${fmt(grp.at(-1)!)} records/s; load ${loadavg()[0]!.toFixed(1)}`);
  }
  console.log(`median: js.publish ${fmt(median(lib))} records/s, bare publish+inbox ${fmt(median(raw))}/s, fieldgate sink ${fmt(median(fg))}/s; ` +
    `ratio sink/js.publish ${(median(fg) / median(lib)).toFixed(2)}, sink/bare ${(median(fg) / median(raw)).toFixed(2)}`);

  for (const [k, name] of [['lib', 'js.publish'], ['raw', 'bare publish+inbox'], ['fg', 'fieldgate sink'], ['grp', `${GROUP} records per message (not exactly-once per record)`]] as const) {
    const sv = median(cpu[k]!.server);
    const cl = median(cpu[k]!.client);
    console.log(`cpu per record, ${name}: the 3 servers ${sv.toFixed(1)} us, this process ${cl.toFixed(1)} us` +
      ` -> at most ${fmt((availableParallelism() * 1e6) / (sv + cl))} records/s on ${availableParallelism()} idle cores`);
  }

  // bytes on the wire: the same records through a counting proxy in front of one server
  const wireRecs = recs.slice(0, WIRE_N);
  for (const [name, run] of [
    ['bare publish+inbox', async (url: string) => { await freshStream(jsm, 'WR', 'r.>'); await bareInbox([url], wireRecs, 'r.'); }],
    ['fieldgate sink', async (url: string) => { await freshStream(jsm, 'WF', 'fieldgate.>'); await sink([url], WIRE_N, 'WF', 'fieldgate.{gateway}.{kind}.{source}'); }],
  ] as const) {
    const proxy = await countingProxy(cluster.nodes[0]!.port);
    await run(proxy.url);
    console.log(`wire, ${name}: ${(proxy.up() / WIRE_N).toFixed(1)} bytes/record to the server, ${(proxy.down() / WIRE_N).toFixed(1)} bytes/record back (acks), ` +
      `${((proxy.up() + proxy.down()) / WIRE_N).toFixed(1)} in all (payload ${avg.toFixed(0)})`);
    await proxy.close();
  }
  console.log(`load average at the end ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
} finally {
  await admin?.close();
  await cluster.stop();
}
