import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { setMaxListeners } from 'node:events';
import type { Authenticator, MsgHdrs, NatsConnection, NodeConnectionOptions, Msg, TlsOptions } from '@nats-io/transport-node';
import type { StreamInfo } from '@nats-io/jetstream';
import { Counter } from 'prom-client';
import { FgError, errorMessage } from '../../core/errors.ts';
import { loadOnUse } from '../../core/load-on-use.ts';
import type { StageMetrics } from '../../core/metrics.ts';
import type { OutboxRecord } from '../../outbox/index.ts';
import { recordSource } from '../../outbox/records.ts';
import type { StageContext } from '../../core/contracts.ts';
import { type JsonStrings, recordJsonText } from '../json.ts';
import type { SendResult, Transport } from '../runner.ts';
import type { NatsSinkConfig } from './config.ts';
import { SubjectTemplate } from './subject.ts';

// The NATS client is loaded by the first connect, not at import: a configuration without a NATS
// sink never loads it (about 12 MB of RSS). Everything that uses it runs after a connect.
type NatsLib = typeof import('@nats-io/transport-node');
type JetStreamLib = typeof import('@nats-io/jetstream');
let natsLib: { nats: NatsLib; js: JetStreamLib } | undefined;

async function loadNats(who: string): Promise<{ nats: NatsLib; js: JetStreamLib }> {
  natsLib ??= {
    nats: await loadOnUse(who, '@nats-io/transport-node', () => import('@nats-io/transport-node')),
    js: await loadOnUse(who, '@nats-io/jetstream', () => import('@nats-io/jetstream')),
  };
  return natsLib;
}

/** One chunk published and waiting for its JetStream publish acks. */
interface Pending {
  /** outbox seq of each record, by index in the chunk (the reply subject carries the index) */
  seqs: number[];
  left: number;
  /** acks marked duplicate: stored before (a re-send after a lost ack or a crash) */
  dups: number;
  timer: NodeJS.Timeout;
  resolve(): void;
  reject(e: unknown): void;
}

/** A JetStream PubAck or API error, as the server sends it to the reply subject. */
interface AckJson { stream?: string; seq?: number; duplicate?: boolean; error?: { code?: number; err_code?: number; description?: string } }

const decoder = new TextDecoder();

/**
 * Publishes records to a JetStream stream, one message per record with `Nats-Msg-Id` = the record id,
 * so the stream's duplicate window drops a record sent again after a lost ack, a reconnect or a crash.
 *
 * The acks come back on one wildcard inbox subscription of the connection (reply subject
 * `<inbox>.<chunk>.<index>`), with one timer per chunk, not one request (and timer) per record.
 *
 * Order: one connection delivers in order, but a stream whose leader changes can lose a message in
 * flight and store the ones after it. So the first failed ack (a JetStream error, "no responders"
 * while a leader is elected, a timeout) or a lost connection ends the connection's publishing at
 * once: nothing more is written to it, every chunk waiting on it fails, and the runner sends them
 * again in order on a new connection (the duplicate window drops what was stored already). The
 * client's own reconnect is off for the same reason: it would flush buffered messages after a gap.
 */
export class NatsTransport implements Transport {
  readonly target: string;
  private readonly servers: string[];
  private readonly template: SubjectTemplate;
  private readonly tls?: { ca?: string; cert?: string; key?: string; handshakeFirst: boolean };
  /** how the client authenticates (the files are read at creation, the authenticator is built on connect) */
  private readonly auth?: (nats: NatsLib) => Authenticator;
  private nc?: NatsConnection;
  private inbox = '';
  private lost?: AbortController;
  private broken?: Error;
  private nextChunk = 0;
  private readonly pending = new Map<number, Pending>();
  /** highest outbox seq stored (not a duplicate) by this process: a lower one stored later is out of order */
  private highestStored = 0;
  private streamChecked = false;
  private lastOrderLog = 0;
  private readonly duplicates: Counter<'sink'>;

  constructor(private readonly cfg: NatsSinkConfig, private readonly ctx: StageContext, private readonly sm: StageMetrics) {
    this.servers = Array.isArray(cfg.servers) ? cfg.servers : [cfg.servers];
    this.target = this.servers.map((s) => new URL(s).host).join(',');
    this.template = new SubjectTemplate(cfg.subject, ctx.gateway.id);
    const name = 'fieldgate_nats_duplicates_total';
    this.duplicates = (ctx.metrics.registry.getSingleMetric(name) as Counter<'sink'> | undefined) ?? new Counter({
      name, help: 'Records the JetStream duplicate window recognised as stored already (sent again after a lost ack or a crash)',
      labelNames: ['sink'], registers: [ctx.metrics.registry],
    });
    // files are read once, at creation: a missing file fails before anything starts
    const t = cfg.tls;
    if (t || this.servers.some((s) => s.startsWith('tls://'))) {
      const read = (p?: string) => (p ? readFileSync(ctx.resolvePath(p), 'utf8') : undefined);
      this.tls = { ca: read(t?.ca), cert: read(t?.cert), key: read(t?.key), handshakeFirst: t?.handshakeFirst ?? false };
    }
    if (cfg.credsFile) {
      const creds = readFileSync(ctx.resolvePath(cfg.credsFile));
      this.auth = (n) => n.credsAuthenticator(creds);
    } else if (cfg.nkeySeed) {
      const seed = new TextEncoder().encode(cfg.nkeySeed.trim());
      this.auth = (n) => n.nkeyAuthenticator(seed);
    } else if (cfg.token) {
      const token = cfg.token;
      this.auth = (n) => n.tokenAuthenticator(token);
    } else if (cfg.user) {
      const { user, password } = cfg;
      this.auth = (n) => n.usernamePasswordAuthenticator(user, password);
    }
  }

  async connect(signal: AbortSignal): Promise<void> {
    await this.close();
    const { nats } = await loadNats(`sink ${this.cfg.id}`);
    const connect = nats.connect;
    const tls = this.tls ? { ...this.tls } : undefined;
    if (tls) for (const k of ['ca', 'cert', 'key'] as const) if (tls[k] === undefined) delete tls[k];
    const opts: NodeConnectionOptions = {
      name: this.cfg.name ?? `fieldgate-${this.ctx.gateway.id}-${this.cfg.id}`,
      reconnect: false,
      timeout: this.cfg.connectTimeout,
      pingInterval: this.cfg.pingInterval,
      maxPingOut: 2,
      authenticator: this.auth?.(nats),
    };
    const urls = this.servers.map((s) => s.replace(/^tls:\/\//, 'nats://'));
    let nc: NatsConnection | undefined;
    try {
      if (!tls) {
        nc = await abortableConnect(connect({ ...opts, servers: urls }), signal);
      } else {
        // one server per attempt: the client gives TLS no host for an IP-literal server, so Node would
        // check its certificate against "localhost"; here each attempt names the address it dials
        let last: unknown;
        for (const u of shuffled(urls)) {
          const host = new URL(u).hostname.replace(/^\[|\]$/g, '');
          try {
            nc = await abortableConnect(connect({ ...opts, servers: [u], tls: { ...tls, ...(isIP(host) ? { host } : {}) } as TlsOptions }), signal);
            break;
          } catch (e) {
            if (signal.aborted) throw e;
            last = e;
          }
        }
        if (!nc) throw last;
      }
    } catch (e) {
      throw new FgError('FG_E_SINK_CONNECT', `cannot connect to ${this.target}: ${errorMessage(e)}`, { cause: e });
    }
    this.nc = nc;
    this.broken = undefined;
    const lost = new AbortController();
    setMaxListeners(0, lost.signal);
    this.lost = lost;
    void nc.closed().then((err) => this.nc === nc && this.fail(new FgError('FG_E_SINK_PUBLISH', `connection to ${this.target} closed${err ? `: ${errorMessage(err)}` : ''}`)));
    // once per sink start: on a reconnect during a leader election the stream API may not answer for
    // seconds, while publishes already can (they wait for the new leader, then go on)
    if (!this.streamChecked) {
      try {
        await this.checkStream(nc, signal);
        this.streamChecked = true;
      } catch (e) {
        await this.close();
        if (e instanceof FgError) throw e;
        throw new FgError('FG_E_SINK_CONNECT', `JetStream on ${this.target} did not answer: ${errorMessage(e)}`, { cause: e });
      }
    }
    this.inbox = nats.createInbox();
    // the ack subscription lives and ends with its connection
    nc.subscribe(`${this.inbox}.>`, { callback: (err, msg) => { if (this.nc !== nc) return; if (err) this.fail(err); else this.onAck(msg); } });
    // the subscription is registered before the first publish refers to it
    await nc.flush();
  }

  /** Finds (or creates) the stream and warns when its duplicate window is shorter than the replay horizon. */
  private async checkStream(nc: NatsConnection, signal: AbortSignal): Promise<void> {
    const jsm = await natsLib!.js.jetstreamManager(nc, { timeout: this.cfg.connectTimeout });
    let info: StreamInfo;
    try {
      info = await jsm.streams.info(this.cfg.stream);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      const c = this.cfg.create;
      if (!c) throw new FgError('FG_E_NATS_STREAM', `stream ${this.cfg.stream} does not exist on ${this.target} (create it, or set create: {} to let the sink create it)`);
      if (signal.aborted) throw signal.reason;
      info = await jsm.streams.add({
        name: this.cfg.stream,
        subjects: c.subjects ?? [this.template.wildcard()],
        num_replicas: c.replicas,
        storage: c.storage as never,
        duplicate_window: this.cfg.replayHorizon * 1_000_000,
        ...(c.maxAge !== undefined ? { max_age: c.maxAge * 1_000_000 } : {}),
        ...(c.maxBytes !== undefined ? { max_bytes: c.maxBytes } : {}),
      });
      this.ctx.log.info({ sink: this.cfg.id, stream: this.cfg.stream, replicas: c.replicas, storage: c.storage, subjects: info.config.subjects }, 'NATS stream created');
    }
    const windowMs = Math.round((info.config.duplicate_window ?? 0) / 1_000_000);
    if (windowMs < this.cfg.replayHorizon) {
      this.sm.error('FG_E_NATS_DUPLICATE_WINDOW');
      this.ctx.log.warn(
        { code: 'FG_E_NATS_DUPLICATE_WINDOW', sink: this.cfg.id, stream: this.cfg.stream, duplicateWindowMs: windowMs, replayHorizonMs: this.cfg.replayHorizon },
        'stream duplicate_window is shorter than the sink replayHorizon: a record sent again after a longer outage or restart is stored twice',
      );
    }
  }

  lostSignal(): AbortSignal | undefined {
    return this.lost?.signal;
  }

  async send(records: OutboxRecord[], signal: AbortSignal): Promise<SendResult> {
    const nc = this.nc;
    if (!nc || this.broken !== undefined) throw this.broken ?? new FgError('FG_E_SINK_PUBLISH', `not connected to ${this.target}`);
    if (signal.aborted) throw signal.reason;
    const chunk = this.nextChunk++;
    const seqs = new Array<number>(records.length);
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new FgError('FG_E_SINK_PUBLISH', `no JetStream ack within ${this.cfg.ackTimeout} ms from ${this.target}`)), this.cfg.ackTimeout);
      this.pending.set(chunk, { seqs, left: records.length, dups: 0, timer, resolve, reject });
    });
    const seen: JsonStrings = new Map();
    const prefix = `${this.inbox}.${chunk}.`;
    try {
      for (let i = 0; i < records.length; i++) {
        const r = records[i]!;
        seqs[i] = r.seq;
        const h: MsgHdrs = natsLib!.nats.headers();
        h.set('Nats-Msg-Id', r.id);
        nc.publish(this.template.render(r.kind, recordSource(r), tagOf(r)), recordJsonText(r, seen), { reply: prefix + i, headers: h });
      }
    } catch (e) {
      this.fail(new FgError('FG_E_SINK_PUBLISH', `publish to ${this.target} failed: ${errorMessage(e)}`, { cause: e }));
    }
    await done;
    return { ok: true };
  }

  private onAck(msg: Msg): void {
    const s = msg.subject;
    const b = s.lastIndexOf('.');
    const a = s.lastIndexOf('.', b - 1);
    const p = this.pending.get(Number(s.slice(a + 1, b)));
    if (!p) return; // a late ack of a chunk already failed: it is sent again anyway
    const i = Number(s.slice(b + 1));
    if (msg.headers?.hasError) {
      // 503: no stream leader listens right now (an election); any other status alike
      this.fail(new FgError('FG_E_SINK_PUBLISH', `JetStream ${msg.headers.code} ${msg.headers.description} from ${this.target}`));
      return;
    }
    let ack: AckJson;
    try {
      ack = JSON.parse(decoder.decode(msg.data)) as AckJson;
    } catch (e) {
      this.fail(new FgError('FG_E_SINK_PUBLISH', `undecodable JetStream ack from ${this.target}: ${errorMessage(e)}`));
      return;
    }
    if (ack.error || typeof ack.seq !== 'number') {
      const why = ack.error ? `${ack.error.code ?? ''} ${ack.error.err_code ?? ''} ${ack.error.description ?? ''}`.trim() : 'no seq';
      this.fail(new FgError('FG_E_SINK_PUBLISH', `JetStream refused a publish: ${why}`));
      return;
    }
    if (ack.duplicate === true) {
      p.dups++;
    } else {
      const q = p.seqs[i]!;
      if (q < this.highestStored) this.outOfOrder(q);
      else this.highestStored = q;
    }
    if (--p.left === 0) {
      clearTimeout(p.timer);
      if (p.dups > 0) this.duplicates.inc({ sink: this.cfg.id }, p.dups);
      this.pending.delete(Number(s.slice(a + 1, b)));
      p.resolve();
    }
  }

  /** Should not happen (see the class comment); counted and logged so that it cannot go unseen. */
  private outOfOrder(seq: number): void {
    this.sm.error('FG_E_NATS_ORDER');
    const now = Date.now();
    if (now - this.lastOrderLog > 10_000) {
      this.lastOrderLog = now;
      this.ctx.log.warn({ code: 'FG_E_NATS_ORDER', sink: this.cfg.id, seq, highestStored: this.highestStored }, 'a record was stored after a later one');
    }
  }

  /** Ends publishing on this connection: every waiting chunk fails and the runner reconnects. */
  private fail(e: Error): void {
    if (this.broken === undefined) this.broken = e;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(this.broken);
    }
    this.pending.clear();
    this.lost?.abort(this.broken);
  }

  async close(): Promise<void> {
    const nc = this.nc;
    this.nc = undefined;
    this.fail(new FgError('FG_E_SINK_PUBLISH', `connection to ${this.target} closed by the sink`));
    if (nc && !nc.isClosed()) await nc.close().catch(() => undefined);
  }
}

function shuffled<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

function tagOf(r: OutboxRecord): string {
  return r.kind === 'sample' ? r.sample.tag : r.kind === 'event' ? r.event.kind : r.prediction.model;
}

function isNotFound(e: unknown): boolean {
  const x = e as { code?: number; name?: string; message?: string; api_error?: { err_code?: number } };
  return x?.name === 'StreamNotFoundError' || x?.api_error?.err_code === 10059 || /stream not found/i.test(String(x?.message));
}

/** connect() has no AbortSignal: when aborted meanwhile, the connection that arrives later is closed. */
async function abortableConnect(p: Promise<NatsConnection>, signal: AbortSignal): Promise<NatsConnection> {
  if (signal.aborted) {
    void p.then((nc) => nc.close(), () => undefined);
    throw signal.reason;
  }
  return await new Promise<NatsConnection>((resolve, reject) => {
    const onAbort = () => {
      void p.then((nc) => nc.close(), () => undefined);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (nc) => { signal.removeEventListener('abort', onAbort); resolve(nc); },
      (e: unknown) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}
