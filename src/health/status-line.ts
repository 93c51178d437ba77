import { Writable } from 'node:stream';
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
 * Whether `fieldgate run` shows the one-line status: when stdout is a terminal, unless `off`.
 * The logs then go to stderr; when that is the same terminal, each log line first erases the
 * status line, which is drawn again on its next tick, so the two never tear each other.
 */
export function wantStatusLine(mode: HealthConfig['statusLine'], t: Terminal = terminal()): boolean {
  return mode !== 'off' && t.stdoutIsTTY;
}

/**
 * Where the logger should write when the status line takes stdout: stderr. Undefined when the
 * status line is not shown (logs stay where they are). For src/cli/commands.ts `run`.
 */
export function statusLineLogDestination(
  health: Pick<HealthConfig, 'statusLine'>,
  t: Terminal = terminal(),
  stderr: Pick<NodeJS.WriteStream, 'write'> = process.stderr,
): DestinationStream | undefined {
  if (!wantStatusLine(health.statusLine, t)) return undefined;
  if (!t.stderrIsTTY) return pino.destination({ fd: 2, sync: false });
  // stdout and stderr are the same terminal: erase the status line before each log line;
  // the status line is drawn again on its next tick, below the log line
  return new Writable({
    write(chunk: Buffer | string, _enc, done): void {
      stderr.write(`\r\x1b[2K${chunk.toString()}`);
      done();
    },
  });
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
