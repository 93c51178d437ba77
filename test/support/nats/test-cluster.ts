/**
 * A real JetStream cluster of `nats-server` processes on loopback, for tests and the benchmark.
 * Ports are taken free at creation and kept across restarts (the routes and the clients name them).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createServer } from 'node:net';
import { until } from '../wait.ts';

/**
 * A port the servers keep across kills and restarts. It is taken below Linux's ephemeral range
 * (32768-60999 by default): a port from that range, left unbound while its server is down, can
 * become the local port of any outgoing connection on the machine, and the restart then fails
 * with "address already in use" (seen under a loaded full suite). Below the range only an
 * explicit bind can take it.
 */
async function stablePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const s = createServer();
    const ok = await new Promise<boolean>((r) => {
      s.once('error', () => r(false));
      s.listen(port, '127.0.0.1', () => r(true));
    });
    if (ok) {
      await new Promise<void>((r) => s.close(() => r()));
      return port;
    }
  }
  throw new Error('no free port found in 20000-31999');
}

/** The nats-server binary, or undefined with the reason a test prints when it skips. */
export function natsServerBinary(): { path?: string; why?: string } {
  for (const p of ['/usr/bin/nats-server', '/usr/local/bin/nats-server', '/usr/sbin/nats-server']) if (existsSync(p)) return { path: p };
  try {
    const p = execFileSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' }).trim();
    if (p) return { path: p };
  } catch { /* not on PATH */ }
  return { why: 'nats-server is not installed (Debian package nats-server; .ci/run installs it)' };
}

interface Node { name: string; port: number; clusterPort: number; conf: string; proc?: ChildProcess; exited?: Promise<void>; log: string[] }

export class NatsCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'fg-nats-'));
  readonly nodes: Node[] = [];
  private stopped = false;
  /** what the rig's own clients add to their connection options (credentials, TLS) */
  auth: Partial<NodeConnectionOptions> = {};

  private constructor(private readonly bin: string) {}

  /**
   * `size` 1 is a single server (no cluster block); `extra` is appended to every server's config;
   * `auth` is what the rig's own clients need to connect when `extra` asks for credentials or TLS.
   */
  static async start(bin: string, size = 3, extra = '', auth: Partial<NodeConnectionOptions> = {}): Promise<NatsCluster> {
    // a port found free can be taken by another process before the server binds it (this machine
    // runs other test suites): a cluster that does not come up is started again on new ports
    let last: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        return await NatsCluster.startOnce(bin, size, extra, auth);
      } catch (e) {
        last = e;
      }
    }
    throw last;
  }

  private static async startOnce(bin: string, size: number, extra: string, auth: Partial<NodeConnectionOptions>): Promise<NatsCluster> {
    const c = new NatsCluster(bin);
    c.auth = auth;
    for (let i = 0; i < size; i++) c.nodes.push({ name: `n${i + 1}`, port: await stablePort(), clusterPort: await stablePort(), conf: '', log: [] });
    for (const n of c.nodes) {
      const store = join(c.dir, n.name);
      mkdirSync(store, { recursive: true });
      const routes = c.nodes.filter((o) => o !== n).map((o) => `nats-route://127.0.0.1:${o.clusterPort}`);
      n.conf = join(c.dir, `${n.name}.conf`);
      writeFileSync(n.conf, [
        `server_name: ${n.name}`,
        `listen: 127.0.0.1:${n.port}`,
        `jetstream { store_dir: "${store}", max_memory_store: 256MB, max_file_store: 4GB }`,
        size > 1 ? `cluster { name: fg, listen: 127.0.0.1:${n.clusterPort}, routes: [${routes.join(', ')}] }` : '',
        extra,
        '',
      ].join('\n'));
    }
    try {
      for (let i = 0; i < size; i++) c.spawn(i);
      await c.ready();
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  get urls(): string[] {
    return this.nodes.map((n) => `nats://127.0.0.1:${n.port}`);
  }

  private spawn(i: number): void {
    const n = this.nodes[i]!;
    const proc = spawn(this.bin, ['-c', n.conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr!.on('data', (d: Buffer) => {
      n.log.push(...d.toString().split('\n').filter(Boolean));
      if (n.log.length > 200) n.log.splice(0, n.log.length - 200);
    });
    n.proc = proc;
    n.exited = new Promise((r) => proc.once('exit', () => r()));
  }

  /** Every running server answers and JetStream (its meta leader) is up. */
  async ready(ms = 30_000): Promise<void> {
    for (const n of this.nodes) {
      if (!n.proc || n.proc.exitCode !== null || n.proc.signalCode !== null) continue;
      await until(`${n.name} JetStream ready`, async () => {
        if (n.proc?.exitCode !== null || n.proc?.signalCode !== null) throw new Error(`${n.name} exited:\n${this.logs()}`);
        const nc = await connect({ servers: `127.0.0.1:${n.port}`, reconnect: false, timeout: 1000, ...this.auth }).catch(() => undefined);
        if (!nc) return false;
        try {
          const jsm = await jetstreamManager(nc, { timeout: 1000 });
          await jsm.getAccountInfo();
          return true;
        } catch {
          return false;
        } finally {
          await nc.close();
        }
      }, ms, 200).catch((e: unknown) => {
        throw new Error(`${e instanceof Error ? e.message : String(e)}\n${this.logs()}`);
      });
    }
  }

  async kill(i: number): Promise<void> {
    const n = this.nodes[i]!;
    n.proc?.kill('SIGKILL');
    await n.exited;
    n.proc = undefined;
  }

  async restart(i: number): Promise<void> {
    this.spawn(i);
    await this.ready();
  }

  indexOf(serverName: string): number {
    return this.nodes.findIndex((n) => n.name === serverName);
  }

  /** A client connected to any live server (reconnecting across kills), for setup and checks. */
  async client(): Promise<NatsConnection> {
    return await connect({ servers: this.urls, maxReconnectAttempts: -1, reconnectTimeWait: 100, timeout: 5000, ...this.auth });
  }

  logs(): string {
    return this.nodes.map((n) => `--- ${n.name}\n${n.log.slice(-20).join('\n')}`).join('\n');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const n of this.nodes) n.proc?.kill('SIGTERM');
    const t = setTimeout(() => { for (const n of this.nodes) n.proc?.kill('SIGKILL'); }, 5000);
    await Promise.all(this.nodes.map((n) => n.exited ?? Promise.resolve()));
    clearTimeout(t);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface StoredRecord { seq: number; subject: string; msgId: string; rec: { id: string; source: string; value: number } }

/**
 * Every message of a stream, in stream order, through an ordered consumer. Retried while the
 * cluster settles after a kill (a consumer cannot be created before the stream has a leader).
 */
export async function readStream(nc: NatsConnection, stream: string, ms = 30_000): Promise<StoredRecord[]> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await readOnce(nc, stream, ms);
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

async function readOnce(nc: NatsConnection, stream: string, ms: number): Promise<StoredRecord[]> {
  const { jetstream } = await import('@nats-io/jetstream');
  const jsm = await jetstreamManager(nc);
  const total = (await jsm.streams.info(stream)).state.messages;
  const out: StoredRecord[] = [];
  if (total === 0) return out;
  const consumer = await jetstream(nc).consumers.get(stream);
  const msgs = await consumer.consume({ max_messages: 10_000 });
  const timer = setTimeout(() => msgs.stop(), ms);
  const dec = new TextDecoder();
  for await (const m of msgs) {
    out.push({ seq: m.seq, subject: m.subject, msgId: m.headers?.get('Nats-Msg-Id') ?? '', rec: JSON.parse(dec.decode(m.data)) as StoredRecord['rec'] });
    if (out.length >= total) break;
  }
  clearTimeout(timer);
  await msgs.close();
  return out;
}
