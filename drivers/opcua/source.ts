import {
  DataChangeFilter,
  type ClientMonitoredItemGroup,
  DataChangeTrigger,
  DeadbandType,
  TimestampsToReturn,
  type ClientSubscription,
  type DataChangeNotification,
  type DataValue,
  type MonitoringParametersOptions,
  type NotificationMessage,
} from 'node-opcua-client';
import { Backoff, sleep } from '../../src/core/backoff.ts';
import { errorCode, errorMessage } from '../../src/core/errors.ts';
import type { ProbeResult } from '../../src/core/probe.ts';
import type { Sample } from '../../src/core/sample.ts';
import type { Source, SourceContext } from '../../src/core/contracts.ts';
import type { OpcuaSourceConfig, OpcuaTag } from './config.ts';
import { firstLine, openConnection, type Connection } from './connect.ts';
import { leaseClientPki, type PkiLease } from './pki.ts';
import { EarlyValues } from './early.ts';
import { quietNodeOpcua } from './quiet.ts';
import { identityChange, identityFrom, identityReadIds, namespacesOf, readServerIdentity, sameIdentity, startTimeOf, type ServerIdentity } from './server-identity.ts';
import { readValueIds, resolveTags, type ResolvedTag, type Resolution } from './tags.ts';
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

/** One CreateMonitoredItems call's items and the tags they were created for. */
interface Monitored {
  group: ClientMonitoredItemGroup;
  tags: ResolvedTag[];
}

/** Notification messages held at most while a reconnect is checked (the oldest go first, counted). */
const HOLD_MAX = 1024;
/** Values kept at most for items whose CreateMonitoredItems response is still to come (more are dropped, counted). */
const EARLY_MAX = 65_536;

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

  /** NodeId each tag resolved to last (any session): a change is logged and counted as a move */
  const lastNodeIds = new Map<string, string>();
  /**
   * Takes a fresh resolution: unresolved tags turn bad (logged once, counted), resolved ones
   * leave the bad list in polling mode (subscriptions clear them when their item is created),
   * and tags that now resolve to another NodeId than last time are logged at warn and counted.
   */
  const takeResolution = (res: Resolution, what: string, after: string): ResolvedTag[] => {
    markBad(res.bad);
    if (cfg.mode === 'polling') for (const t of res.ok) state.badTags.delete(t.tag.name);
    const moved = res.ok.filter((t) => {
      const before = lastNodeIds.get(t.tag.name);
      return before !== undefined && before !== t.nodeId.toString();
    });
    for (const t of res.ok) lastNodeIds.set(t.tag.name, t.nodeId.toString());
    if (moved.length > 0) {
      ctx.stageMetrics.error('FG_E_OPCUA_NODE_MOVED');
      log.warn({ code: 'FG_E_OPCUA_NODE_MOVED', moved: moved.slice(0, 20).map((t) => `${t.tag.name}: ${t.nodeId.toString()}`), unresolved: res.bad.length },
        `${cfg.endpoint} (${what}): ${moved.length} tag(s) now resolve to other NodeIds and ${res.bad.length} do not resolve; ${after}`);
    } else if (what) log.info(`${cfg.endpoint} (${what}): ${res.ok.length} tag(s) resolve to the same NodeIds as before, ${res.bad.length} do not resolve`);
    return moved;
  };

  const activity = (): void => {
    state.lastActivity = Date.now();
    ctx.heartbeat();
  };

  async function runSubscription(conn: Connection, first: Resolution, identityAtStart: ServerIdentity, signal: AbortSignal): Promise<void> {
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
    // what the NodeIds were resolved against; a change means they may name other variables now
    let identity = identityAtStart;
    let sessionId = session.sessionId.toString();
    /** null: an item that no longer means its tag (its NodeId moved); its notifications are ignored */
    const tagOfHandle = new Map<number, OpcuaTag | null>();
    const identityHandles = new Map<number, 'namespaces' | 'startTime'>();
    /** values that beat their item's CreateMonitoredItems response: delivered once the handle is known */
    const early = new EarlyValues(EARLY_MAX);
    const monitored: Monitored[] = [];
    /** notifications held from a connection loss until the NodeIds are vouched for again */
    let held: NotificationMessage[] | null = null;
    let check: string | null = null;
    /** connection losses so far: a check that saw another loss start meanwhile must not release */
    let losses = 0;
    let wake = new AbortController();
    const requestCheck = (why: string): void => {
      check ??= why;
      wake.abort();
    };
    /** true when a value of an identity item shows another start time or namespace array than the NodeIds were resolved against */
    const identityValueMoved = (handle: number, value: DataValue): boolean => {
      const which = identityHandles.get(handle);
      if (which === 'namespaces') {
        const ns = namespacesOf(value);
        return ns !== undefined && ns.join('\n') !== identity.namespaces.join('\n');
      }
      if (which === 'startTime') {
        const t = startTimeOf(value);
        return t !== undefined && t !== identity.startTime;
      }
      return false;
    };
    const identityMoved = (data: NotificationMessage['notificationData']): boolean => {
      for (const n of data ?? []) {
        for (const it of (n as DataChangeNotification).monitoredItems ?? []) {
          if (identityValueMoved(it.clientHandle, it.value)) return true;
        }
      }
      return false;
    };
    const deliver = (msg: NotificationMessage): void => {
      const now = Date.now();
      const samples: Sample[] = [];
      const truncated = shaper.truncated;
      for (const n of msg.notificationData ?? []) {
        const items = (n as DataChangeNotification).monitoredItems;
        if (!items) continue;
        for (const it of items) {
          if (identityHandles.has(it.clientHandle)) continue;
          const tag = tagOfHandle.get(it.clientHandle);
          if (tag) shaper.push(samples, tag.name, it.value, now, maxArrayLengthOf(tag));
          else if (tag === undefined && subscription.monitoredItems[it.clientHandle] !== undefined) {
            // an item of ours whose CreateMonitoredItems response is still to come
            if (!early.keep(it.clientHandle, it.value)) ctx.stageMetrics.dropped(1, 'early-overflow');
          }
        }
      }
      countTruncated(truncated);
      send(samples); // one batch per notification message
    };
    const hold = (msg: NotificationMessage): void => {
      held!.push(msg);
      if (held!.length > HOLD_MAX) {
        const dropped = held!.shift()!;
        let n = 0;
        for (const d of dropped.notificationData ?? []) n += (d as DataChangeNotification).monitoredItems?.length ?? 0;
        ctx.stageMetrics.dropped(n, 'oldest');
      }
    };
    const onMessage = (msg: NotificationMessage): void => {
      activity();
      const data = msg.notificationData;
      if (!data || data.length === 0) return; // keep-alive
      if (held === null && identityMoved(data)) {
        held = [];
        requestCheck(`the server's start time or namespace array changed`);
      }
      if (held !== null) hold(msg);
      else deliver(msg);
    };
    subscription.on('raw_notification', onMessage);
    subscription.on('status_changed', (status) => log.warn({ code: 'FG_E_OPCUA_SESSION' }, `subscription status: ${status.name}`));
    const onLost = () => {
      // from here until the NodeIds are checked again, nothing is delivered: a restarted server may
      // have given our NodeIds to other variables, and node-opcua recreates the items before we can look
      held ??= [];
      losses++;
      state.phase = 'reconnecting';
      state.reason = `connection to ${cfg.endpoint} lost; reconnecting`;
      log.warn({ code: 'FG_E_OPCUA_SESSION' }, state.reason);
      ctx.stageMetrics.error('FG_E_OPCUA_SESSION');
    };
    const onBack = () => {
      state.repairs++;
      state.reason = `connection to ${cfg.endpoint} re-established; checking NodeIds`;
      log.info(`connection to ${cfg.endpoint} re-established`);
      requestCheck('reconnect');
    };
    client.on('connection_lost', onLost);
    client.on('connection_reestablished', onBack);

    /**
     * Called as soon as a CreateMonitoredItems response is processed (handles registered): values
     * that arrived before it are delivered now, in one batch, and an identity item's early value is
     * compared like any other. They had passed the hold already when they arrived.
     */
    const claimEarly = (group: ClientMonitoredItemGroup): void => {
      const kept = early.take(group.monitoredItems.map((item) => item.monitoringParameters.clientHandle));
      if (kept.size === 0) return;
      const now = Date.now();
      const samples: Sample[] = [];
      const truncated = shaper.truncated;
      let moved = false;
      for (const [h, values] of kept) {
        const tag = tagOfHandle.get(h);
        for (const v of values) {
          if (identityHandles.has(h)) moved ||= identityValueMoved(h, v);
          else if (tag) shaper.push(samples, tag.name, v, now, maxArrayLengthOf(tag));
        }
      }
      countTruncated(truncated);
      send(samples);
      if (moved && held === null) {
        held = [];
        requestCheck(`the server's start time or namespace array changed`);
      }
    };

    const release = (): void => {
      const msgs = held ?? [];
      held = null;
      for (const m of msgs) deliver(m);
      if (state.phase !== 'running') {
        state.phase = 'running';
        state.reason = '';
      }
    };

    /**
     * After a reconnect or a changed start time / namespace array: if the session is new or the
     * server is not the one we resolved against, resolve every tag again and recreate the items
     * whose NodeId changed (their groups, as created). Held notifications of items that moved are
     * dropped, the rest delivered.
     */
    const verify = async (why: string): Promise<void> => {
      const timed = () => AbortSignal.any([signal, AbortSignal.timeout(cfg.requestTimeout)]);
      const lossesBefore = losses;
      const now = await raceAbort(readServerIdentity(session, cfg.endpoint), timed());
      const newSession = session.sessionId.toString() !== sessionId;
      const change = identityChange(identity, now);
      sessionId = session.sessionId.toString();
      if (!newSession && !change) {
        if (losses === lossesBefore) release(); // else the next reconnect checks again
        return;
      }
      identity = now;
      const res = await raceAbort(resolveTags(session, cfg.tags, cfg.chunkSize, now.namespaces), timed());
      const resolved = new Map(res.ok.map((r) => [r.tag.name, r]));
      const stale = monitored.filter((m) => m.tags.some((r) => resolved.get(r.tag.name)?.nodeId.toString() !== r.nodeId.toString()));
      const inGroups = new Set(monitored.flatMap((m) => m.tags.map((r) => r.tag.name)));
      const toCreate = [
        ...stale.flatMap((m) => m.tags.map((r) => resolved.get(r.tag.name))),
        ...res.ok.filter((r) => !inGroups.has(r.tag.name)),
      ].filter((r): r is ResolvedTag => r !== undefined);
      for (const m of stale) {
        for (const item of m.group.monitoredItems) tagOfHandle.set(item.monitoringParameters.clientHandle, null);
        monitored.splice(monitored.indexOf(m), 1);
      }
      if (losses === lossesBefore) release();
      const what = [newSession ? `new session after ${why}` : why, change].filter(Boolean).join(', ');
      takeResolution(res, what, `recreating ${toCreate.length} monitored item(s); values held meanwhile from moved items were dropped`);
      for (const m of stale) {
        const handles = m.group.monitoredItems.map((item) => item.monitoringParameters.clientHandle);
        try {
          await raceAbort(m.group.terminate(), timed());
          // gone from the subscription too, so the handles can be forgotten (a late notification finds no item)
          for (const h of handles) tagOfHandle.delete(h);
        } catch (e) {
          if (signal.aborted) return;
          log.debug({ err: firstLine(e) }, 'deleting moved monitored items failed; their notifications stay ignored');
        }
      }
      await createItems(subscription, toCreate, tagOfHandle, monitored, claimEarly, signal);
    };

    try {
      await monitorIdentity(subscription, identityHandles, claimEarly, signal);
      await createItems(subscription, first.ok, tagOfHandle, monitored, claimEarly, signal);
      state.phase = 'running';
      state.reason = '';
      log.info({ items: first.ok.length, subscriptionId: subscription.subscriptionId }, `subscribed to ${first.ok.length} items`);
      await watch(signal, () => wake.signal, async () => {
        state.subscriptionId = subscription.subscriptionId;
        if (check === null) return;
        const why = check;
        check = null;
        wake = new AbortController();
        try {
          await verify(why);
        } catch (e) {
          if (signal.aborted) return;
          throw new Rebuild(`checking NodeIds after ${why} failed: ${firstLine(e)}; rebuilding session and subscription`);
        }
      });
    } finally {
      subscription.removeListener('raw_notification', onMessage);
      client.removeListener('connection_lost', onLost);
      client.removeListener('connection_reestablished', onBack);
    }
  }

  /** Watches the server's NamespaceArray and StartTime, so a change is noticed without a reconnect. */
  async function monitorIdentity(
    subscription: ClientSubscription, handles: Map<number, 'namespaces' | 'startTime'>, created: (group: ClientMonitoredItemGroup) => void, signal: AbortSignal,
  ): Promise<void> {
    try {
      const group = await raceAbort(subscription.monitorItems(identityReadIds(), {
        samplingInterval: Math.max(1_000, cfg.publishingInterval), queueSize: 1, discardOldest: true,
      }, TimestampsToReturn.Neither), signal);
      group.monitoredItems.forEach((item, k) => {
        if (item.statusCode.isGood()) handles.set(item.monitoringParameters.clientHandle, k === 0 ? 'namespaces' : 'startTime');
      });
      created(group);
    } catch (e) {
      if (signal.aborted) throw e;
      // reconnects are still checked; only a change without a reconnect would go unnoticed
      log.warn({ code: 'FG_E_OPCUA_NODE' }, `cannot monitor the server's NamespaceArray and StartTime: ${firstLine(e)}`);
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
  async function createItems(
    subscription: ClientSubscription, tags: ResolvedTag[], tagOfHandle: Map<number, OpcuaTag | null>, monitored: Monitored[],
    created: (group: ClientMonitoredItemGroup) => void, signal: AbortSignal,
  ): Promise<void> {
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
        monitored.push({ group, tags: chunk });
        const bad: { tag: OpcuaTag; reason: string }[] = [];
        group.monitoredItems.forEach((item, k) => {
          const tag = chunk[k]!.tag;
          if (item.statusCode.isGood()) {
            tagOfHandle.set(item.monitoringParameters.clientHandle, tag);
            state.badTags.delete(tag.name);
          } else bad.push({ tag, reason: item.statusCode.name });
        });
        created(group);
        markBad(bad);
      }
    }
  }

  /**
   * Waits until abort, running tick every half keep-alive (at most 1 s) or as soon as wakeup()
   * aborts; throws Rebuild when neither data nor keep-alive arrived for 3 keep-alive intervals.
   */
  async function watch(signal: AbortSignal, wakeup: () => AbortSignal, tick: () => Promise<void>): Promise<void> {
    const staleAfter = 3 * cfg.keepAliveInterval;
    state.lastActivity = Date.now();
    while (!signal.aborted) {
      await sleep(Math.min(1_000, cfg.keepAliveInterval / 2), AbortSignal.any([signal, wakeup()])).catch(() => {});
      if (signal.aborted) return;
      await tick();
      const silent = Date.now() - state.lastActivity;
      if (silent > staleAfter) {
        throw new Rebuild(`no notification or keep-alive from ${cfg.endpoint} for ${Math.round(silent / 1000)} s; rebuilding session and subscription`);
      }
      // the repair may be in progress; let the supervisor know the loop itself is alive
      if (state.phase === 'reconnecting') ctx.heartbeat();
    }
  }

  async function runPolling(conn: Connection, first: ResolvedTag[], identityAtStart: ServerIdentity, signal: AbortSignal): Promise<void> {
    let tags = first;
    let nodes = readValueIds(tags);
    let identity = identityAtStart;
    // polling has no subscription to transfer: a lost connection simply starts a fresh session
    const lost = new AbortController();
    const onLost = () => lost.abort(new Rebuild(`connection to ${cfg.endpoint} lost; reconnecting`));
    conn.client.on('connection_lost', onLost);
    const both = AbortSignal.any([signal, lost.signal]);
    state.phase = 'running';
    state.reason = '';
    log.info({ items: tags.length }, `polling ${tags.length} items every ${cfg.pollInterval} ms`);
    // the overload rule: while a connected sink lags, some polls are skipped (evenly spread)
    const admit = ctx.pollGate?.();
    try {
      let next = performance.now();
      while (!signal.aborted) {
        if (lost.signal.aborted) throw lost.signal.reason;
        if (admit && !admit()) {
          ctx.stageMetrics.overrun(1, 'shed');
          activity();
          next += cfg.pollInterval;
          await sleep(Math.max(0, next - performance.now()), both).catch(() => {});
          continue;
        }
        const now = Date.now();
        const samples: Sample[] = [];
        const truncated = shaper.truncated;
        let changed: ServerIdentity | undefined;
        for (let i = 0; i < nodes.length || i === 0; i += cfg.chunkSize) {
          // every Read also reads the namespace array and start time: values read under another
          // numbering than the NodeIds were resolved against are never delivered
          const read = conn.session.read([...identityReadIds(), ...nodes.slice(i, i + cfg.chunkSize)], 0);
          const values = await raceAbort(read, AbortSignal.any([both, AbortSignal.timeout(cfg.requestTimeout)]));
          const seen = identityOrUndefined(values);
          if (seen && !sameIdentity(seen, identity)) {
            changed = seen;
            break;
          }
          values.slice(2).forEach((dv, k) => {
            const tag = tags[i + k]!.tag;
            shaper.push(samples, tag.name, dv, now, maxArrayLengthOf(tag));
          });
        }
        if (changed) {
          const why = identityChange(identity, changed);
          identity = changed;
          const res = await raceAbort(resolveTags(conn.session, cfg.tags, cfg.chunkSize, identity.namespaces), AbortSignal.any([both, AbortSignal.timeout(cfg.requestTimeout)]));
          tags = res.ok;
          nodes = readValueIds(tags);
          takeResolution(res, why, 'the poll read under the old numbering was discarded');
          next = performance.now();
          continue;
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

  /** The identity part of a Read, or undefined when the server did not answer it (then nothing is compared). */
  function identityOrUndefined(values: readonly DataValue[]): ServerIdentity | undefined {
    try {
      return identityFrom(values, cfg.endpoint);
    } catch {
      return undefined;
    }
  }

  async function session(pki: PkiLease, signal: AbortSignal): Promise<void> {
    const conn = await openConnection(cfg, pki, ctx.resolvePath, signal);
    state.serverThumbprint = conn.serverThumbprint;
    state.connectedAt = Date.now();
    try {
      // NodeIds are resolved against this server's namespace array and start time, and checked again on every change
      const identity = await raceAbort(readServerIdentity(conn.session, cfg.endpoint), signal);
      const first = await raceAbort(resolveTags(conn.session, cfg.tags, cfg.chunkSize, identity.namespaces), signal);
      takeResolution(first, lastNodeIds.size > 0 ? 'new session' : '', 'their items are created on the new NodeIds');
      activity();
      if (cfg.mode === 'polling') await runPolling(conn, first.ok, identity, signal);
      else await runSubscription(conn, first, identity, signal);
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

