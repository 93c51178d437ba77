import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import type { IClientOptions, MqttClient } from 'mqtt';
import { abortable } from '../../core/abortable.ts';
import { FgError, errorMessage } from '../../core/errors.ts';
import { loadOnUse } from '../../core/load-on-use.ts';
import type { StageMetrics } from '../../core/metrics.ts';
import type { OutboxRecord } from '../../outbox/index.ts';
import type { StageContext } from '../../core/contracts.ts';
import type { SendResult, Transport } from '../runner.ts';
import type { MqttSinkConfig } from './config.ts';
import { type OutgoingMessage, jsonMessages } from './json.ts';
import { SparkplugSession, parseNodeCommand, type NodeCommand } from './sparkplug.ts';

/**
 * Publishes chunks to an MQTT broker with mqtt.js. mqtt.js's own reconnect is off: the sink runner
 * reconnects with backoff and re-sends unconfirmed chunks, so a chunk is confirmed only by the
 * PUBACKs of the connection it was sent on.
 */
export class MqttTransport implements Transport {
  readonly target: string;
  private client?: MqttClient;
  private lost?: AbortSignal;
  private will?: OutgoingMessage;
  private lastCommandErrorLog = 0;
  private lastStateErrorLog = 0;
  /** the primary host's last STATE: kept across sessions (a STATE older than the last is stale) */
  private host = { online: false, timestamp: -1 };
  private hostOnline?: () => void;
  /** this session has published its NBIRTH (a clean close then publishes NDEATH) */
  private born = false;
  /** records up to this outbox seq were stored before this session's births: history */
  private historyUntil = 0;
  private readonly sparkplug?: SparkplugSession;
  private readonly template: string;
  private readonly tls: Pick<IClientOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized'>;

  /** `headSeq`: the outbox's last committed seq, read at each birth (records up to it are history) */
  constructor(private readonly cfg: MqttSinkConfig, private readonly ctx: StageContext, private readonly sm: StageMetrics, private readonly headSeq?: () => number) {
    const u = new URL(cfg.url);
    this.target = `${u.protocol}//${u.host}`; // never the credentials a URL may carry
    this.template = cfg.topic ?? (cfg.messages === 'sample' ? 'fieldgate/{gateway}/{kind}/{source}/{tag}' : 'fieldgate/{gateway}/{kind}/{source}');
    if (cfg.payload === 'sparkplug-b') {
      this.sparkplug = new SparkplugSession({
        groupId: cfg.sparkplug.groupId, edgeNodeId: cfg.sparkplug.edgeNodeId ?? ctx.gateway.id, qos: cfg.qos,
        history: cfg.sparkplug.history, historyTopic: cfg.sparkplug.historyTopic, timestamps: cfg.sparkplug.timestamps,
      });
    }
    // certificate files are read once, at creation, so a missing file fails before anything starts
    const t = cfg.tls;
    this.tls = t
      ? {
        ca: t.ca ? readFileSync(ctx.resolvePath(t.ca)) : undefined,
        cert: t.cert ? readFileSync(ctx.resolvePath(t.cert)) : undefined,
        key: t.key ? readFileSync(ctx.resolvePath(t.key)) : undefined,
        rejectUnauthorized: t.rejectUnauthorized,
      }
      : {};
  }

  async connect(signal: AbortSignal): Promise<void> {
    await this.close();
    // mqtt.js is loaded by the first connect, not at import: a configuration without an MQTT sink never loads it
    const mqtt = await loadOnUse(`sink ${this.cfg.id}`, 'mqtt', () => import('mqtt'));
    const will = this.sparkplug?.newSession();
    this.will = will;
    const opts: IClientOptions = {
      clientId: this.cfg.clientId ?? `fieldgate-${this.ctx.gateway.id}-${this.cfg.id}`,
      username: this.cfg.username,
      password: this.cfg.password,
      protocolVersion: this.cfg.protocolVersion === '5' ? 5 : 4,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: this.cfg.connectTimeout,
      keepalive: Math.ceil(this.cfg.keepalive / 1000),
      ...this.tls,
      will: will ? { topic: will.topic, payload: will.payload as Buffer, qos: will.qos, retain: false } : undefined,
    };
    const client = mqtt.connect(this.cfg.url, opts);
    client.on('error', () => undefined); // surfaced through connect/close below, never an unhandled 'error'
    this.client = client;
    try {
      await new Promise<void>((resolve, reject) => {
        const fail = (e: unknown) => {
          cleanup();
          reject(new FgError('FG_E_SINK_CONNECT', `cannot connect to ${this.target}: ${errorMessage(e)}`, { cause: e }));
        };
        const onClose = () => fail(new Error('connection closed'));
        const onAbort = () => fail(signal.reason);
        const cleanup = () => {
          client.off('connect', onConnect);
          client.off('error', fail);
          client.off('close', onClose);
          signal.removeEventListener('abort', onAbort);
        };
        const onConnect = () => { cleanup(); resolve(); };
        client.once('connect', onConnect);
        client.once('error', fail);
        client.once('close', onClose);
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      });
    } catch (e) {
      await this.close();
      throw e;
    }
    const lost = new AbortController();
    setMaxListeners(0, lost.signal); // one listener per chunk in flight, each removed when it settles
    client.once('close', () => lost.abort(new FgError('FG_E_SINK_PUBLISH', `connection to ${this.target} lost`)));
    this.lost = lost.signal;
    if (this.sparkplug) {
      // Sparkplug: subscribe to NCMD (QoS 1, as the spec asks) before NBIRTH, so a host that answers
      // the birth with a rebirth request is heard; commands before our NBIRTH are moot
      const sp = this.sparkplug;
      let open = false;
      const hostId = this.cfg.sparkplug.primaryHostId;
      const stateTopic = hostId === undefined ? undefined : `spBv1.0/STATE/${hostId}`;
      client.on('message', (topic, payload) => {
        if (client !== this.client) return;
        if (topic === stateTopic) this.onHostState(payload, lost);
        else if (open && topic === sp.commandTopic) this.onNodeCommand(client, sp, payload);
      });
      const [granted] = await abortable(client.subscribeAsync(sp.commandTopic, { qos: 1 }), lost.signal);
      if (granted && granted.qos === 128) {
        this.ctx.log.warn({ sink: this.cfg.id, topic: sp.commandTopic }, 'broker refused the NCMD subscription; rebirth requests will not be heard');
      }
      if (stateTopic !== undefined) {
        // Sparkplug 3.0: subscribe to the primary host's STATE (retained) and birth only once it is online
        const online = new Promise<void>((resolve) => { this.hostOnline = resolve; });
        const [g] = await abortable(client.subscribeAsync(stateTopic, { qos: 1 }), lost.signal);
        if (g && g.qos === 128) throw new FgError('FG_E_SINK_CONNECT', `broker refused the subscription to ${stateTopic}`);
        if (!this.host.online) {
          this.ctx.log.info({ sink: this.cfg.id, hostId }, 'Sparkplug: waiting for the primary host to be online before NBIRTH');
          await abortable(abortable(online, lost.signal), signal);
        }
        this.hostOnline = undefined;
      }
      this.historyUntil = this.headSeq?.() ?? 0;
      const birth = this.publish([sp.nodeBirth()]);
      open = true; // set after the NBIRTH is queued: a rebirth is always written after it
      this.born = true;
      await birth;
    }
  }

  /**
   * A node command from the host. Only Rebirth is acted on; fieldgate is read-only and never
   * writes to devices. Runs synchronously, so the births are queued before any DDATA encoded
   * later (DDATA already queued goes first and completes as usual).
   */
  private onNodeCommand(client: MqttClient, sp: SparkplugSession, payload: Buffer): void {
    let cmd: NodeCommand;
    try {
      cmd = parseNodeCommand(payload);
    } catch (e) {
      this.sm.error('FG_E_SPARKPLUG_NCMD');
      const now = Date.now();
      if (now - this.lastCommandErrorLog > 60_000) {
        this.lastCommandErrorLog = now;
        this.ctx.log.warn({ code: 'FG_E_SPARKPLUG_NCMD', sink: this.cfg.id, bytes: payload.length, err: errorMessage(e) }, 'undecodable Sparkplug NCMD ignored');
      }
      return;
    }
    if (cmd.kind === 'ignored') {
      this.ctx.log.debug({ sink: this.cfg.id, metrics: cmd.metrics.slice(0, 20) }, 'Sparkplug NCMD ignored: only Node Control/Rebirth is supported (read-only gateway)');
      return;
    }
    if (!client.connected) return; // the reconnect will birth anyway
    this.ctx.log.info({ sink: this.cfg.id, bdSeq: sp.currentBdSeq }, 'Sparkplug rebirth requested by the host');
    this.publish(sp.rebirth()).catch((e: unknown) => {
      // a lost connection is reported through lostSignal(); the next session births again
      this.ctx.log.debug({ sink: this.cfg.id, err: errorMessage(e) }, 'rebirth not confirmed');
    });
  }

  /**
   * A STATE message of the primary host: `{"online": bool, "timestamp": ms}` (Sparkplug 3.0).
   * One older than the last seen is stale (a retained message after a newer live one) and ignored.
   * Offline after our births: the session ends (NDEATH, disconnect) and the next one waits for online.
   */
  private onHostState(payload: Buffer, lost: AbortController): void {
    let st: { online: boolean; timestamp: number };
    try {
      const j = JSON.parse(payload.toString('utf8')) as unknown;
      const o = j as { online?: unknown; timestamp?: unknown };
      if (typeof o !== 'object' || o === null || typeof o.online !== 'boolean' || typeof o.timestamp !== 'number') throw new Error('expected {"online": boolean, "timestamp": number}');
      st = { online: o.online, timestamp: o.timestamp };
    } catch (e) {
      this.sm.error('FG_E_SPARKPLUG_STATE');
      const now = Date.now();
      if (now - this.lastStateErrorLog > 60_000) {
        this.lastStateErrorLog = now;
        this.ctx.log.warn({ code: 'FG_E_SPARKPLUG_STATE', sink: this.cfg.id, bytes: payload.length, err: errorMessage(e) }, 'invalid Sparkplug STATE message ignored');
      }
      return;
    }
    if (st.timestamp < this.host.timestamp) return;
    this.host = st;
    if (st.online) {
      this.hostOnline?.();
    } else if (this.born) {
      this.ctx.log.info({ sink: this.cfg.id, hostId: this.cfg.sparkplug.primaryHostId }, 'Sparkplug: primary host offline; NDEATH, the records wait in the outbox');
      lost.abort(new FgError('FG_E_SPARKPLUG_HOST_OFFLINE', `primary host ${this.cfg.sparkplug.primaryHostId} is offline`));
    }
  }

  lostSignal(): AbortSignal | undefined {
    return this.lost;
  }

  /**
   * Not `async`: an async function keeps its arguments until it ends, here the chunk's records
   * until the last PUBACK; encoded, they are garbage while the messages are in flight (objects that
   * live that long were copied into the old generation, per sample).
   */
  send(records: OutboxRecord[], signal: AbortSignal): Promise<SendResult> {
    let messages: OutgoingMessage[];
    try {
      messages = this.encode(records);
    } catch (e) {
      return Promise.reject(e as Error);
    }
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    return this.publish(messages).then(() => SENT);
  }

  private encode(records: OutboxRecord[]): OutgoingMessage[] {
    if (this.sparkplug) {
      const enc = this.sparkplug.encode(records, this.historyUntil);
      if (enc.skipped > 0) this.sm.dropped(enc.skipped, 'no-sparkplug-mapping');
      if (enc.historyDropped > 0) this.sm.dropped(enc.historyDropped, 'sparkplug-history-off');
      return enc.messages;
    }
    return jsonMessages(records, { gateway: this.ctx.gateway.id, template: this.template, mode: this.cfg.messages, qos: this.cfg.qos, format: this.cfg.format });
  }

  /** Resolves when every message is confirmed (PUBACK for QoS 1, written for QoS 0). Not `async`: see send. */
  private publish(messages: OutgoingMessage[]): Promise<void> {
    const client = this.client;
    if (!client || !this.lost || !client.connected) return Promise.reject(new FgError('FG_E_SINK_PUBLISH', `not connected to ${this.target}`));
    const acks = messages.map((m) => client.publishAsync(m.topic, m.payload as Buffer, { qos: m.qos, retain: this.cfg.retain }));
    return abortable(Promise.all(acks), this.lost).finally(() => {
      for (const a of acks) a.catch(() => undefined);
    }).then(() => undefined);
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.lost = undefined;
    this.hostOnline = undefined;
    const born = this.born;
    this.born = false;
    if (!client) return;
    if (this.will && born && client.connected) {
      // a clean shutdown sends no will: publish NDEATH ourselves so the host sees the node go
      await client.publishAsync(this.will.topic, this.will.payload as Buffer, { qos: 0 }).catch(() => undefined);
    }
    // force: do not wait for in-flight PUBACKs; the runner re-sends what was not confirmed
    // (its listeners stay: mqtt.js clears its own timers in them; our 'error' listener is a no-op)
    await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
  }
}

const SENT: SendResult = { ok: true };
