/**
 * The error catalogue: every error a user can see carries one of these stable codes, so a log
 * line or a dashboard entry can be searched for in docs/errors.md (generated from this list by
 * `npm run docs:errors`). One entry per code: `means` says what happened, `action` what to do.
 * Add codes here, never inline; never change the meaning of an existing code. A new code may
 * start as a plain string (its meaning); the catalogue test then asks for `means` and `action`.
 */
export interface ErrorEntry {
  /** the part of fieldgate it comes from (a heading of docs/errors.md) */
  area: 'configuration' | 'core' | 'drivers' | 'outbox and sinks' | 'inference' | 'health and http';
  means: string;
  action: string;
}

export const ERROR_CODES = {
  FG_E_CONFIG_INVALID: {
    area: 'configuration',
    means: 'The configuration failed validation; the located errors follow (file:line:col, YAML path, what was expected). At most 50 are shown, the rest are counted.',
    action: 'Fix each located error (`fieldgate validate -c FILE` checks without starting anything); docs/config.md lists every key.',
  },
  FG_E_CONFIG_YAML: {
    area: 'configuration',
    means: 'The configuration file is not valid YAML (syntax, tab indentation, a key repeated in one mapping, nesting too deep).',
    action: 'Fix the YAML at the line and column shown; indent with spaces.',
  },
  FG_E_CONFIG_FILE: {
    area: 'configuration',
    means: 'The configuration file could not be read (missing, or permission denied).',
    action: 'Check the path given with -c and that the fieldgate user may read it.',
  },
  FG_E_CONFIG_ENV_MISSING: {
    area: 'configuration',
    means: 'A ${env:NAME} reference names an environment variable that is not set.',
    action: 'Set the variable in the service environment (systemd EnvironmentFile, container env), or write `$${` for a literal `${`.',
  },
  FG_E_CONFIG_SECRET_FILE: {
    area: 'configuration',
    means: 'A ${file:/path} reference names a file that cannot be read.',
    action: 'Create the file or fix its path (relative paths are relative to the config file) and let the fieldgate user read it.',
  },
  FG_E_CONFIG_LIMIT: {
    area: 'configuration',
    means: 'The configuration file exceeds a safety bound: larger than 16 MiB, YAML aliases that stand for more than 100,000 values in all, or collections nested more than 64 deep.',
    action: 'Split a very large file, write out the values instead of nesting aliases, or flatten the nesting.',
  },
  FG_E_CHANNEL_CLOSED: {
    area: 'core',
    means: 'A value was sent to a channel after it was closed (a stage still sending while the pipeline stops or reloads).',
    action: 'Nothing during stop or reload; otherwise a bug: report it with the log line.',
  },
  FG_E_CHANNEL_OVERSUBSCRIBED: {
    area: 'core',
    means: 'Too many senders are blocked on one channel at once.',
    action: 'The consumer of that channel is too slow: give it a larger channel or a drop policy, or fewer producers.',
  },
  FG_E_ABORTED: {
    area: 'core',
    means: 'The operation was cancelled (stop, deadline or reload).',
    action: 'Nothing: it is the normal end of work that was stopped.',
  },
  FG_E_DEADLINE: {
    area: 'core',
    means: 'The operation did not finish before its deadline.',
    action: 'Check the peer it waited on; raise the timeout only if the peer is known to be slow.',
  },
  FG_E_STAGE_CRASHED: {
    area: 'core',
    means: 'A stage threw; its supervisor restarts it with backoff. The log line carries the cause\'s own code.',
    action: 'Look at the cause code and message; repeated crashes end in FG_E_STAGE_FAILED.',
  },
  FG_E_STAGE_FAILED: {
    area: 'core',
    means: 'A stage restarted too often within its window and was given up.',
    action: 'Fix the cause of the crashes (see the FG_E_STAGE_CRASHED lines before it), then reload or restart.',
  },
  FG_E_BREAKER_OPEN: {
    area: 'core',
    means: 'A circuit breaker is open; calls are refused until its cooldown ends.',
    action: 'Nothing, unless it stays open: then the device or model behind it keeps failing; see the errors before it.',
  },
  FG_E_PIPELINE_START: {
    area: 'core',
    means: 'A stage failed to start; the stages already started were stopped again.',
    action: 'Read the cause in the message (a port, a file, a device), fix it and start again.',
  },
  FG_E_DATA_DIR: {
    area: 'core',
    means: 'The data directory (or the OPC UA certificate store in it) cannot be created or written.',
    action: 'Check gateway.dataDir and that the fieldgate user owns it.',
  },
  FG_E_STOP_DEADLINE: {
    area: 'core',
    means: 'A stage did not stop within its deadline (shutdown or reload) and was abandoned, so it does not hold the rest of the shutdown.',
    action: 'Usually nothing: the process exit releases what it held. If it repeats, the log line names the stage; report it with --debug logs.',
  },
  FG_E_PORT_IN_USE: {
    area: 'core',
    means: 'A port this configuration binds (health server, embedded broker, simulator) is already in use.',
    action: 'Stop the other process or choose another port in the configuration.',
  },
  FG_E_UNEXPECTED: {
    area: 'core',
    means: 'An error without a code of its own: a bug, or a failure fieldgate did not foresee.',
    action: 'Run again with --debug for the stack trace and report it.',
  },
  FG_E_DRIVER_UNKNOWN: {
    area: 'drivers',
    means: 'A source or simulator names a driver type that is not registered in drivers/index.ts.',
    action: 'Use a registered type (modbus, opcua); the validator lists them.',
  },
  FG_E_MODBUS_TIMEOUT: {
    area: 'drivers',
    means: 'A Modbus request got no answer within its timeout.',
    action: 'Check the unit id, the wiring or network, and the device\'s response time; raise `timeout` or `requestDelay` for slow devices.',
  },
  FG_E_MODBUS_EXCEPTION: {
    area: 'drivers',
    means: 'A Modbus device answered with an exception code (illegal function, illegal address, device busy...).',
    action: 'Check the tag\'s area and address against the device manual; lower maxRegisters if the device reads fewer at once.',
  },
  FG_E_MODBUS_DECODE: {
    area: 'drivers',
    means: 'Registers read from a Modbus device could not be decoded as the configured type; the value is marked bad, never good.',
    action: 'Check the tag\'s type, length and byte order against the device manual.',
  },
  FG_E_MODBUS_DISCONNECTED: {
    area: 'drivers',
    means: 'The Modbus connection is down; the source reconnects with backoff.',
    action: 'Check the device and the network; the source recovers by itself when the device answers again.',
  },
  FG_E_MODBUS_CONNECT: {
    area: 'drivers',
    means: 'A Modbus connection could not be opened.',
    action: 'Check host and port (or the serial path and its permissions) in `connection`.',
  },
  FG_E_OPCUA_CONNECT: {
    area: 'drivers',
    means: 'An OPC UA connection could not be opened.',
    action: 'Check the endpoint URL, the security mode and policy, and the user identity.',
  },
  FG_E_OPCUA_UNTRUSTED: {
    area: 'drivers',
    means: 'The OPC UA server certificate is not trusted.',
    action: 'Move the certificate named in the message from the rejected to the trusted folder of the certificate store, as the message says.',
  },
  FG_E_OPCUA_NODE: {
    area: 'drivers',
    means: 'An OPC UA node could not be read or monitored (unknown node id, access denied).',
    action: 'Check the node id with `fieldgate browse -c FILE --source ID`.',
  },
  FG_E_OPCUA_SESSION: {
    area: 'drivers',
    means: 'An OPC UA session or subscription was lost; the source reconnects and recreates it.',
    action: 'Nothing if it recovers; otherwise check the server\'s session limits and the network.',
  },
  FG_E_OUTBOX_CORRUPT: {
    area: 'outbox and sinks',
    means: 'The outbox file failed its integrity check and was moved aside; a new one was started.',
    action: 'Keep the moved file (its path is in the log) for recovery; check the disk.',
  },
  FG_E_OUTBOX_FULL: {
    area: 'outbox and sinks',
    means: 'The outbox reached its size bound; its whenFull policy applies.',
    action: 'Restore the upstream so the backlog drains, or raise outbox.maxBytes if the disk allows.',
  },
  FG_E_OUTBOX_WRITE: {
    area: 'outbox and sinks',
    means: 'A write to the outbox failed.',
    action: 'Check the disk (space, permissions, health) under gateway.dataDir.',
  },
  FG_E_SINK_PUBLISH: {
    area: 'outbox and sinks',
    means: 'A sink could not publish a batch; it retries with backoff and the records stay in the outbox.',
    action: 'Check the upstream; nothing is lost while the outbox has room.',
  },
  FG_E_SINK_REJECTED: {
    area: 'outbox and sinks',
    means: 'The upstream rejected a batch (HTTP 4xx); it was counted as dead-lettered.',
    action: 'Read the upstream\'s reason in the log line; fix the sink\'s URL, credentials or format.',
  },
  FG_E_SINK_CONNECT: {
    area: 'outbox and sinks',
    means: 'A sink could not connect to its upstream.',
    action: 'Check the URL, TLS settings and credentials; the sink retries with backoff.',
  },
  FG_E_SPARKPLUG_NCMD: {
    area: 'outbox and sinks',
    means: 'A Sparkplug NCMD payload could not be decoded; it was ignored.',
    action: 'Check the host application that sent it.',
  },
  FG_E_MODEL_LOAD: {
    area: 'inference',
    means: 'A model file could not be loaded.',
    action: 'Check the model path and that the file is a valid ONNX model (`fieldgate model inspect FILE`).',
  },
  FG_E_MODEL_MISMATCH: {
    area: 'inference',
    means: "A model's inputs or outputs do not match its configuration.",
    action: 'Compare `fieldgate model inspect FILE` with the model\'s inputs and outputs in the configuration.',
  },
  FG_E_MODEL_RUN: {
    area: 'inference',
    means: 'A model run failed.',
    action: 'Read the runtime\'s message in the log; check the input values and the model.',
  },
  FG_E_MODEL_DEADLINE: {
    area: 'inference',
    means: 'A window was older than its deadline and was dropped.',
    action: 'The model cannot keep up: raise workers, lower the rate, or raise the deadline.',
  },
  FG_E_WORKER_CRASHED: {
    area: 'inference',
    means: 'An inference worker exited unexpectedly and was replaced.',
    action: 'Check memory limits and the model; repeated crashes on one batch fail that batch.',
  },
  FG_E_HTTP: {
    area: 'health and http',
    means: 'The health HTTP server failed (cannot listen, or a server error).',
    action: 'Check health.host and health.port.',
  },
  FG_E_RELOAD: {
    area: 'health and http',
    means: 'A configuration reload was refused or failed; the previous configuration keeps running.',
    action: 'Fix the errors listed with it and reload again.',
  },
  FG_E_MODBUS_FRAME: {
    area: 'drivers',
    means: "A Modbus answer did not match its request or was malformed (protocol id, transaction id, unit id, function code, byte count, frame length). Every sample of that read is marked bad with a reason naming the device and the read; when the stream may be out of step the connection is dropped.",
    action: "Check the device (or gateway) at that unit id: a byte count or unit id that does not match usually means a misconfigured serial gateway or a device that answers for another unit. The reason says what was expected.",
  },
  FG_E_MODBUS_NOT_FINITE: {
    area: 'drivers',
    means: "A float tag decoded to NaN or an infinity and its nonFinite option (bad) marks such values bad.",
    action: "Usually a sensor fault or an unused register; set nonFinite: report to pass such values on as they are.",
  },
  FG_E_OPCUA_NODE_MOVED: {
    area: 'drivers',
    means: "After a reconnect or a server change (start time or namespace array), an OPC UA tag given by browsePath or nsu= resolved to another NodeId; its monitored item was recreated on the new one.",
    action: "Nothing: the tag follows its variable. Frequent moves mean the server renumbers on restart; keep using browsePath or nsu= for its tags.",
  },
  FG_E_OUTBOX_DISK_FULL: {
    area: 'outbox and sinks',
    means: "The outbox cannot write: free space fell below outbox.diskReserve or SQLite reported the disk full. New writes wait; confirmed rows are still deleted and the WAL checkpointed, so draining to a live upstream frees space and ingestion resumes by itself.",
    action: "Free space on the data volume or bring the upstream back; give sinks a maxLag so a dead upstream cannot hold the disk.",
  },
  FG_E_SINK_BEHIND: {
    area: 'outbox and sinks',
    means: "A sink fell behind its lag bound (maxLag) under whenBehind: drop-oldest: its oldest records were skipped for that sink only and counted as dropped with reason lag.",
    action: "Bring the upstream back or raise its maxLag (bounded by outbox.maxBytes); use whenBehind: block only for an upstream that must never miss a record.",
  },
  FG_E_OVERLOAD: {
    area: 'outbox and sinks',
    means: "A sink that is connected and confirming cannot keep up with ingestion: its lag passed its shedAt, so sources skip some polls (counted as fieldgate_source_overruns_total{reason=\"shed\"}) until it catches up.",
    action: "Give the upstream more capacity (bandwidth, maxInFlight, batchSize, the compact format), poll less often, or set shedAt: 0 on that sink to let it fall behind instead (its maxLag and whenBehind then apply).",
  },
  FG_E_MODEL_FEATURE: {
    area: 'inference',
    means: "A model feature names a tag that no configured source produces (validate and run say which feature and which tags exist).",
    action: "Fix the feature tag (<source id>/<tag>) to one the message lists, or add the tag to the source.",
  },
  FG_E_FIT_DATA: {
    area: 'inference',
    means: "A data file for model fit or evaluate cannot be read or parsed (the message gives file:line and column).",
    action: "Give a CSV with a timestamp column and numeric value columns; fix the line shown.",
  },
  FG_E_FIT_COLUMN: {
    area: 'inference',
    means: "A column named on the command line is not in the data file.",
    action: "Use one of the columns the message lists.",
  },
  FG_E_FIT_NORMAL: {
    area: 'inference',
    means: "The declared normal period holds too little usable data to fit on.",
    action: "Widen --normal-from/--normal-to (or --normal-until) to cover more normal operation, or use a shorter --window.",
  },
  FG_E_FIT_OUTPUT: {
    area: 'inference',
    means: "The output folder of model fit already holds a model (use --force) or cannot be written.",
    action: "Choose another --out folder, or add --force to replace the model (a running pipeline watching it swaps it in).",
  },
  FG_E_FIT_WINDOWS: {
    area: 'inference',
    means: "A labelled-windows file for model evaluate cannot be read or lacks the key.",
    action: "Give a NAB-style JSON file {\"<key>\": [[\"start\",\"end\"], ...]} and a --key it contains.",
  },
  FG_E_NATS_STREAM: {
    area: 'outbox and sinks',
    means: "The configured JetStream stream is missing, cannot be created, or refused a publish.",
    action: "Create the stream (or set create: true on the sink) with subjects that cover the sink subject template; check the account permissions.",
  },
  FG_E_NATS_DUPLICATE_WINDOW: {
    area: 'outbox and sinks',
    means: "The JetStream stream's duplicate window is shorter than the sink's replayHorizon, so a replay after a long outage or a crash may store duplicates.",
    action: "Raise the stream's duplicate_window to at least the sink's replayHorizon (see the NATS sink README).",
  },
  FG_E_NATS_ORDER: {
    area: 'outbox and sinks',
    means: "A JetStream ack showed a record stored after a later record of the same chunk (order broken upstream).",
    action: "Report it with the log line; check that no other publisher writes the same subjects with the same ids.",
  },
  FG_E_SPARKPLUG_STATE: {
    area: 'outbox and sinks',
    means: "A Sparkplug STATE message of the primary host could not be decoded; it was ignored.",
    action: "Check the host application: Sparkplug 3.0 STATE payloads are JSON {\"online\": bool, \"timestamp\": ms}.",
  },
  FG_E_SPARKPLUG_HOST_OFFLINE: {
    area: 'outbox and sinks',
    means: "The Sparkplug primary host application is offline: the edge node holds its births and data (the outbox keeps everything) until the host is back.",
    action: "Bring the host application back online, or unset sparkplug.primaryHostId.",
  },
  FG_E_PLUGIN_LOAD: {
    area: 'core',
    means: 'A package a configured component needs (its driver, sink client, embedded broker or model runtime, loaded only when the configuration uses it) could not be loaded.',
    action: 'Reinstall fieldgate with its dependencies (npm ci); the message names the component and the package.',
  },
} as const satisfies Record<`FG_E_${string}`, ErrorEntry | string>;

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
