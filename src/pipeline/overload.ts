import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../log.ts';
import type { LoadReporter, OverloadControl, SinkLoad } from '../core/contracts.ts';

/**
 * Overload: a sink that is connected and acking but cannot keep up with ingestion. Without a rule
 * its backlog (and so the latency of every record) would grow until a byte bound is hit. The rule
 * (README "Overload"): while such a sink's lag passes its `shedAt`, sources keep only a share of
 * their polls (skipped polls are counted as `fieldgate_source_overruns_total{reason="shed"}`) so
 * that ingestion falls to what the slowest such sink delivers. A sink whose upstream is down or
 * does not confirm is NOT overloaded: store-and-forward keeps everything for it (its maxLag and
 * whenBehind apply), and sources poll on.
 */

/** ticks per second of the controller */
export const TICK_MS = 250;
/** rates are measured over this many ticks (1 s): one tick is too noisy with a window of chunks in flight */
const RATE_TICKS = 4;
/** a connected sink with a backlog and no confirmation for this long is stalled, not slow: it never sheds */
export const STALLED_MS = 5_000;
/** sources keep at least this share of their polls, whatever the sinks do */
export const MIN_SHARE = 1 / 32;
/** ingestion is cut to this share of what the slowest overloaded sink delivers, so its backlog drains */
const DRAIN_MARGIN = 0.8;
/** the cut for a queue whose lag stays above shedAt (the router's wait before the outbox) */
const QUEUE_CUT = 0.7;
/** delivery over ingestion above this is not taken as falling behind (unless the lag reaches twice shedAt) */
const NOISE = 0.95;
/** per tick below the resume mark the share grows by this factor (1/32 -> 1 in ~4 s, 0.5 -> 1 in ~1 s) */
const RECOVER = 1.25;

interface Track {
  /** ring of [time, acked, acked + backlog, lag] over the last RATE_TICKS ticks */
  at: number[];
  acked: number[];
  end: number[];
  lag: number[];
  over: boolean;
}

export interface Decision {
  share: number;
  /** sinks that are overloaded now (lag above shedAt and delivering less than is ingested) */
  over: string[];
  /** the slowest overloaded sink's delivery over ingestion in the last second */
  ratio?: number;
}

/**
 * Decides the share of polls sources keep, from the sinks' reports, once per tick. Pure apart
 * from the reports it is given; the timer, metric, log and event are the governor's.
 */
export class ShedController {
  share = 1;
  private readonly tracks = new Map<string, Track>();
  /** when the share was last cut: the next cut waits until the rates measure the new share only */
  private cutAt = -Infinity;

  step(now: number, reports: readonly SinkLoad[]): Decision {
    const seen = new Set<string>();
    let cut = Infinity; // the lowest delivery/ingest ratio among sinks over their bound
    let anyAbove = false; // some eligible sink is still above its resume mark
    const over: string[] = [];
    for (const r of reports) {
      seen.add(r.sink);
      let t = this.tracks.get(r.sink);
      if (!t) this.tracks.set(r.sink, (t = { at: [], acked: [], end: [], lag: [], over: false }));
      t.at.push(now);
      t.acked.push(r.acked);
      t.end.push(r.acked + r.backlog);
      t.lag.push(r.lagMs);
      if (t.at.length > RATE_TICKS + 1) {
        t.at.shift();
        t.acked.shift();
        t.end.shift();
        t.lag.shift();
      }
      if (r.shedAt <= 0) continue;
      // a sink that has work and no confirmation for a while is stalled (its upstream is as good as
      // down): the outbox keeps its records, the sources do not pay for it
      if (r.backlog > 0 && now - r.lastAckAt > STALLED_MS) {
        t.over = false;
        continue;
      }
      // hysteresis: over above shedAt, still over until the lag is below half of it
      t.over = r.lagMs > r.shedAt || (t.over && r.lagMs > r.shedAt / 2);
      if (!t.over) continue;
      anyAbove = true;
      const n = t.at.length - 1;
      if (n < 1) continue;
      const delivered = t.acked[n]! - t.acked[0]!;
      const ingested = t.end[n]! - t.end[0]!;
      if (ingested > 0 && delivered < ingested && (delivered <= ingested * NOISE || r.lagMs >= 2 * r.shedAt)) {
        over.push(r.sink);
        cut = Math.min(cut, delivered / ingested);
        continue;
      }
      // a queue in front of a full bounded channel: in = out, so only its lag tells; one that does
      // not fall by a quarter second a second is cut by a fixed step
      const seconds = (t.at[n]! - t.at[0]!) / 1000;
      if (r.queue && r.lagMs > r.shedAt && t.lag[0]! - r.lagMs < 0.25 * seconds * 1000) {
        over.push(r.sink);
        cut = Math.min(cut, QUEUE_CUT / DRAIN_MARGIN);
      }
      // otherwise delivering as fast as records come in (a sink's backlog after an outage
      // draining; a few percent short is noise, chunks in flight): no cut, just hold
    }
    for (const k of this.tracks.keys()) if (!seen.has(k)) this.tracks.delete(k);
    if (over.length > 0) {
      // ingestion scales with the share: what comes in next is `ratio` of today's, times the margin
      if (now - this.cutAt >= RATE_TICKS * TICK_MS) {
        this.share = Math.max(MIN_SHARE, Math.min(this.share, this.share * cut * DRAIN_MARGIN));
        this.cutAt = now;
      }
      return { share: this.share, over, ratio: cut };
    }
    if (!anyAbove && this.share < 1) this.share = Math.min(1, this.share * RECOVER);
    return { share: this.share, over };
  }
}

export interface OverloadOptions {
  registry: Registry;
  log: Logger;
  /** a state change (shedding started or ended), sent upstream as a gateway event */
  onChange?(shedding: boolean, d: Decision): void;
}

/**
 * The pipeline's one overload governor: sinks register while they run, sources ask it per poll.
 * The timer runs only while a sink is registered (nothing is left behind after stop()).
 */
export class OverloadGovernor implements OverloadControl {
  private readonly sinks = new Set<LoadReporter>();
  private readonly ctl = new ShedController();
  private timer?: NodeJS.Timeout;
  private shedding = false;
  private readonly gShare: Gauge;

  constructor(private readonly opts: OverloadOptions) {
    this.gShare = new Gauge({
      name: 'fieldgate_overload_poll_share',
      help: 'Share of their polls the sources keep (1: no shedding; below 1 while a connected sink lags past its shedAt)',
      registers: [opts.registry],
    });
    this.gShare.set(1);
  }

  /** share of polls kept now (1 = no shedding) */
  get share(): number {
    return this.ctl.share;
  }

  /** Registers a running sink; the returned function unregisters it. */
  register(sink: LoadReporter): () => void {
    this.sinks.add(sink);
    this.timer ??= setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
    return () => {
      this.sinks.delete(sink);
      if (this.sinks.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
        this.ctl.share = 1;
        this.gShare.set(1);
        this.setShedding(false, { share: 1, over: [] });
      }
    };
  }

  /**
   * A poll gate: each call says whether this tick of the poller should be polled. With share s,
   * s of the ticks poll, spread evenly (a credit per gate, so a source never skips in a burst).
   */
  gate(): () => boolean {
    let credit = 0;
    return () => {
      const s = this.ctl.share;
      if (s >= 1) {
        credit = 0;
        return true;
      }
      credit += s;
      if (credit < 1 - 1e-9) return false;
      credit = Math.min(1, credit - 1);
      return true;
    };
  }

  tick(now = performance.now()): Decision {
    const reports: SinkLoad[] = [];
    for (const s of this.sinks) {
      const r = s.overloadReport();
      if (r) reports.push(r);
    }
    const d = this.ctl.step(now, reports);
    this.gShare.set(d.share);
    this.setShedding(d.share < 1, d);
    return d;
  }

  private setShedding(on: boolean, d: Decision): void {
    if (on === this.shedding) return;
    this.shedding = on;
    // a state change, at most one per hysteresis cycle: logged as it happens
    if (on) this.opts.log.warn({ code: 'FG_E_OVERLOAD', share: round(d.share), sinks: d.over, ratio: d.ratio && round(d.ratio) }, 'sinks cannot keep up with ingestion while connected: sources shed polls (counted as overruns, reason shed)');
    else this.opts.log.info({}, 'sinks keep up again: sources poll at their configured interval');
    this.opts.onChange?.(on, d);
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
