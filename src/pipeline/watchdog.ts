import { Counter } from 'prom-client';
import type { Metrics } from '../core/metrics.ts';
import type { Supervisor } from '../core/supervisor.ts';
import type { Logger } from '../log.ts';

/** A source as the watchdog sees it (SourceStage fits). */
export interface Watched {
  readonly name: string;
  /** ms since epoch of the last completed poll or notification */
  readonly lastHeartbeat: number;
  readonly supervisor: Supervisor;
}

export interface WatchdogOptions {
  /** the current sources (changes on reload) */
  sources: () => readonly Watched[];
  /** a running source silent for longer than this is restarted */
  timeoutMs: number;
  log: Logger;
  metrics?: Metrics;
  /** called after each restart, for the events ring */
  onRestart?: (name: string, silentMs: number) => void;
  now?: () => number;
}

/**
 * Restarts, through its supervisor, a source whose heartbeat stopped: a driver wedged in a read
 * that never returns, a subscription that silently died. The silence is measured from the later
 * of the last heartbeat and the supervisor's last state change, so a source that was just
 * (re)started gets a full timeout before it is judged. One timer for every source.
 */
export class Watchdog {
  private timer?: NodeJS.Timeout;
  private readonly counts = new Map<string, number>();
  /** a driver that ignores its abort signal stays 'running': restart it at most once per timeout */
  private readonly lastRestart = new Map<string, number>();
  private readonly counter?: Counter<'stage'>;
  private readonly now: () => number;

  constructor(private readonly opts: WatchdogOptions) {
    this.now = opts.now ?? Date.now;
    if (opts.metrics) {
      const name = 'fieldgate_watchdog_restarts_total';
      this.counter = (opts.metrics.registry.getSingleMetric(name) as Counter<'stage'> | undefined) ?? new Counter({
        name, help: 'Sources restarted by the watchdog because their heartbeat stopped', labelNames: ['stage'],
        registers: [opts.metrics.registry],
      });
    }
  }

  /** how often the sources are checked: a quarter of the timeout, between 100 ms and 5 s */
  get checkEveryMs(): number {
    return Math.min(5_000, Math.max(100, Math.floor(this.opts.timeoutMs / 4)));
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.check(), this.checkEveryMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** restarts made for one source (or all) since start */
  restarts(name?: string): number {
    if (name !== undefined) return this.counts.get(name) ?? 0;
    let n = 0;
    for (const c of this.counts.values()) n += c;
    return n;
  }

  /** Restarts the sources that are silent past the timeout; returns their names. */
  check(): string[] {
    const now = this.now();
    const restarted: string[] = [];
    for (const s of this.opts.sources()) {
      const st = s.supervisor.status();
      if (st.state !== 'running') continue;
      const silentMs = now - Math.max(s.lastHeartbeat, st.since, this.lastRestart.get(s.name) ?? 0);
      if (silentMs <= this.opts.timeoutMs) continue;
      this.lastRestart.set(s.name, now);
      this.counts.set(s.name, (this.counts.get(s.name) ?? 0) + 1);
      this.counter?.labels(s.name).inc();
      this.opts.log.warn(
        { stage: s.name, silentMs, timeoutMs: this.opts.timeoutMs, restarts: this.counts.get(s.name) },
        'watchdog: no heartbeat from source; restarting it',
      );
      s.supervisor.restart(`watchdog: no heartbeat for ${Math.round(silentMs / 1000)} s`);
      restarted.push(s.name);
      this.opts.onRestart?.(s.name, silentMs);
    }
    return restarted;
  }
}
