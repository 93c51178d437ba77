import { z } from 'zod';
import { channelSchema, sourceBaseShape } from '../../src/core/config-common.ts';
import { duration } from '../../src/core/units.ts';

export const SECURITY_MODES = ['None', 'Sign', 'SignAndEncrypt'] as const;
export const SECURITY_POLICIES = ['None', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss'] as const;
export type SecurityModeName = (typeof SECURITY_MODES)[number];
export type SecurityPolicyName = (typeof SECURITY_POLICIES)[number];

/**
 * NodeId string syntax (OPC UA Part 6, 5.3.1.10): optional ns=<index> or nsu=<uri>, then
 * i=<number>, s=<string>, g=<guid> or b=<base64>. Checked here without loading node-opcua.
 */
export const NODE_ID_RE = /^(?:(?:ns=\d+|nsu=[^;]+);)?(?:i=\d+|s=.+|g=[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|b=[A-Za-z0-9+/=]+)$/;

/** SHA-1 thumbprint as OPC UA tools print it: 40 hex digits, colons and spaces allowed. */
const thumbprint = z
  .string()
  .transform((s) => s.replace(/[\s:]/g, '').toLowerCase())
  .pipe(z.string().regex(/^[0-9a-f]{40}$/, 'a SHA-1 thumbprint: 40 hex digits'));

const deadbandSchema = z
  .strictObject({
    type: z.enum(['absolute', 'percent']).describe('absolute: change in engineering units; percent: of the EURange (the server must publish one)'),
    value: z.number().nonnegative().describe('smallest change that is reported'),
  })
  .describe('data-change deadband');

const identitySchema = z
  .discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('anonymous') }),
    z.strictObject({
      kind: z.literal('username'),
      username: z.string().min(1),
      password: z.string().describe('use ${env:NAME} or ${file:/path}; never logged'),
    }),
    z.strictObject({
      kind: z.literal('certificate'),
      certificateFile: z.string().describe('user certificate (PEM or DER); relative to the config file'),
      privateKeyFile: z.string().describe('its private key (PEM); relative to the config file'),
    }),
  ])
  .describe('user identity for the session');

const tagShape = {
  name: z.string().min(1).optional().describe('tag name in samples; defaults to the NodeId or browse path'),
  nodeId: z.string().optional().describe("NodeId such as 'ns=2;s=Line1.Temp', 'ns=3;i=1001' or 'nsu=urn:plant;s=Line1.Temp' (namespace by URI)"),
  browsePath: z.string().optional().describe("browse path from the Root folder, such as '/Objects/2:Line1/2:Temp'"),
  samplingInterval: duration().optional().describe('overrides the source samplingInterval for this tag'),
  queueSize: z.number().int().positive().optional().describe('overrides the source queueSize for this tag'),
  deadband: deadbandSchema.optional().describe('overrides the source deadband for this tag'),
  maxArrayLength: z.number().int().positive().optional().describe('overrides the source maxArrayLength for this tag'),
  engUnit: z.string().min(1).max(32).optional().describe('engineering unit shown beside the value on the dashboard and in `fieldgate read` (e.g. "°C"); display only'),
};

export interface OpcuaTag {
  name: string;
  nodeId?: string;
  browsePath?: string;
  samplingInterval?: number;
  queueSize?: number;
  deadband?: { type: 'absolute' | 'percent'; value: number };
  maxArrayLength?: number;
  engUnit?: string;
}

/** A tag may be written as a bare NodeId string; its name is then the NodeId. */
const tagEntry = z.union([
  z.string().min(1).transform((nodeId): OpcuaTag => ({ name: nodeId, nodeId })),
  z
    .strictObject(tagShape)
    .refine((t) => (t.nodeId === undefined) !== (t.browsePath === undefined), { message: 'give exactly one of nodeId or browsePath' })
    .transform((t): OpcuaTag => ({ ...t, name: t.name ?? t.nodeId ?? t.browsePath! })),
]);

export const opcuaSourceSchema = z
  .strictObject({
    ...sourceBaseShape,
    type: z.literal('opcua'),
    endpoint: z.string().regex(/^opc\.tcp:\/\/[^\s]+$/, "an endpoint URL such as 'opc.tcp://plc1:4840'").describe('the server endpoint URL'),
    securityMode: z.enum(SECURITY_MODES).default('SignAndEncrypt').describe("message security; 'None' only when written explicitly"),
    securityPolicy: z.enum(SECURITY_POLICIES).default('Basic256Sha256').describe("security policy; ignored (None) when securityMode is 'None'"),
    trustedServerThumbprints: z
      .array(thumbprint)
      .default([])
      .describe("server certificates trusted by SHA-1 thumbprint, besides those in <dataDir>/pki/opcua/client/trusted/certs"),
    serverCertificateFile: z
      .string()
      .min(1)
      .optional()
      .describe("the server's application certificate (PEM or DER), relative to the config file: fieldgate opens the secure channel with it directly, without asking for endpoints over an unsecured channel (for servers that refuse one); naming the file trusts that certificate"),
    identity: identitySchema.default({ kind: 'anonymous' }),
    mode: z.enum(['subscription', 'polling']).default('subscription').describe('polling uses the Read service, for servers whose subscriptions misbehave'),
    publishingInterval: duration().prefault(1_000).describe('subscription publishing interval'),
    samplingInterval: duration().prefault(1_000).describe('default sampling interval of each monitored item'),
    queueSize: z.number().int().positive().default(1).describe('server-side queue per monitored item'),
    discardOldest: z.boolean().default(true).describe('when a server queue is full, drop its oldest value'),
    deadband: deadbandSchema.optional(),
    maxArrayLength: z
      .number().int().positive().max(1_000_000).default(1_000)
      .describe("array values: at most this many elements become samples (<tag>[0], <tag>[1], ...) per value; the rest are dropped and counted"),
    maxNotificationsPerPublish: z.number().int().nonnegative().default(0).describe('0 lets the server choose its maximum'),
    pollInterval: duration().prefault(1_000).describe('polling mode: time between Read requests'),
    chunkSize: z.number().int().positive().max(50_000).default(1_000).describe('monitored items per CreateMonitoredItems call, nodes per Read call'),
    requestTimeout: duration().prefault(10_000).describe('timeout of each service call'),
    keepAliveInterval: duration().prefault(5_000).describe('session keep-alive and staleness check; a silent subscription for 3 intervals is rebuilt'),
    reconnect: z
      .strictObject({
        initialDelay: duration().prefault(250),
        maxDelay: duration().prefault(5_000),
      })
      .prefault({})
      .describe('backoff between reconnection attempts'),
    tags: z.array(tagEntry).min(1).describe('nodes to read: a NodeId string or {name, nodeId | browsePath, ...}'),
    channel: channelSchema.optional().describe('channel to the router; OPC UA default {capacity: 1024, whenFull: drop-oldest}: notifications cannot wait, so a slow consumer drops the oldest batches (counted)'),
  })
  .superRefine((c, ctx) => {
    if (c.serverCertificateFile !== undefined && c.securityMode === 'None') {
      ctx.addIssue({ code: 'custom', path: ['serverCertificateFile'], message: 'serverCertificateFile is for Sign or SignAndEncrypt; securityMode None has no server certificate' });
    }
    if (c.securityMode !== 'None' && c.securityPolicy === 'None') {
      ctx.addIssue({ code: 'custom', path: ['securityPolicy'], message: `securityMode ${c.securityMode} needs a policy other than None` });
    }
    const seen = new Set<string>();
    c.tags.forEach((t, i) => {
      if (seen.has(t.name)) ctx.addIssue({ code: 'custom', path: ['tags', i, 'name'], message: `duplicate tag name "${t.name}"` });
      seen.add(t.name);
      if (t.nodeId !== undefined) {
        if (!NODE_ID_RE.test(t.nodeId)) {
          ctx.addIssue({ code: 'custom', path: ['tags', i], message: `"${t.nodeId}" is not a NodeId; expected e.g. ns=2;s=Line1.Temp, ns=3;i=1001, nsu=urn:plant;s=Line1.Temp, ns=1;g=<guid>, ns=1;b=<base64>` });
        }
      }
    });
  })
  .describe('OPC UA client (node-opcua): subscriptions or polling, read-only');

export type OpcuaSourceConfig = z.output<typeof opcuaSourceSchema>;
