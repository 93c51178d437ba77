import { errorCode, errorMessage } from '../core/errors.ts';
import type { StageMetrics } from '../core/metrics.ts';
import type { GatewayEvent } from '../core/sample.ts';
import type { Logger } from '../log.ts';
import type { GatewayEventInput, OutboxWriter } from '../core/contracts.ts';

export type { GatewayEventInput } from '../core/contracts.ts';

export interface GatewayEventsOptions {
  /** where events go: the outbox, so every sink delivers them like model events */
  writer: Pick<OutboxWriter, 'writeEvents'>;
  log: Logger;
  /** counts events written (sent) and suppressed (dropped, reason rate-limit) */
  metrics?: StageMetrics;
  /** at most one event per key per interval; the latest one suppressed meanwhile follows at its end */
  minIntervalMs?: number;
  source?: string;
  now?: () => number;
}

interface KeyState {
  lastAt: number;
  /** the newest event held back, written when the interval ends (so the last state always arrives) */
  held?: GatewayEvent;
  suppressed: number;
  timer?: NodeJS.Timeout;
}

/**
 * Gateway events (a stage down or up, a watchdog restart, a reload, the outbox full or healed, a
 * sink behind its bound, alarms) written through the outbox, so they reach every upstream in
 * order with the data. Rate-limited per key: a flapping device yields one event per interval,
 * and the latest state is never lost (it is written when the interval ends, with the number of
 * events it stands for). `stop()` writes what is held and clears every timer.
 */
export class GatewayEvents {
  private readonly keys = new Map<string, KeyState>();
  private readonly minInterval: number;
  private readonly source: string;
  private readonly now: () => number;
  private stopped = false;
  private lastErrorLog = 0;
  private written = 0;
  private dropped = 0;

  constructor(private readonly opts: GatewayEventsOptions) {
    this.minInterval = opts.minIntervalMs ?? 10_000;
    this.source = opts.source ?? 'gateway';
    this.now = opts.now ?? Date.now;
  }

  /** Writes the event now, or holds it until its key's interval ends; returns whether it was written now. */
  emit(input: GatewayEventInput): boolean {
    if (this.stopped) return false;
    const now = this.now();
    const ev: GatewayEvent = { source: input.source ?? this.source, kind: input.kind, ts: now, severity: input.severity, message: input.message };
    if (input.data) ev.data = { ...input.data };
    const key = input.key ?? input.kind;
    let st = this.keys.get(key);
    if (!st) {
      st = { lastAt: -Infinity, suppressed: 0 };
      this.keys.set(key, st);
    }
    if (now - st.lastAt >= this.minInterval && !st.timer) {
      st.lastAt = now;
      this.write(ev);
      return true;
    }
    if (st.held) {
      st.suppressed++;
      this.dropped++;
      this.opts.metrics?.dropped(1, 'rate-limit');
    }
    st.held = ev;
    if (!st.timer) {
      const s = st;
      s.timer = setTimeout(() => this.release(key, s), Math.max(0, s.lastAt + this.minInterval - now));
      s.timer.unref?.();
    }
    return false;
  }

  private release(key: string, st: KeyState): void {
    st.timer = undefined;
    const ev = st.held;
    st.held = undefined;
    if (!ev) return;
    if (st.suppressed > 0) ev.data = { ...ev.data, suppressed: st.suppressed };
    st.suppressed = 0;
    st.lastAt = this.now();
    this.write(ev);
    if (this.keys.size > 1_000) this.keys.delete(key);
  }

  private write(ev: GatewayEvent): void {
    this.written++;
    this.opts.metrics?.received(1);
    this.opts.writer.writeEvents([ev]).then(
      () => this.opts.metrics?.sent(1),
      (err: unknown) => {
        this.opts.metrics?.error(errorCode(err));
        this.opts.metrics?.dropped(1, 'outbox-error');
        const now = this.now();
        if (now - this.lastErrorLog >= this.minInterval) {
          this.lastErrorLog = now;
          this.opts.log.warn({ code: errorCode(err), err: errorMessage(err), kind: ev.kind }, 'gateway event not written to the outbox');
        }
      },
    );
  }

  stats(): { written: number; suppressed: number; held: number } {
    let held = 0;
    for (const st of this.keys.values()) if (st.held) held++;
    return { written: this.written, suppressed: this.dropped, held };
  }

  /** Writes what is held (the latest state per key) and clears the timers; later emits are ignored. */
  stop(): void {
    for (const [key, st] of this.keys) {
      clearTimeout(st.timer);
      this.release(key, st);
    }
    this.stopped = true;
    this.keys.clear();
  }
}
