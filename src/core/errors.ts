/**
 * The error catalogue: every error a user can see carries one of these stable codes,
 * so a log line or a dashboard entry can be searched for in the docs.
 * Add codes here, never inline; never change the meaning of an existing code.
 */
export const ERROR_CODES = {
  // configuration
  FG_E_CONFIG_INVALID: 'The configuration failed validation; the located errors follow.',
  FG_E_CONFIG_YAML: 'The configuration file is not valid YAML.',
  FG_E_CONFIG_FILE: 'The configuration file could not be read.',
  FG_E_CONFIG_ENV_MISSING: 'A ${env:NAME} reference names a variable that is not set.',
  FG_E_CONFIG_SECRET_FILE: 'A ${file:/path} reference names a file that cannot be read.',
  // core
  FG_E_CHANNEL_CLOSED: 'A value was sent to a channel after it was closed.',
  FG_E_CHANNEL_OVERSUBSCRIBED: 'Too many senders are blocked on one channel at once.',
  FG_E_ABORTED: 'The operation was cancelled (stop, deadline or reload).',
  FG_E_DEADLINE: 'The operation did not finish before its deadline.',
  FG_E_STAGE_CRASHED: 'A stage threw; its supervisor restarts it with backoff.',
  FG_E_STAGE_FAILED: 'A stage restarted too often within its window and was given up.',
  FG_E_BREAKER_OPEN: 'A circuit breaker is open; calls are refused until its cooldown ends.',
  FG_E_PIPELINE_START: 'A stage failed to start; the stages already started were stopped again.',
  FG_E_DATA_DIR: 'The data directory cannot be created or written.',
  FG_E_PORT_IN_USE: 'A port this configuration binds is already in use.',
  // drivers
  FG_E_DRIVER_UNKNOWN: 'A source names a driver type that is not registered in drivers/index.ts.',
  FG_E_MODBUS_TIMEOUT: 'A Modbus request got no answer within its timeout.',
  FG_E_MODBUS_EXCEPTION: 'A Modbus device answered with an exception code.',
  FG_E_MODBUS_DECODE: 'Registers read from a Modbus device could not be decoded as the configured type.',
  FG_E_MODBUS_DISCONNECTED: 'The Modbus connection is down.',
  FG_E_MODBUS_CONNECT: 'A Modbus connection could not be opened.',
  FG_E_OPCUA_CONNECT: 'An OPC UA connection could not be opened.',
  FG_E_OPCUA_UNTRUSTED: 'The OPC UA server certificate is not trusted.',
  FG_E_OPCUA_NODE: 'An OPC UA node could not be read or monitored.',
  FG_E_OPCUA_SESSION: 'An OPC UA session or subscription was lost.',
  // outbox and sinks
  FG_E_OUTBOX_CORRUPT: 'The outbox file failed its integrity check and was moved aside.',
  FG_E_OUTBOX_FULL: 'The outbox reached its size bound; its whenFull policy applies.',
  FG_E_OUTBOX_WRITE: 'A write to the outbox failed.',
  FG_E_SINK_PUBLISH: 'A sink could not publish a batch; it retries with backoff.',
  FG_E_SINK_REJECTED: 'The upstream rejected a batch (HTTP 4xx); it was counted as dead-lettered.',
  FG_E_SINK_CONNECT: 'A sink could not connect to its upstream.',
  FG_E_NATS_STREAM: 'The NATS sink\'s JetStream stream is missing (and create is off) or could not be read or created.',
  FG_E_NATS_DUPLICATE_WINDOW: 'The JetStream stream\'s duplicate_window is shorter than the NATS sink\'s replayHorizon: a record sent again after a longer outage is stored twice.',
  FG_E_NATS_ORDER: 'A JetStream ack showed a record stored after a later one of this gateway (should not happen; counted).',
  FG_E_SPARKPLUG_STATE: 'A Sparkplug STATE message of the primary host was not {"online": boolean, "timestamp": number}; it was ignored.',
  FG_E_SPARKPLUG_HOST_OFFLINE: 'The Sparkplug primary host went offline: the edge node ended its session (NDEATH) and waits for it; records wait in the outbox.',
  FG_E_SPARKPLUG_NCMD: 'A Sparkplug NCMD payload could not be decoded; it was ignored.',
  // inference
  FG_E_MODEL_LOAD: 'A model file could not be loaded.',
  FG_E_MODEL_MISMATCH: "A model's inputs or outputs do not match its configuration.",
  FG_E_MODEL_RUN: 'A model run failed.',
  FG_E_MODEL_DEADLINE: 'A window was older than its deadline and was dropped.',
  FG_E_WORKER_CRASHED: 'An inference worker exited unexpectedly and was replaced.',
  // health / http
  FG_E_HTTP: 'The health HTTP server failed.',
  FG_E_RELOAD: 'A configuration reload was refused; the previous configuration keeps running.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class FgError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FgError';
    this.code = code;
    this.details = options?.details;
  }
  override toString(): string {
    return `${this.code}: ${this.message}`;
  }
}

export function isFgError(e: unknown, code?: ErrorCode): e is FgError {
  return e instanceof FgError && (code === undefined || e.code === code);
}

/** The code of any thrown value, for counting errors by code. */
export function errorCode(e: unknown): string {
  if (e instanceof FgError) return e.code;
  if (e instanceof Error && e.name === 'AbortError') return 'FG_E_ABORTED';
  if (e instanceof Error && e.name === 'TimeoutError') return 'FG_E_DEADLINE';
  return 'FG_E_UNEXPECTED';
}

export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
