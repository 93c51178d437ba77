import { z } from 'zod';
import { idSchema } from '../../../src/core/config-common.ts';
import { generatorSchema } from '../../../src/sim/generators.ts';
import { SECURITY_MODES, SECURITY_POLICIES } from '../config.ts';

export const SIM_DATA_TYPES = [
  'Double', 'Float', 'SByte', 'Byte', 'Int16', 'UInt16', 'Int32', 'UInt32', 'Int64', 'UInt64', 'Boolean', 'String', 'DateTime',
] as const;
export type SimDataType = (typeof SIM_DATA_TYPES)[number];

const variableSchema = z
  .strictObject({
    path: z.string().regex(/^[^/]+(\/[^/]+)*$/, "folders and name separated by '/', such as 'Line1/Temp'").describe('where the variable sits under Objects'),
    nodeId: z.string().optional().describe("identifier in the simulator's namespace (ns=1): a string, or 'i=<number>' for a numeric NodeId; default: the path with '/' replaced by '.'"),
    dataType: z.enum(SIM_DATA_TYPES).default('Double'),
    generator: generatorSchema.default({ kind: 'sine', amplitude: 1, offset: 0, period: 60_000, phase: 0 }),
    status: z.string().regex(/^(Good|Uncertain|Bad)[A-Za-z]*$/).optional().describe("a fixed StatusCode name such as 'UncertainLastUsableValue', to exercise qualities"),
    arrayLength: z.number().int().positive().max(100_000).optional().describe("makes the variable a one-dimensional array of this many elements; element i is the generator's value plus i"),
  })
  .describe('one simulated variable');

const bulkSchema = z
  .strictObject({
    folder: z.string().min(1).describe('folder under Objects holding the variables'),
    count: z.number().int().positive().max(100_000),
    prefix: z.string().default('Item').describe("variable names are <prefix><index>, node ids 's=<folder>.<prefix><index>'"),
    dataType: z.enum(SIM_DATA_TYPES).default('Double'),
    generator: generatorSchema.default({ kind: 'sine', amplitude: 1, offset: 0, period: 10_000, phase: 0 }),
  })
  .describe('many variables of one kind, for load tests; each gets its own phase or seed');

const userSchema = z.strictObject({ username: z.string().min(1), password: z.string().min(1) });

export const opcuaSimulatorSchema = z
  .strictObject({
    type: z.literal('opcua'),
    id: idSchema(),
    host: z.string().default('127.0.0.1').describe('address to listen on; keep 127.0.0.1 unless other hosts must reach it'),
    port: z.number().int().min(0).max(65_535).default(4840).describe('0 picks a free port'),
    resourcePath: z.string().default('').describe("path after the port in the endpoint URL, e.g. '/UA/sim'"),
    securityModes: z.array(z.enum(SECURITY_MODES)).min(1).default(['None', 'Sign', 'SignAndEncrypt']),
    securityPolicies: z.array(z.enum(SECURITY_POLICIES)).min(1).default(['None', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss']),
    trustAllClients: z.boolean().default(true).describe('accept any client certificate (a simulator, not a real server)'),
    allowAnonymous: z.boolean().default(true),
    disableDiscovery: z
      .boolean()
      .default(false)
      .describe('with no None security mode: refuse unsecured channels altogether, even for GetEndpoints (a hardened server)'),
    users: z.array(userSchema).default([]).describe('accepted username/password pairs'),
    trustedUserCertificates: z
      .array(z.string())
      .default([])
      .describe('user certificates (PEM or DER files) accepted as X.509 user identities; any other user certificate is refused'),
    maxNotificationsPerPublish: z.number().int().positive().default(50_000).describe('server cap on notifications per publish response (node-opcua default 1000)'),
    namespaceUri: z.string().min(1).optional().describe("put the variables in a namespace of this URI instead of the server's own (ns=1)"),
    extraNamespaces: z.array(z.string().min(1)).default([]).describe('namespace URIs registered first (before namespaceUri), to move its index'),
    variables: z.array(variableSchema).default([]),
    bulk: z.array(bulkSchema).default([]),
  })
  .describe('OPC UA server (node-opcua) with a configurable address space');

export type OpcuaSimulatorConfig = z.output<typeof opcuaSimulatorSchema>;
export type SimVariableConfig = z.output<typeof variableSchema>;
