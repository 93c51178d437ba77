// npm run bench:e2e — fieldgate end to end against, in the same run, its ceiling: a bare pipeline
// of the same libraries with no outbox (test/bench/e2e-bare.ts).
//
// Workload: BENCH_DEVICES Modbus TCP devices (default 100) x BENCH_TAGS float32 tags (default 50)
// from fieldgate's own simulator in its own process, polled every BENCH_POLLS ms (default
// "1000,100": one phase per interval), published with QoS 1 into mosquitto (Debian's, in its own
// process; it must be installed: `.ci/run` does not need it since benchmarks are not part of CI).
// BENCH_FORMAT (compact, default, or records) picks the MQTT sink's JSON format for both systems;
// sparkplug (or sparkplug-per-payload: `sparkplug.timestamps: per-payload`) measures Sparkplug B
// instead: wire bytes count DDATA only (after birth), latency from the metric (else payload) timestamp.
// A subscriber in this process counts samples, wire bytes and the device-to-subscriber latency
// (receive time minus the sample's timestamp, taken when the poll was answered).
//
// For each system, per phase: delivered tags/s, CPU s per 1M delivered tags (the system's own
// process, threads included; the simulator and broker are not counted), bytes per tag on the wire
// (MQTT PUBLISH packets publisher -> broker), bytes written to disk per tag (/proc/<pid>/io),
// peak RSS, p50/p99 latency. The systems alternate order each round (BENCH_ROUNDS, default 2).
//
// Overload mode (BENCH_OVERLOAD=<factor>, e.g. 2): after the phases above, for each poll interval,
// fieldgate publishes through a proxy that passes only 1/<factor> of what the sources offer
// (DEVICES x TAGS per poll): a connected, acking broker that is too slow. Measured twice, with the
// overload rule (the sink's default shedAt) and with it off (shedAt: 0): delivered tags/s, p50/p99
// latency, polls shed (fieldgate_source_overruns_total{reason="shed"}), the share of polls kept,
// the sink's backlog at the end and records dropped (must be 0: shedding skips polls, it never
// drops what was accepted). The proxy's rate is set from the wire bytes per tag measured during
// the warm-up, unthrottled. BENCH_OVERLOAD_ONLY=1 skips the normal phases. BENCH_HISTORY=off runs
// fieldgate without the health stage's per-tag history (RSS of the data path alone).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { decodeSpec } from '../support/mqtt/sparkplug-spec.ts';
import { gatewayConfig, simulatorConfig } from './e2e-config.ts';
import { ThrottleProxy } from '../support/throttle-proxy.ts';

const DEVICES = Number(process.env.BENCH_DEVICES ?? 100);
const TAGS = Number(process.env.BENCH_TAGS ?? 50);
const POLLS = (process.env.BENCH_POLLS ?? '1000,100').split(',').map(Number);
const WARMUP_S = Number(process.env.BENCH_WARMUP ?? 5);
const MEASURE_S = Number(process.env.BENCH_SECONDS ?? 15);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const MOSQUITTO = process.env.BENCH_MOSQUITTO ?? '/usr/sbin/mosquitto';
/** the MQTT sink's JSON format, used by both systems: compact (default) or records */
const FORMAT = (['records', 'sparkplug', 'sparkplug-per-payload'] as const).find((f) => f === process.env.BENCH_FORMAT) ?? 'compact';
/** overload mode: sources offer this many times what the (throttled) broker link passes; 0 = off */
const OVERLOAD = Number(process.env.BENCH_OVERLOAD ?? 0);
/** BENCH_HISTORY=off: fieldgate keeps no per-tag history for the dashboard (it costs ~8.7 kB per tag of RSS) */
const HISTORY = process.env.BENCH_HISTORY !== 'off';
/** BENCH_SYSTEMS=fieldgate measures fieldgate alone (for quick comparisons of its own settings; no ratios) */
const SYSTEMS = (process.env.BENCH_SYSTEMS ?? 'fieldgate,bare').split(',');
/** overload mode only: skip the normal phases */
const OVERLOAD_ONLY = OVERLOAD > 0 && process.env.BENCH_OVERLOAD_ONLY === '1';

const root = fileURLToPath(new URL('../../', import.meta.url));
const cli = process.env.FIELDGATE_CLI ?? join(root, 'bin/fieldgate.js');
const tsx = ['--import', 'tsx'];
/**
 * The node flags a user's `fieldgate run` starts with: those of bin/fieldgate.js's shebang
 * (`node <bin>` would skip them), plus BENCH_NODE_FLAGS (e.g. --cpu-prof --cpu-prof-dir=/tmp/p).
 * The bare pipeline runs with the same V8 flags, so the ratios compare like with like.
 */
const shebang = readFileSync(cli, 'utf8').split('\n', 1)[0] ?? '';
const V8_FLAGS = shebang.startsWith('#!') && /\bnode\b/.test(shebang) && cli.endsWith('bin/fieldgate.js')
  ? shebang.slice(shebang.search(/\bnode\b/) + 4).trim().split(/\s+/).filter(Boolean)
  : [];
const FG_FLAGS = [...V8_FLAGS, ...(process.env.BENCH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean)];
/** BENCH_BARE_NODE_FLAGS: extra node flags for the bare pipeline alone (e.g. --cpu-prof --cpu-prof-dir=/tmp/b) */
const BARE_FLAGS = [...V8_FLAGS, ...(process.env.BENCH_BARE_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean)];

// ---- /proc readings of a child ---------------------------------------------------------------

const TICK = 100; // USER_HZ on Linux
function cpuSeconds(pid: number): number {
  const [user, sys] = cpuSplit(pid);
  return user + sys;
}
/** user and kernel CPU seconds of a process, threads included */
function cpuSplit(pid: number): [number, number] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [Number(f[11]) / TICK, Number(f[12]) / TICK]; // utime, stime (fields 14 and 15)
}
/** CPU seconds per thread (/proc/<pid>/task), keyed `<tid> <name>`: BENCH_THREADS=1 prints where a system's CPU went */
function threadCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(`${tid} ${stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))}`, (Number(f[11]) + Number(f[12])) / TICK);
    } catch { /* the thread ended */ }
  }
  return out;
}
function peakRssMB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}
function diskWritten(pid: number): number {
  return Number(/write_bytes: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0);
}

// ---- helpers -----------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** n distinct free loopback ports: all held open until every one is known, so none repeats */
async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  for (let i = 0; i < n; i++) {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    servers.push(s);
  }
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

async function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

async function waitPorts(ports: number[], what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  for (const p of ports) {
    while (!(await canConnect(p))) {
      if (Date.now() > end) throw new Error(`${what}: port ${p} never opened`);
      await sleep(50);
    }
  }
}

function start(cmd: string, args: string[], env: Record<string, string> = {}, stdout: 'ignore' | number = 'ignore'): ChildProcess {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', stdout, 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-4000); });
  child.on('exit', (code, sig) => {
    if (code && code !== 0) process.stderr.write(`${cmd} ${args.join(' ')} exited ${code} ${sig ?? ''}\n${err}\n`);
  });
  return child;
}

async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const done = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), 15_000);
  await done;
  clearTimeout(t);
}

/** bytes of an MQTT 3.1.1 PUBLISH with QoS 1: fixed header, topic, packet id, payload */
function publishBytes(topic: string, payload: number): number {
  const rest = 2 + Buffer.byteLength(topic) + 2 + payload;
  const lenBytes = rest < 128 ? 1 : rest < 16_384 ? 2 : rest < 2_097_152 ? 3 : 4;
  return 1 + lenBytes + rest;
}

// ---- the subscriber ------------------------------------------------------------------------------

class Subscriber {
  samples = 0;
  wire = 0;
  readonly hist = new Uint32Array(60_001); // latency in ms, last bucket = 60 s or more
  private counting = false;
  constructor(private readonly client: mqtt.MqttClient) {
    client.on('message', (topic, payload) => {
      if (!this.counting) return;
      const now = Date.now();
      if (topic.startsWith('spBv1.0/')) {
        if (!topic.includes('/DDATA/')) return; // births and deaths: not data
        const p = decodeSpec(payload);
        for (const m of p.metrics) this.hist[Math.max(0, Math.min(60_000, Math.round(now - (m.timestamp ?? p.timestamp ?? now))))]!++;
        this.samples += p.metrics.length;
        this.wire += publishBytes(topic, payload.length);
        return;
      }
      // either shape: `records` (one object per record) or `compact` (one columnar message of samples)
      const msg = JSON.parse(payload.toString()) as { records?: { kind: string; ts: number }[]; tag?: string[]; ts?: number | number[] };
      let n = 0;
      const count = (ts: number) => {
        n++;
        const lat = Math.max(0, Math.min(60_000, Math.round(now - ts)));
        this.hist[lat]!++;
      };
      if (msg.records) {
        for (const r of msg.records) if (r.kind === 'sample') count(r.ts);
      } else if (msg.tag) {
        for (let i = 0; i < msg.tag.length; i++) count(Array.isArray(msg.ts) ? msg.ts[i]! : msg.ts!);
      }
      this.samples += n;
      this.wire += publishBytes(topic, payload.length);
    });
  }
  begin(): void {
    this.samples = 0;
    this.wire = 0;
    this.hist.fill(0);
    this.counting = true;
  }
  end(): void { this.counting = false; }
  percentile(p: number): number {
    const target = (p / 100) * this.samples;
    let acc = 0;
    for (let i = 0; i < this.hist.length; i++) {
      acc += this.hist[i]!;
      if (acc >= target && acc > 0) return i;
    }
    return NaN;
  }
  static async open(port: number): Promise<Subscriber> {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: `bench-sub-${process.pid}` });
    await client.subscribeAsync(['fieldgate/#', 'spBv1.0/#'], { qos: 0 });
    return new Subscriber(client);
  }
  async close(): Promise<void> { await this.client.endAsync(); }
}

// ---- one measured phase --------------------------------------------------------------------------

interface Result { system: string; pollMs: number; tagsPerS: number; cpuPerM: number; wirePerTag: number; diskPerTag: number; peakRssMB: number; p50: number; p99: number; shedPolls?: number }

async function measure(system: string, pollMs: number, child: ChildProcess, sub: Subscriber): Promise<Result> {
  const pid = child.pid!;
  // warm-up: until data arrives, then WARMUP_S more
  sub.begin();
  const end = Date.now() + 60_000;
  while (sub.samples === 0) {
    if (Date.now() > end || child.exitCode !== null) throw new Error(`${system}: no data reached the subscriber`);
    await sleep(100);
  }
  await sleep(WARMUP_S * 1000);
  const cpu0 = cpuSeconds(pid);
  const threads0 = process.env.BENCH_THREADS ? threadCpu(pid) : undefined;
  const split0 = cpuSplit(pid);
  const disk0 = diskWritten(pid);
  const t0 = performance.now();
  sub.begin();
  await sleep(MEASURE_S * 1000);
  sub.end();
  const secs = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(pid) - cpu0;
  if (threads0) {
    const per = [...threadCpu(pid)].map(([k, v]) => [k, v - (threads0.get(k) ?? 0)] as const).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]);
    const split = cpuSplit(pid);
    const perM = (x: number) => ((x / sub.samples) * 1e6).toFixed(2);
    console.log(`  ${system} CPU s per 1M tags: user ${perM(split[0] - split0[0])}, kernel ${perM(split[1] - split0[1])}`);
    console.log(`  ${system} CPU by thread (s per 1M tags): ${per.map(([k, v]) => `${k.split(' ').slice(1).join(' ')} ${((v / sub.samples) * 1e6).toFixed(2)}`).join(', ')}`);
  }
  const disk = diskWritten(pid) - disk0;
  const rss = peakRssMB(pid);
  const n = sub.samples;
  return {
    system, pollMs,
    tagsPerS: n / secs,
    cpuPerM: (cpu / n) * 1e6,
    wirePerTag: sub.wire / n,
    diskPerTag: disk / n,
    peakRssMB: rss,
    p50: sub.percentile(50),
    p99: sub.percentile(99),
  };
}

async function runFieldgate(pollMs: number, ports: number[], brokerPort: number, healthPort: number, sub: Subscriber): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'fg-e2e-'));
  try {
    const cfgPath = join(dir, 'bench.yaml');
    writeFileSync(cfgPath, gatewayConfig({ ports, tags: TAGS, intervalMs: pollMs, brokerPort, dataDir: join(dir, 'data'), format: FORMAT, healthPort, history: HISTORY }));
    // BENCH_FG_STDOUT=<file>: fieldgate's stdout (e.g. with BENCH_NODE_FLAGS=--trace-gc)
    const out = process.env.BENCH_FG_STDOUT ? openSync(process.env.BENCH_FG_STDOUT, 'a') : 'ignore';
    const child = start(process.execPath, [...FG_FLAGS, cli, 'run', '-c', cfgPath], {}, out);
    try {
      const r = await measure('fieldgate', pollMs, child, sub);
      // polls the overload rule shed over the whole run (warm-up included): a CPU-starved gateway sheds too
      r.shedPolls = metricSum(await scrape(healthPort), 'fieldgate_source_overruns_total', 'reason="shed"');
      if (process.env.BENCH_VERBOSE) {
        // where the main thread's memory is at the end (the worker threads' heaps are in RSS only)
        const m = await scrape(healthPort);
        const mb = (name: string, has = '') => (metricSum(m, name, has) / 1048576).toFixed(1);
        console.log(`  fieldgate memory at the end: RSS ${mb('fieldgate_process_resident_memory_bytes')} MB, main heap used ${mb('fieldgate_nodejs_heap_size_used_bytes')} of ${mb('fieldgate_nodejs_heap_size_total_bytes')} MB (new space ${mb('fieldgate_nodejs_heap_space_size_total_bytes', 'space="new"')}, old ${mb('fieldgate_nodejs_heap_space_size_used_bytes', 'space="old"')} used), external ${mb('fieldgate_nodejs_external_memory_bytes')} MB; overruns late ${metricSum(m, 'fieldgate_source_overruns_total', 'reason="late"')} full ${metricSum(m, 'fieldgate_source_overruns_total', 'reason="full"')} shed ${metricSum(m, 'fieldgate_source_overruns_total', 'reason="shed"')}; batches queued in source channels ${metricSum(m, 'fieldgate_channel_depth', 'channel="source.')}; sink lag ${metricSum(m, 'fieldgate_sink_lag_seconds')} s, backlog ${metricSum(m, 'fieldgate_sink_backlog')}`);
      }
      return r;
    } finally {
      await stopChild(child);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runBare(pollMs: number, ports: number[], brokerPort: number, sub: Subscriber): Promise<Result> {
  const child = start(process.execPath, [...BARE_FLAGS, ...tsx, join(root, 'test/bench/e2e-bare.ts')], {
    BARE_PORTS: ports.join(','),
    BARE_TAGS: String(TAGS),
    BARE_INTERVAL_MS: String(pollMs),
    BARE_BROKER: `mqtt://127.0.0.1:${brokerPort}`,
    BARE_FORMAT: FORMAT,
  });
  try {
    return await measure('bare', pollMs, child, sub);
  } finally {
    await stopChild(child);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

// ---- overload mode ---------------------------------------------------------------------------------

interface OverloadResult { variant: string; pollMs: number; offered: number; capacity: number; tagsPerS: number; p50: number; p99: number; shedPolls: number; polls: number; share: number; backlog: number; dropped: number; peakRssMB: number }

/** Sums the samples of one metric family in Prometheus text, over the series whose labels contain `has`. */
function metricSum(text: string, name: string, has = ''): number {
  let n = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    if (has && !line.includes(has)) continue;
    n += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return n;
}

async function scrape(port: number): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`);
  return r.text();
}

async function runOverload(variant: 'rule on' | 'rule off', pollMs: number, ports: number[], brokerPort: number, healthPort: number, sub: Subscriber): Promise<OverloadResult> {
  const offered = (ports.length * TAGS * 1000) / pollMs;
  const proxy = new ThrottleProxy(brokerPort);
  await proxy.start();
  const dir = mkdtempSync(join(tmpdir(), 'fg-e2e-'));
  try {
    const cfgPath = join(dir, 'bench.yaml');
    writeFileSync(cfgPath, gatewayConfig({
      ports, tags: TAGS, intervalMs: pollMs, brokerPort: proxy.port, dataDir: join(dir, 'data'), format: FORMAT, healthPort, history: HISTORY,
      ...(variant === 'rule off' ? { shedAt: 0 } : {}),
    }));
    const child = start(process.execPath, [...FG_FLAGS, cli, 'run', '-c', cfgPath]);
    try {
      sub.begin();
      const end = Date.now() + 60_000;
      while (sub.samples === 0) {
        if (Date.now() > end || child.exitCode !== null) throw new Error(`fieldgate (${variant}): no data reached the subscriber`);
        await sleep(100);
      }
      // calibration, unthrottled: proxy bytes per delivered tag
      await sleep(Math.min(WARMUP_S, 3) * 1000);
      const f0 = proxy.forwarded;
      sub.begin();
      await sleep(2_000);
      const bytesPerTag = (proxy.forwarded - f0) / Math.max(1, sub.samples);
      const capacity = offered / OVERLOAD;
      proxy.rate = capacity * bytesPerTag;
      await sleep(WARMUP_S * 1000);
      const m0 = await scrape(healthPort);
      const t0 = performance.now();
      sub.begin();
      await sleep(MEASURE_S * 1000);
      sub.end();
      const secs = (performance.now() - t0) / 1000;
      const m1 = await scrape(healthPort);
      const shed = metricSum(m1, 'fieldgate_source_overruns_total', 'reason="shed"') - metricSum(m0, 'fieldgate_source_overruns_total', 'reason="shed"');
      const polled = metricSum(m1, 'fieldgate_records_received_total', 'stage="router"') - metricSum(m0, 'fieldgate_records_received_total', 'stage="router"');
      return {
        variant, pollMs, offered, capacity,
        tagsPerS: sub.samples / secs,
        p50: sub.percentile(50), p99: sub.percentile(99),
        shedPolls: shed,
        polls: polled / TAGS,
        share: metricSum(m1, 'fieldgate_overload_poll_share'),
        backlog: metricSum(m1, 'fieldgate_sink_backlog', 'sink="mqtt"'),
        // records accepted and then lost on the way: the sink's, the router's and the outbox's drops
        dropped: ['stage="sink.mqtt"', 'stage="router"', 'stage="outbox"'].reduce((n, st) => n + metricSum(m1, 'fieldgate_records_dropped_total', st), 0),
        peakRssMB: peakRssMB(child.pid!),
      };
    } finally {
      await stopChild(child);
    }
  } finally {
    await proxy.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- main ------------------------------------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), 'fg-e2e-rig-'));
const [brokerPort, healthPort, ...ports] = await freePorts(DEVICES + 2) as [number, number, ...number[]];
writeFileSync(join(dir, 'mosquitto.conf'), `listener ${brokerPort} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 0\npersistence false\n`);
const broker = start(MOSQUITTO, ['-c', join(dir, 'mosquitto.conf')]);
writeFileSync(join(dir, 'sim.yaml'), simulatorConfig(ports, TAGS));
const sim = start(process.execPath, [cli, 'simulate', '-c', join(dir, 'sim.yaml')]);
const results: Result[] = [];
const overloads: OverloadResult[] = [];
let sub: Subscriber | undefined;
try {
  await waitPorts([brokerPort], 'mosquitto');
  await waitPorts(ports, 'simulator');
  sub = await Subscriber.open(brokerPort);
  console.log(`node flags of both systems: ${V8_FLAGS.join(' ') || '(none)'} (bin/fieldgate.js's shebang)${FG_FLAGS.length > V8_FLAGS.length ? `; fieldgate also ${FG_FLAGS.slice(V8_FLAGS.length).join(' ')}` : ''}`);
  console.log(`bench:e2e ${DEVICES} devices x ${TAGS} float32 tags, polls ${POLLS.join(', ')} ms, JSON format ${FORMAT}, tag history ${HISTORY ? 'on' : 'off'}, ${WARMUP_S} s warm-up + ${MEASURE_S} s measured, ${ROUNDS} rounds; broker mosquitto (own process); load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  for (const poll of OVERLOAD_ONLY ? [] : POLLS) {
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? ['fieldgate', 'bare'] : ['bare', 'fieldgate'];
      for (const system of order.filter((sys) => SYSTEMS.includes(sys))) {
        const r = system === 'fieldgate' ? await runFieldgate(poll, ports, brokerPort, healthPort, sub) : await runBare(poll, ports, brokerPort, sub);
        results.push(r);
        if (process.env.BENCH_VERBOSE) console.log(JSON.stringify(r));
      }
    }
  }
  if (OVERLOAD > 0) {
    for (const poll of POLLS) {
      for (let round = 0; round < ROUNDS; round++) {
        const order = round % 2 === 0 ? (['rule on', 'rule off'] as const) : (['rule off', 'rule on'] as const);
        for (const variant of order) {
          const r = await runOverload(variant, poll, ports, brokerPort, healthPort, sub);
          overloads.push(r);
          if (process.env.BENCH_VERBOSE) console.log(JSON.stringify(r));
        }
      }
    }
  }
} finally {
  await sub?.close();
  await stopChild(sim);
  await stopChild(broker);
  rmSync(dir, { recursive: true, force: true });
}

const f = (n: number, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '-');
if (!OVERLOAD_ONLY) {
  console.log('\n| poll | system | tags/s | CPU s / 1M tags | wire B/tag | disk B/tag | peak RSS MB | p50 ms | p99 ms |');
  console.log('|---|---|---|---|---|---|---|---|---|');
}
for (const poll of OVERLOAD_ONLY ? [] : POLLS) {
  const by = (s: string) => results.filter((r) => r.pollMs === poll && r.system === s);
  const row = (s: string) => {
    const rs = by(s);
    const m = (k: keyof Result) => median(rs.map((r) => r[k] as number));
    return { tagsPerS: m('tagsPerS'), cpuPerM: m('cpuPerM'), wirePerTag: m('wirePerTag'), diskPerTag: m('diskPerTag'), peakRssMB: m('peakRssMB'), p50: m('p50'), p99: m('p99') };
  };
  const fg = row('fieldgate');
  const bare = row('bare');
  for (const [name, r] of [['fieldgate', fg], ['bare', bare]] as const) {
    console.log(`| ${poll} ms | ${name} | ${f(r.tagsPerS)} | ${f(r.cpuPerM, 2)} | ${f(r.wirePerTag, 1)} | ${f(r.diskPerTag, 1)} | ${f(r.peakRssMB)} | ${f(r.p50)} | ${f(r.p99)} |`);
  }
  const shed = by('fieldgate').map((r) => r.shedPolls ?? 0);
  if (shed.some((n) => n > 0)) console.log(`| ${poll} ms | (fieldgate shed ${shed.join(', ')} polls per round: a connected sink lagged past its shedAt) | | | | | | | |`);
  console.log(`| ${poll} ms | ratio fieldgate/bare | ${f(fg.tagsPerS / bare.tagsPerS, 2)} | ${f(fg.cpuPerM / bare.cpuPerM, 2)} | ${f(fg.wirePerTag / bare.wirePerTag, 2)} | | ${f(fg.peakRssMB / bare.peakRssMB, 2)} | | ${f(fg.p99 / bare.p99, 2)} |`);
}
if (OVERLOAD > 0) {
  console.log(`\nOverload: the broker link passes 1/${OVERLOAD} of what the sources offer (throttling proxy; broker connected and acking)`);
  console.log('| poll | overload rule | offered tags/s | link capacity tags/s | delivered tags/s | p50 ms | p99 ms | polls shed /s | polls kept /s | poll share at end | backlog at end | dropped | peak RSS MB |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const poll of POLLS) {
    for (const variant of ['rule on', 'rule off']) {
      const rs = overloads.filter((r) => r.pollMs === poll && r.variant === variant);
      if (rs.length === 0) continue;
      const m = (k: keyof OverloadResult) => median(rs.map((r) => r[k] as number));
      console.log(`| ${poll} ms | ${variant} | ${f(m('offered'))} | ${f(m('capacity'))} | ${f(m('tagsPerS'))} | ${f(m('p50'))} | ${f(m('p99'))} | ${f(m('shedPolls') / MEASURE_S)} | ${f(m('polls') / MEASURE_S)} | ${f(m('share'), 3)} | ${f(m('backlog'))} | ${f(m('dropped'))} | ${f(m('peakRssMB'))} |`);
    }
  }
}
console.log(`(medians of ${ROUNDS} rounds; load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')})`);
