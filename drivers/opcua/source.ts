import {
  DataChangeFilter,
  DataChangeTrigger,
  DeadbandType,
  TimestampsToReturn,
  type ClientSubscription,
  type DataChangeNotification,
  type MonitoringParametersOptions,
  type NotificationMessage,
} from 'node-opcua-client';
import { Backoff, sleep } from '../../src/core/backoff.ts';
import { errorCode, errorMessage } from '../../src/core/errors.ts';
import type { ProbeResult } from '../../src/core/probe.ts';
import type { Sample } from '../../src/core/sample.ts';
import type { Source, SourceContext } from '../../src/pipeline/contracts.ts';
import type { OpcuaSourceConfig, OpcuaTag } from './config.ts';
import { firstLine, openConnection, type Connection } from './connect.ts';
import { leaseClientPki, type PkiLease } from './pki.ts';
import { quietNodeOpcua } from './quiet.ts';
import { readValueIds, resolveTags, type ResolvedTag } from './tags.ts';
import { SampleShaper, badSample } from './values.ts';

type Phase = 'connecting' | 'running' | 'reconnecting';

/** What the probe and /api/status show. */
interface State {
  phase: Phase;
  reason: string;
  badTags: Map<string, string>;
  lastActivity: number;
  connectedAt: number;
  /** node-opcua repaired the connection in place (transfer or recreate) */
  repairs: number;
  /** our watchdog or an error tore everything down and started again */
  rebuilds: number;
  subscriptionId?: number;
  serverThumbprint?: string;
}

/** Settles with p, or rejects with the signal's reason once it aborts (p is left to settle on its own). */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e: unknown) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}

/** Thrown inside a session to make the run loop rebuild it. */
class Rebuild extends Error {}

export function createOpcuaSource(cfg: OpcuaSourceConfig, ctx: SourceContext): Source {
  quietNodeOpcua(ctx.log);
  const log = ctx.log.child({ driver: 'opcua' }) // the pipeline's child logger already carries stage and source;
  const state: State = { phase: 'connecting', reason: `connecting to ${cfg.endpoint}`, badTags: new Map(), lastActivity: 0, connectedAt: 0, repairs: 0, rebuilds: 0 };

  const send = (samples: Sample[]): void => {
    if (samples.length === 0) return;
    ctx.stageMetrics.received(samples.length);
    // drop policies never wait; under `block` a notification that finds the channel full is dropped and counted
    if (ctx.out.trySend({ source: cfg.id, samples, receivedAt: Date.now() })) ctx.stageMetrics.sent(samples.length);
    else ctx.stageMetrics.dropped(samples.length, 'channel-full');
  };

  const markBad = (bad: { tag: OpcuaTag; reason: string }[]): void => {
    const now = Date.now();
    for (const b of bad) {
      if (!state.badTags.has(b.tag.name)) log.warn({ tag: b.tag.name, reason: b.reason, code: 'FG_E_OPCUA_NODE' }, `tag ${b.tag.name} cannot be read: ${b.reason}`);
      state.badTags.set(b.tag.name, b.reason);
      ctx.stageMetrics.error('FG_E_OPCUA_NODE');
    }
    send(bad.map((b) => badSample(cfg.id, b.tag.name, b.reason, now)));
  };

  // arrays become one sample per element; a cut by maxArrayLength is logged once per tag and counted
  const truncatedTags = new Set<string>();
  const shaper = new SampleShaper(cfg.id, (tag, length, max) => {
    if (truncatedTags.has(tag)) return;
    truncatedTags.add(tag);
    log.warn({ tag, length, maxArrayLength: max }, `tag ${tag}: array of ${length} elements cut to the first ${max} (maxArrayLength); the rest are dropped and counted, logged once per tag`);
  });
  const maxArrayLengthOf = (t: OpcuaTag): number => t.maxArrayLength ?? cfg.maxArrayLength;
  /** counts the elements the cap dropped in this batch, once per batch */
  const countTruncated = (before: number): void => {
    if (shaper.truncated > before) ctx.stageMetrics.dropped(shaper.truncated - before, 'array-cap');
  };

  const activity = (): void => {
    state.lastActivity = Date.now();
    ctx.heartbeat();
  };

  async function runSubscription(conn: Connection, tags: ResolvedTag[], signal: AbortSignal): Promise<void> {
    const { session, client } = conn;
    const keepAliveCount = Math.max(1, Math.ceil(cfg.keepAliveInterval / cfg.publishingInterval));
    // a lifetime of at least a minute lets the server keep the subscription for a transfer after an outage
    const lifetimeCount = Math.max(keepAliveCount * 3, Math.ceil(60_000 / cfg.publishingInterval));
    const subscription: ClientSubscription = await raceAbort(session.createSubscription2({
      requestedPublishingInterval: cfg.publishingInterval,
      requestedMaxKeepAliveCount: keepAliveCount,
      requestedLifetimeCount: lifetimeCount,
      maxNotificationsPerPublish: cfg.maxNotificationsPerPublish,
      publishingEnabled: true,
      priority: 10,
    }), signal);
    state.subscriptionId = subscription.subscriptionId;
    const tagOfHandle = new Map<number, OpcuaTag>();
    const tagOfNodeId = new Map(tags.map((t) => [t.nodeId.toString(), t.tag]));
    const handleTag = (h: number): OpcuaTag | undefined => {
      let t = tagOfHandle.get(h);
      if (t === undefined) {
        // a notification can beat the CreateMonitoredItems response: fall back to the item's NodeId
        const item = subscription.monitoredItems[h];
        t = item ? tagOfNodeId.get(item.itemToMonitor.nodeId.toString()) : undefined;
        if (t !== undefined) tagOfHandle.set(h, t);
      }
      return t;
    };
    const onMessage = (msg: NotificationMessage): void => {
      activity();
      const data = msg.notificationData;
      if (!data || data.length === 0) return; // keep-alive
      const now = Date.now();
      const samples: Sample[] = [];
      const truncated = shaper.truncated;
      for (const n of data) {
        const items = (n as DataChangeNotification).monitoredItems;
        if (!items) continue;
        for (const it of items) {
          const tag = handleTag(it.clientHandle);
          if (tag !== undefined) shaper.push(samples, tag.name, it.value, now, maxArrayLengthOf(tag));
        }
      }
      countTruncated(truncated);
      send(samples); // one batch per notification message
    };
    subscription.on('raw_notification', onMessage);
    subscription.on('status_changed', (status) => log.warn({ code: 'FG_E_OPCUA_SESSION' }, `subscription status: ${status.name}`));
    const onLost = () => {
      state.phase = 'reconnecting';
      state.reason = `connection to ${cfg.endpoint} lost; reconnecting`;
      log.warn({ code: 'FG_E_OPCUA_SESSION' }, state.reason);
      ctx.stageMetrics.error('FG_E_OPCUA_SESSION');
    };
    const onBack = () => {
      state.repairs++;
      state.phase = 'running';
      state.reason = '';
      log.info(`connection to ${cfg.endpoint} re-established`);
    };
    client.on('connection_lost', onLost);
    client.on('connection_reestablished', onBack);
    try {
      await createItems(subscription, tags, tagOfHandle, signal);
      state.phase = 'running';
      state.reason = '';
      log.info({ items: tags.length, subscriptionId: subscription.subscriptionId }, `subscribed to ${tags.length} items`);
      await watch(signal, () => {
        state.subscriptionId = subscription.subscriptionId;
      });
    } finally {
      subscription.removeListener('raw_notification', onMessage);
      client.removeListener('connection_lost', onLost);
      client.removeListener('connection_reestablished', onBack);
    }
  }

  function paramsOf(t: OpcuaTag): MonitoringParametersOptions {
    const db = t.deadband ?? cfg.deadband;
    return {
      samplingInterval: t.samplingInterval ?? cfg.samplingInterval,
      queueSize: t.queueSize ?? cfg.queueSize,
      discardOldest: cfg.discardOldest,
      filter: db
        ? new DataChangeFilter({
          trigger: DataChangeTrigger.StatusValue,
          deadbandType: db.type === 'absolute' ? DeadbandType.Absolute : DeadbandType.Percent,
          deadbandValue: db.value,
        })
        : null,
    };
  }

  /** One CreateMonitoredItems call per chunk of tags that share their parameters. */
  async function createItems(subscription: ClientSubscription, tags: ResolvedTag[], tagOfHandle: Map<number, OpcuaTag>, signal: AbortSignal): Promise<void> {
    const groups = new Map<string, ResolvedTag[]>();
    for (const t of tags) {
      const key = JSON.stringify([t.tag.samplingInterval, t.tag.queueSize, t.tag.deadband]);
      let g = groups.get(key);
      if (!g) groups.set(key, (g = []));
      g.push(t);
    }
    for (const g of groups.values()) {
      const params = paramsOf(g[0]!.tag);
      for (let i = 0; i < g.length; i += cfg.chunkSize) {
        if (signal.aborted) return;
        const chunk = g.slice(i, i + cfg.chunkSize);
        const group = await raceAbort(subscription.monitorItems(readValueIds(chunk), params, TimestampsToReturn.Both), signal);
        const bad: { tag: OpcuaTag; reason: string }[] = [];
        group.monitoredItems.forEach((item, k) => {
          const tag = chunk[k]!.tag;
          if (item.statusCode.isGood()) {
            tagOfHandle.set(item.monitoringParameters.clientHandle, tag);
            state.badTags.delete(tag.name);
          } else bad.push({ tag, reason: item.statusCode.name });
        });
        markBad(bad);
      }
    }
  }

  /** Waits until abort; throws Rebuild when neither data nor keep-alive arrived for 3 keep-alive intervals. */
  async function watch(signal: AbortSignal, tick: () => void): Promise<void> {
    const staleAfter = 3 * cfg.keepAliveInterval;
    state.lastActivity = Date.now();
    while (!signal.aborted) {
      await sleep(Math.min(1_000, cfg.keepAliveInterval / 2), signal).catch(() => {});
      if (signal.aborted) return;
      tick();
      const silent = Date.now() - state.lastActivity;
      if (silent > staleAfter) {
        throw new Rebuild(`no notification or keep-alive from ${cfg.endpoint} for ${Math.round(silent / 1000)} s; rebuilding session and subscription`);
      }
      // the repair may be in progress; let the supervisor know the loop itself is alive
      if (state.phase === 'reconnecting') ctx.heartbeat();
    }
  }

  async function runPolling(conn: Connection, tags: ResolvedTag[], signal: AbortSignal): Promise<void> {
    const nodes = readValueIds(tags);
    // polling has no subscription to transfer: a lost connection simply starts a fresh session
    const lost = new AbortController();
    const onLost = () => lost.abort(new Rebuild(`connection to ${cfg.endpoint} lost; reconnecting`));
    conn.client.on('connection_lost', onLost);
    const both = AbortSignal.any([signal, lost.signal]);
    state.phase = 'running';
    state.reason = '';
    log.info({ items: tags.length }, `polling ${tags.length} items every ${cfg.pollInterval} ms`);
    try {
      let next = performance.now();
      while (!signal.aborted) {
        if (lost.signal.aborted) throw lost.signal.reason;
        const now = Date.now();
        const samples: Sample[] = [];
        const truncated = shaper.truncated;
        for (let i = 0; i < nodes.length; i += cfg.chunkSize) {
          const read = conn.session.read(nodes.slice(i, i + cfg.chunkSize), 0);
          const values = await raceAbort(read, AbortSignal.any([both, AbortSignal.timeout(cfg.requestTimeout)]));
          values.forEach((dv, k) => {
            const tag = tags[i + k]!.tag;
            shaper.push(samples, tag.name, dv, now, maxArrayLengthOf(tag));
          });
        }
        countTruncated(truncated);
        send(samples); // one batch per poll
        activity();
        next += cfg.pollInterval;
        const wait = next - performance.now();
        if (wait < 0) {
          // the poll took longer than its interval: start the next one now, count the miss
          ctx.stageMetrics.error('FG_E_DEADLINE');
          next = performance.now();
        }
        await sleep(Math.max(0, wait), both).catch(() => {});
      }
    } finally {
      conn.client.removeListener('connection_lost', onLost);
    }
  }

  async function session(pki: PkiLease, signal: AbortSignal): Promise<void> {
    const conn = await openConnection(cfg, pki, ctx.resolvePath, signal);
    state.serverThumbprint = conn.serverThumbprint;
    state.connectedAt = Date.now();
    try {
      const { ok, bad } = await raceAbort(resolveTags(conn.session, cfg.tags, cfg.chunkSize), signal);
      markBad(bad);
      activity();
      if (cfg.mode === 'polling') await runPolling(conn, ok, signal);
      else await runSubscription(conn, ok, signal);
    } finally {
      await conn.close();
    }
  }

  return {
    async run(signal: AbortSignal): Promise<void> {
      const pki = await leaseClientPki(ctx.gateway.dataDir);
      const backoff = new Backoff({ initialMs: cfg.reconnect.initialDelay, maxMs: cfg.reconnect.maxDelay });
      let lastError = '';
      try {
        while (!signal.aborted) {
          ctx.heartbeat();
          try {
            await session(pki, signal);
          } catch (e) {
            if (signal.aborted) break;
            const code = e instanceof Rebuild ? 'FG_E_OPCUA_SESSION' : errorCode(e);
            const msg = e instanceof Rebuild ? e.message : errorMessage(e);
            ctx.stageMetrics.error(code);
            state.phase = 'connecting';
            state.reason = `${code}: ${firstLine(msg)}`;
            if (e instanceof Rebuild) state.rebuilds++;
            // the same failure every few seconds is logged once at warn, then at debug
            if (msg !== lastError) log.warn({ code }, msg);
            else log.debug({ code }, msg);
            lastError = msg;
            if (state.connectedAt > 0 && Date.now() - state.connectedAt > 60_000) backoff.reset();
          }
          await sleep(backoff.next(), signal).catch(() => {});
        }
      } finally {
        state.phase = 'connecting';
        state.reason = 'stopped';
        await pki.release();
      }
    },

    probe(): ProbeResult {
      const details = {
        endpoint: cfg.endpoint,
        mode: cfg.mode,
        tags: cfg.tags.length,
        badTags: Object.fromEntries(state.badTags),
        lastActivityAgeMs: state.lastActivity ? Date.now() - state.lastActivity : null,
        repairs: state.repairs,
        rebuilds: state.rebuilds,
        arrayElementsDropped: shaper.truncated,
        subscriptionId: state.subscriptionId ?? null,
        serverThumbprint: state.serverThumbprint ?? null,
      };
      if (state.phase === 'connecting') return { state: 'down', reason: state.reason, details };
      if (state.phase === 'reconnecting') return { state: 'degraded', reason: state.reason, details };
      if (state.badTags.size > 0) {
        const [first, why] = state.badTags.entries().next().value!;
        return { state: 'degraded', reason: `${state.badTags.size} of ${cfg.tags.length} tags bad (${first}: ${why})`, details };
      }
      return { state: 'up', details };
    },
  };
}

