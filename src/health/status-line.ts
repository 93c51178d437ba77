import { pino } from 'pino';
import type { DestinationStream } from 'pino';
import type { HealthConfig } from './config.ts';
import type { StatusDocument } from './status.ts';

export interface Terminal {
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
}

function terminal(): Terminal {
  return { stdoutIsTTY: process.stdout.isTTY === true, stderrIsTTY: process.stderr.isTTY === true };
}

/**
 * Whether `fieldgate run` shows the one-line status: `on` always (on a TTY), `auto` only when
 * stdout is a terminal and the logs can go elsewhere (stderr redirected to a file or journal),
 * so log lines never tear the status line; `off` never.
 */
export function wantStatusLine(mode: HealthConfig['statusLine'], t: Terminal = terminal()): boolean {
  if (mode === 'off' || !t.stdoutIsTTY) return false;
  return mode === 'on' || !t.stderrIsTTY;
}

/**
 * Where the logger should write when the status line takes stdout: stderr. Undefined when the
 * status line is not shown (logs stay where they are). For src/cli/commands.ts `run`.
 */
export function statusLineLogDestination(health: Pick<HealthConfig, 'statusLine'>, t: Terminal = terminal()): DestinationStream | undefined {
  return wantStatusLine(health.statusLine, t) ? pino.destination({ fd: 2, sync: false }) : undefined;
}

/** One line: samples/s, predictions/s, backlog and health, shortened to the terminal's width. */
export function formatStatusLine(st: StatusDocument, width = 120): string {
  const down = st.stages.filter((s) => s.state === 'down').map((s) => s.name);
  const degraded = st.stages.filter((s) => s.state === 'degraded').map((s) => s.name);
  const health = !st.live.ok ? 'WEDGED' : down.length ? `DOWN: ${down.join(',')}` : degraded.length ? `degraded: ${degraded.join(',')}` : 'all up';
  const parts = [
    `fieldgate ${st.gateway.id}`,
    `${rate(st.totals.samplesPerS)} samples/s`,
    `${rate(st.totals.predictionsPerS)} predictions/s`,
    `backlog ${st.totals.backlog ?? '-'}`,
    st.ready.ok ? 'ready' : 'not ready',
    health,
  ];
  const line = parts.join(' | ');
  return line.length > width ? `${line.slice(0, Math.max(0, width - 1))}…` : line;
}

function rate(n: number): string {
  return n >= 100 ? String(Math.round(n)) : n.toFixed(1);
}

/**
 * Redraws the status line in place every `intervalMs` (carriage return + erase line, like a
 * progress bar). Returns a stop function that clears the line.
 */
export function startStatusLine(opts: {
  stream: NodeJS.WriteStream;
  status: () => Promise<StatusDocument>;
  intervalMs?: number;
}): () => void {
  const { stream } = opts;
  let stopped = false;
  let busy = false;
  const draw = async (): Promise<void> => {
    if (busy || stopped) return;
    busy = true;
    try {
      const line = formatStatusLine(await opts.status(), (stream.columns ?? 120) - 1);
      if (!stopped) stream.write(`\r\x1b[2K${line}`);
    } catch {
      // the status line is a convenience; a failed sample is simply skipped
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void draw(), opts.intervalMs ?? 1_000);
  timer.unref();
  void draw();
  return () => {
    stopped = true;
    clearInterval(timer);
    stream.write('\r\x1b[2K');
  };
}
