import { z } from 'zod';
import { duration, size } from '../core/units.ts';

// Owned by the health issue (#7): the `health:` section.

export const probeIntervalSchema = z
  .strictObject({
    unhealthy: duration().prefault(1_000).describe('how often a stage that is down or degraded (or just changed) is probed'),
    stable: duration().prefault(15_000).describe('the longest interval: a stage that stays up is probed less and less often, up to this'),
  })
  .describe('adaptive probe intervals: short while a stage is unhealthy, doubling up to `stable` while it stays up');

export const watchdogSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    heartbeatTimeout: duration().prefault(60_000)
      .describe('a source with no completed poll or notification for this long is restarted through its supervisor'),
  })
  .describe('restarts sources whose heartbeat stops');

export const readinessSchema = z
  .strictObject({
    sources: z.enum(['all', 'any']).default('all').describe('all: every enabled source must be up (degraded counts); any: one is enough'),
    maxDataAge: duration().prefault(30_000)
      .describe('ready only if the router handed a batch to the outbox and the outbox committed within this long'),
  })
  .describe('what /readyz requires: the required stages up and data flowing end to end');

export const healthSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('false: no HTTP server, probes or watchdog'),
    host: z.string().default('127.0.0.1').describe('address the HTTP server binds; 127.0.0.1 unless you need it reachable'),
    port: z.number().int().min(0).max(65535).default(8080).describe('0 picks a free port'),
    token: z.string().min(8).optional()
      .describe('bearer token for everything but /healthz and /readyz; write it as ${env:NAME} or ${file:/path}. The dashboard takes it once as /?token=...'),
    probes: probeIntervalSchema.prefault({}),
    watchdog: watchdogSchema.prefault({}),
    readiness: readinessSchema.prefault({}),
    eventLoopBlocked: duration().prefault(5_000).describe('/healthz answers 503 when the event loop was blocked longer than this'),
    watchConfig: z.boolean().default(false).describe('reload the configuration when its file changes (as SIGHUP does)'),
    statusLine: z.enum(['auto', 'on', 'off']).default('auto')
      .describe('one-line live status on the terminal: on (or auto) shows it when stdout is a TTY, with the logs on stderr; off never'),
    history: z
      .strictObject({
        enabled: z.boolean().default(true).describe('false: no tag table, tag trends or chart history (alarms still work)'),
        span: duration().prefault(3_600_000).describe('how far back tag trends and the charts reach'),
        resolution: duration().prefault(10_000).describe('bucket width over `span`: min, max and last of each bucket are kept'),
        liveSpan: duration().prefault(120_000).describe('the recent part kept finer, for sparklines and the live trend'),
        liveResolution: duration().prefault(1_000).describe('bucket width over `liveSpan`'),
        maxTags: z.number().int().min(1).max(1_000_000).default(50_000)
          .describe('most tags kept; memory is about 16 bytes x (span/resolution + liveSpan/liveResolution) per numeric tag (7.7 KB with the defaults) plus about 1 KB for the tag itself; 10,000 tags take about 87 MB'),
        maxBytes: size().prefault('16MB')
          .describe('most memory for the buckets of the configured tags: with more tags than fit at `resolution`, its buckets are widened (the span and the live part stay) and the start log says to what; 0: no bound'),
      })
      .prefault({})
      .describe('bounded in-memory history behind /api/tags, /api/tags/<source>/<tag>/history and /api/series; lost on restart'),
    keep: z
      .strictObject({
        predictions: z.number().int().min(1).max(10_000).default(300).describe('latest predictions kept for the dashboard'),
        events: z.number().int().min(1).max(10_000).default(100).describe('latest events kept for the dashboard'),
      })
      .prefault({})
      .describe('bounded rings behind /api/status'),
  })
  .describe('health probes, watchdog, /healthz /readyz /metrics /api/status and the dashboard');
export type HealthConfig = z.output<typeof healthSchema>;
