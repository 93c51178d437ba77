/**
 * npm run bench:opcua — 10,000 monitored items at a 100 ms sampling interval, one simulator
 * (node-opcua server) in its own process. Measured, each client in a fresh process of its own:
 *   - bare: a plain node-opcua subscription counting values in its raw_notification handler
 *     (the ceiling: no conversion, no channel);
 *   - driver: fieldgate's OPC UA source, samples delivered into its bounded channel and drained.
 * Figures: time from start to all items reporting, value changes/s over a fixed window, peak
 * client RSS. Ratios are what to compare: absolute rates drift on this shared machine.
 *
 * BENCH_OPCUA_ITEMS (default 10000), BENCH_OPCUA_WINDOW_S (default 8) and BENCH_OPCUA_ROUNDS (2: bare,
 * driver, driver, bare; 1: one each) scale it down for smoke runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ITEMS = Number(process.env.BENCH_OPCUA_ITEMS ?? 10_000);
const WINDOW_MS = Number(process.env.BENCH_OPCUA_WINDOW_S ?? 8) * 1000;
const SAMPLING_MS = 100;
const CHUNK = 1000;
const ROUNDS = Number(process.env.BENCH_OPCUA_ROUNDS ?? 2);
const SELF = fileURLToPath(import.meta.url);

interface ClientResult {
  role: string;
  connectMs: number;
  createMs: number;
  allReportingMs: number;
  ratePerS: number;
  batchesPerS: number;
  peakRssMb: number;
  dropped: number;
  cpuUsPerValue: number;
}

const nodeIds = () => Array.from({ length: ITEMS }, (_, i) => `ns=1;s=Bench.Item${i}`);

function trackRss(): () => number {
  let peak = process.memoryUsage().rss;
  const t = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 200);
  return () => {
    clearInterval(t);
    return Math.round(Math.max(peak, process.memoryUsage().rss) / 1e6);
  };
}

/** Counts distinct reporting items until all report, then values over WINDOW_MS. */
class Counter {
  seen = new Set<number | string>();
  values = 0;
  batches = 0;
  allAt = 0;
  windowStart = 0;
  private resolveAll!: () => void;
  readonly all = new Promise<void>((r) => { this.resolveAll = r; });
  add(keys: () => Iterable<number | string>, n: number): void {
    this.values += n;
    this.batches++;
    if (this.allAt === 0) {
      for (const k of keys()) this.seen.add(k);
      if (this.seen.size >= ITEMS) {
        this.allAt = performance.now();
        this.resolveAll();
      }
    }
  }
  /** values/s, batches/s and client CPU time per value over WINDOW_MS */
  async measure(): Promise<{ rate: number; batchRate: number; cpuUsPerValue: number }> {
    const v0 = this.values;
    const b0 = this.batches;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    const s = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    const n = this.values - v0;
    return { rate: n / s, batchRate: (this.batches - b0) / s, cpuUsPerValue: (c.user + c.system) / Math.max(1, n) };
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, rej) => { t = setTimeout(() => rej(new Error(`${what} took over ${ms} ms`)), ms); })]);
  } finally {
    clearTimeout(t);
  }
}

// ---- roles, each in its own process -----------------------------------------------------------

async function roleServer(dataDir: string): Promise<void> {
  const { startOpcuaSimulator } = await import('../../drivers/opcua/sim/server.ts');
  const { opcuaSimulatorSchema } = await import('../../drivers/opcua/sim/config.ts');
  const { silentLogger } = await import('../../src/log.ts');
  const { Metrics } = await import('../../src/core/metrics.ts');
  const cfg = opcuaSimulatorSchema.parse({
    type: 'opcua', id: 'bench', port: 0, securityModes: ['None'], securityPolicies: ['None'],
    bulk: [{ folder: 'Bench', count: ITEMS, generator: { kind: 'sine', amplitude: 100, period: '10s' } }],
  });
  const sim = await startOpcuaSimulator(cfg, { gateway: { id: 'bench', dataDir }, log: silentLogger(), metrics: new Metrics(), resolvePath: (p) => p });
  process.stdout.write(JSON.stringify({ address: sim.address }) + '\n');
  // stop when the parent closes our stdin
  process.stdin.resume();
  await new Promise((r) => process.stdin.once('end', r));
  await sim.stop();
}

async function roleBare(address: string, dataDir: string): Promise<ClientResult> {
  const { OPCUAClient, OPCUACertificateManager, MessageSecurityMode, SecurityPolicy, TimestampsToReturn, AttributeIds } = await import('node-opcua');
  const rss = trackRss();
  const t0 = performance.now();
  const cm = new OPCUACertificateManager({ rootFolder: join(dataDir, 'bare-pki'), automaticallyAcceptUnknownCertificate: true, disableFileWatchers: true });
  const client = OPCUAClient.create({ clientCertificateManager: cm, securityMode: MessageSecurityMode.None, securityPolicy: SecurityPolicy.None, endpointMustExist: false, connectionStrategy: { maxRetry: 0 } });
  await client.connect(address);
  const session = await client.createSession();
  const connectMs = performance.now() - t0;
  const sub = await session.createSubscription2({ requestedPublishingInterval: SAMPLING_MS, requestedMaxKeepAliveCount: 10, requestedLifetimeCount: 100, maxNotificationsPerPublish: 0, publishingEnabled: true, priority: 10 });
  const counter = new Counter();
  sub.on('raw_notification', (msg) => {
    for (const n of msg.notificationData ?? []) {
      const items = (n as { monitoredItems?: { clientHandle: number }[] }).monitoredItems;
      if (items?.length) counter.add(() => items.map((it) => it.clientHandle), items.length);
    }
  });
  const ids = nodeIds();
  const tc = performance.now();
  for (let i = 0; i < ids.length; i += CHUNK) {
    await sub.monitorItems(ids.slice(i, i + CHUNK).map((nodeId) => ({ nodeId, attributeId: AttributeIds.Value })), { samplingInterval: SAMPLING_MS, queueSize: 1, discardOldest: true }, TimestampsToReturn.Both);
  }
  const createMs = performance.now() - tc;
  await withTimeout(counter.all, 60_000, 'bare: all items reporting');
  const { rate, batchRate, cpuUsPerValue } = await counter.measure();
  await sub.terminate();
  await session.close();
  await client.disconnect();
  await cm.dispose();
  return { role: 'bare node-opcua', connectMs, createMs, allReportingMs: counter.allAt - t0, ratePerS: rate, batchesPerS: batchRate, peakRssMb: rss(), dropped: 0, cpuUsPerValue };
}

async function roleDriver(address: string, dataDir: string): Promise<ClientResult> {
  const { createOpcuaSource } = await import('../../drivers/opcua/source.ts');
  const { opcuaSourceSchema } = await import('../../drivers/opcua/config.ts');
  const { Channel } = await import('../../src/core/channel.ts');
  const { Metrics } = await import('../../src/core/metrics.ts');
  const { silentLogger, createLogger } = await import('../../src/log.ts');
  const { pino } = await import('pino');
  // BENCH_LOG=debug shows the driver's own log on stderr
  const log = process.env.BENCH_LOG ? createLogger({ level: process.env.BENCH_LOG, format: 'json', destination: pino.destination(2) }) : silentLogger();
  const rss = trackRss();
  const cfg = opcuaSourceSchema.parse({
    type: 'opcua', id: 'bench', endpoint: address, securityMode: 'None', publishingInterval: `${SAMPLING_MS}ms`,
    samplingInterval: `${SAMPLING_MS}ms`, chunkSize: CHUNK, tags: nodeIds(),
  });
  const out = new Channel<import('../../src/core/sample.ts').SampleBatch>({ name: 'bench', capacity: 1024, whenFull: 'drop-oldest' });
  const metrics = new Metrics();
  const counter = new Counter();
  const ac = new AbortController();
  const t0 = performance.now();
  let connectMs = 0;
  const source = createOpcuaSource(cfg, {
    gateway: { id: 'bench', dataDir }, log, metrics, resolvePath: (p) => p,
    stageMetrics: metrics.stage('source:bench'), out, heartbeat: () => { if (!connectMs) connectMs = performance.now() - t0; },
  });
  const running = source.run(ac.signal);
  const consumer = (async () => {
    const batch: import('../../src/core/sample.ts').SampleBatch[] = [];
    while (!ac.signal.aborted) {
      await out.readable(ac.signal).catch(() => {});
      for (const b of out.drain(Infinity, batch)) counter.add(() => b.samples.map((s) => s.tag), b.samples.length);
      batch.length = 0;
    }
  })();
  await withTimeout(counter.all, 60_000, 'driver: all items reporting');
  const createMs = counter.allAt - t0 - connectMs;
  const { rate, batchRate, cpuUsPerValue } = await counter.measure();
  const st = out.stats();
  ac.abort();
  await running;
  await consumer;
  return { role: 'fieldgate driver', connectMs, createMs, allReportingMs: counter.allAt - t0, ratePerS: rate, batchesPerS: batchRate, peakRssMb: rss(), dropped: st.dropped.oldest, cpuUsPerValue };
}

// ---- orchestration ------------------------------------------------------------------------------

function child(role: string, args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', SELF, `--role=${role}`, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
}

async function firstJsonLine<T>(cp: ChildProcess, what: string): Promise<T> {
  const rl = createInterface({ input: cp.stdout! });
  const line = await withTimeout(new Promise<string>((res, rej) => {
    rl.on('line', (l) => { if (l.startsWith('{')) res(l); });
    cp.once('exit', (code) => rej(new Error(`${what} exited with ${code}`)));
  }), 90_000, what);
  rl.close();
  return JSON.parse(line) as T;
}

async function main(): Promise<void> {
  const role = process.argv.find((a) => a.startsWith('--role='))?.slice(7);
  const [address, dataDir] = process.argv.slice(3);
  if (role === 'server') return roleServer(process.argv[3]!);
  if (role === 'bare' || role === 'driver') {
    const r = role === 'bare' ? await roleBare(address!, dataDir!) : await roleDriver(address!, dataDir!);
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'fg-bench-opcua-'));
  const server = child('server', [dir]);
  try {
    const t0 = performance.now();
    const { address } = await firstJsonLine<{ address: string }>(server, 'simulator');
    console.log(`simulator: ${ITEMS} variables at ${address}, started in ${Math.round(performance.now() - t0)} ms (own process)`);
    // alternate the two clients so drift on this shared machine hits both alike; keep each one's best round
    const results: ClientResult[] = [];
    const order = ROUNDS === 1 ? ['bare', 'driver'] : ['bare', 'driver', 'driver', 'bare'];
    for (const r of order) {
      const cp = child(r, [address, dir]);
      results.push(await firstJsonLine<ClientResult>(cp, r));
      await new Promise((res) => cp.once('exit', res));
    }
    const best = (role: string) => results.filter((r) => r.role === role).reduce((a, b) => (b.ratePerS > a.ratePerS ? b : a));
    const [bare, drv] = [best('bare node-opcua'), best('fieldgate driver')];
    const f = (n: number) => Math.round(n).toLocaleString('en-US');
    console.log(`\n${ITEMS} items, sampling ${SAMPLING_MS} ms, publishing ${SAMPLING_MS} ms, ${WINDOW_MS / 1000} s window`);
    console.log('client            | connect ms | items created+first value ms | all reporting ms | values/s | batches/s | CPU us/value | peak RSS MB | dropped');
    for (const r of results) {
      console.log(`${r.role.padEnd(17)} | ${f(r.connectMs).padStart(10)} | ${f(r.createMs).padStart(28)} | ${f(r.allReportingMs).padStart(16)} | ${f(r.ratePerS).padStart(8)} | ${f(r.batchesPerS).padStart(9)} | ${r.cpuUsPerValue.toFixed(1).padStart(12)} | ${f(r.peakRssMb).padStart(11)} | ${r.dropped}`);
    }
    console.log(`\nbest round each. driver / bare: values/s ${(drv.ratePerS / bare.ratePerS).toFixed(2)}x (target >= 0.9x), ` +
      `client CPU per value ${(drv.cpuUsPerValue / bare.cpuUsPerValue).toFixed(2)}x, ` +
      `time to all reporting ${(drv.allReportingMs / bare.allReportingMs).toFixed(2)}x, RSS ${(drv.peakRssMb / bare.peakRssMb).toFixed(2)}x`);
    console.log(`targets: all ${ITEMS} reporting within 5 s: ${drv.allReportingMs < 5000 ? 'yes' : 'NO'} (${f(drv.allReportingMs)} ms); ` +
      `RSS under 300 MB: ${drv.peakRssMb < 300 ? 'yes' : 'NO'} (${drv.peakRssMb} MB)`);
  } finally {
    server.stdin!.end();
    await new Promise((res) => server.once('exit', res));
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
