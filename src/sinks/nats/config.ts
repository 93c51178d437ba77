import { z } from 'zod';
import { duration } from '../../core/units.ts';
import { sinkBaseShape } from '../common.ts';

const serverUrl = z
  .string()
  .regex(/^(nats|tls):\/\/[^\s/]+(:\d+)?\/?$/, 'expected nats://host:port or tls://host:port')
  .describe('a NATS server, e.g. nats://nats1:4222 or tls://nats1:4222');

export const natsSinkSchema = z
  .strictObject({
    ...sinkBaseShape,
    type: z.literal('nats'),
    servers: z.union([serverUrl, z.array(serverUrl).min(1)]).describe('one server or several of one cluster; tried in turn on every (re)connect'),
    name: z.string().optional().describe('client name the servers show; default fieldgate-<gateway>-<sink id>'),
    stream: z.string().regex(/^[^\s.*>/\\]+$/, 'a JetStream stream name: no spaces, . * > / or \\').describe('the JetStream stream the subjects belong to (its duplicate window is checked at connect)'),
    subject: z.string().default('fieldgate.{gateway}.{kind}.{source}').describe(
      'subject template with {gateway} {kind} {source} {tag}; one message per record. . * > and spaces in a value become _',
    ),
    user: z.string().optional(),
    password: z.string().optional().describe('use ${env:NAME} or ${file:/path}; never logged'),
    token: z.string().optional().describe('use ${env:NAME} or ${file:/path}; never logged'),
    nkeySeed: z.string().optional().describe('NKey user seed (SU...); use ${env:NAME} or ${file:/path}; never logged'),
    credsFile: z.string().optional().describe('a .creds file (JWT and NKey seed), read when the sink is created'),
    tls: z
      .strictObject({
        ca: z.string().optional().describe('CA certificate file (PEM)'),
        cert: z.string().optional().describe('client certificate file (PEM)'),
        key: z.string().optional().describe('client key file (PEM)'),
        handshakeFirst: z.boolean().default(false).describe('TLS before the NATS INFO (servers with handshake_first)'),
      })
      .optional()
      .describe('TLS: the server certificate is always verified; tls:// URLs or this section turn it on'),
    maxInFlight: z.number().int().positive().default(16).describe('chunks published and not yet acknowledged by JetStream'),
    ackTimeout: duration().prefault(10_000).describe('a chunk whose publish acks do not all arrive within this is sent again on a new connection'),
    connectTimeout: duration().prefault(10_000),
    pingInterval: duration().prefault(20_000).describe('a dead connection is found after 2 unanswered pings'),
    replayHorizon: duration().prefault(120_000).describe(
      'the longest time a published record may wait unconfirmed before it is sent again (outage or restart); ' +
      'the stream duplicate_window must be at least this for exactly-once, checked at connect',
    ),
    create: z
      .strictObject({
        subjects: z.array(z.string()).min(1).optional().describe('default: the subject template with every {var} as *'),
        replicas: z.number().int().min(1).max(5).default(1),
        storage: z.enum(['file', 'memory']).default('file'),
        maxAge: duration().optional().describe('records older than this leave the stream'),
        maxBytes: z.number().int().positive().optional(),
      })
      .optional()
      .describe('create the stream when it is absent (duplicate_window = replayHorizon); off when not given'),
  })
  .superRefine((c, ctx) => {
    const auth = [c.user !== undefined || c.password !== undefined, c.token !== undefined, c.nkeySeed !== undefined, c.credsFile !== undefined].filter(Boolean).length;
    if (auth > 1) ctx.addIssue({ code: 'custom', path: ['user'], message: 'choose one of user/password, token, nkeySeed or credsFile' });
    if (c.password !== undefined && c.user === undefined) ctx.addIssue({ code: 'custom', path: ['password'], message: 'password needs user' });
    const unknown = /\{([^}]*)\}/g;
    for (const m of c.subject.matchAll(unknown)) {
      if (!['gateway', 'kind', 'source', 'tag'].includes(m[1]!)) {
        ctx.addIssue({ code: 'custom', path: ['subject'], message: `unknown variable {${m[1]}}; expected {gateway} {kind} {source} or {tag}` });
      }
    }
    if (/(^|\.)(\*|>)($|\.)/.test(c.subject) || /\s/.test(c.subject) || c.subject.startsWith('.') || c.subject.endsWith('.') || c.subject.includes('..')) {
      ctx.addIssue({ code: 'custom', path: ['subject'], message: 'a publish subject has no wildcards, spaces or empty tokens' });
    }
  })
  .describe('publish to a NATS JetStream stream, one message per record, exactly-once via Nats-Msg-Id');

export type NatsSinkConfig = z.output<typeof natsSinkSchema>;
