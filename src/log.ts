import { createRequire } from 'node:module';
import { pino, type Logger, type LoggerOptions, type DestinationStream } from 'pino';
import type PinoPretty from 'pino-pretty';

export type { Logger };

export interface LogOptions {
  level?: string;
  /** 'json' always JSON; 'pretty' human-readable; 'auto' pretty on a TTY */
  format?: 'json' | 'pretty' | 'auto';
  /** where lines go; defaults to stdout (stderr for the CLI's own messages is separate) */
  destination?: DestinationStream;
  /** whether the destination is a terminal, for format 'auto' (default: whether stdout is) */
  tty?: boolean;
}

/** Values substituted from ${env:...} and ${file:...}; never printed, whatever field holds them. */
const secrets = new Set<string>();

export function registerSecret(value: string): void {
  // very short values would redact ordinary text; such secrets are weak anyway
  if (value.length >= 4) secrets.add(value);
}

export function redactSecrets(line: string): string {
  if (secrets.size === 0) return line;
  let out = line;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join('[REDACTED]');
  return out;
}

/** Field names that are redacted even when their value was written into the YAML by hand. */
const REDACT_PATHS = [
  'password', '*.password', '*.*.password',
  'token', '*.token', '*.*.token',
  'authorization', '*.authorization', '*.headers.authorization', '*.headers.Authorization',
  'privateKey', '*.privateKey', '*.key', '*.*.key',
];

export function createLogger(opts: LogOptions = {}): Logger {
  const format = opts.format ?? 'auto';
  const tty = opts.tty ?? (opts.destination ? false : process.stdout.isTTY === true);
  const human = format === 'pretty' || (format === 'auto' && tty);
  const options: LoggerOptions = {
    level: opts.level ?? 'info',
    base: { pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    hooks: { streamWrite: redactSecrets },
  };
  if (human) {
    // pino-pretty as a stream in this thread (not a transport worker): secrets are redacted
    // by streamWrite before it formats, and a custom destination (the status line's) is kept
    // loaded only for human output: a service logging JSON never loads it (CommonJS: required in place)
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
    const stream = pretty({
      colorize: tty,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname',
      singleLine: true,
      destination: opts.destination ?? 1,
      sync: true,
    });
    return pino(options, stream);
  }
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/**
 * Changes the level of a running logger, for a reload. Children made with `log.child(bindings)`
 * (every stage's logger) are created by pino as prototype copies of their parent and hold no level
 * of their own, so they follow at once, grandchildren too (test/unit/log.test.ts pins this). A child
 * made with a `{ level }` option other than its parent's keeps that level, as it asked to.
 */
export function setLogLevel(log: Logger, level: string): void {
  if (log.levels.values[level] === undefined) throw new Error(`unknown log level ${JSON.stringify(level)}`);
  log.level = level;
}

/** The numeric value of a level name (higher is quieter; 'silent' is Infinity). */
export function logLevelValue(log: Logger, level: string): number {
  return log.levels.values[level] ?? Infinity;
}

/** A logger that writes nothing, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
