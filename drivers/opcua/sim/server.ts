import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DataType,
  DataValue,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  StatusCodes,
  Subscription,
  Variant,
  VariantArrayType,
  type Namespace,
  type StatusCode,
  type UAObject,
} from 'node-opcua';
import { createGenerator, type Generator, type GeneratorConfig } from '../../../src/sim/generators.ts';
import type { SimulatorHandle, StageContext } from '../../../src/core/contracts.ts';
import { thumbprintOf } from '../pki.ts';
import { quietNodeOpcua } from '../quiet.ts';
import type { OpcuaSimulatorConfig, SimDataType } from './config.ts';

export interface OpcuaSimulatorHandle extends SimulatorHandle {
  /** the port actually bound (differs from the config when it asked for 0) */
  port: number;
  /** the server's application certificate (PEM file) and its SHA-1 thumbprint, for trusting it */
  certificateFile: string;
  thumbprint: string;
  /** the node-opcua server, for tests that need to reach inside */
  server: OPCUAServer;
}

const DATA_TYPES: Record<SimDataType, DataType> = {
  Double: DataType.Double, Float: DataType.Float, SByte: DataType.SByte, Byte: DataType.Byte,
  Int16: DataType.Int16, UInt16: DataType.UInt16, Int32: DataType.Int32, UInt32: DataType.UInt32,
  Int64: DataType.Int64, UInt64: DataType.UInt64, Boolean: DataType.Boolean, String: DataType.String,
  DateTime: DataType.DateTime,
};

const INT_RANGES: Partial<Record<SimDataType, [number, number]>> = {
  SByte: [-128, 127], Byte: [0, 255], Int16: [-32_768, 32_767], UInt16: [0, 65_535],
  Int32: [-2_147_483_648, 2_147_483_647], UInt32: [0, 4_294_967_295],
};

/** node-opcua carries 64-bit integers as [high, low] 32-bit words (two's complement for Int64). */
function int64Words(v: number): [number, number] {
  const u = BigInt.asUintN(64, BigInt(v));
  return [Number(u >> 32n), Number(u & 0xffffffffn)];
}

/**
 * How a generator's number becomes a value of the variable's type: integers are rounded and
 * clamped, Boolean is `value > 0`, String is the number with three decimals, DateTime is the
 * simulator's start time plus the value in seconds.
 */
export function toVariant(dataType: SimDataType, v: number, startedAt: number): Variant {
  const dt = DATA_TYPES[dataType];
  const range = INT_RANGES[dataType];
  if (range) return new Variant({ dataType: dt, value: Math.min(range[1], Math.max(range[0], Math.round(v))) });
  switch (dataType) {
    case 'Int64':
      return new Variant({ dataType: dt, arrayType: VariantArrayType.Scalar, value: int64Words(Math.round(v)) });
    case 'UInt64':
      return new Variant({ dataType: dt, arrayType: VariantArrayType.Scalar, value: int64Words(Math.max(0, Math.round(v))) });
    case 'Boolean':
      return new Variant({ dataType: dt, value: v > 0 });
    case 'String':
      return new Variant({ dataType: dt, value: v.toFixed(3) });
    case 'DateTime':
      return new Variant({ dataType: dt, value: new Date(startedAt + Math.round(v * 1000)) });
    default:
      return new Variant({ dataType: dt, value: v });
  }
}

/** A one-dimensional array whose element i is `v + i`, each converted like the scalar. */
export function toArrayVariant(dataType: SimDataType, v: number, length: number, startedAt: number): Variant {
  const elements: unknown[] = [];
  for (let i = 0; i < length; i++) elements.push(toVariant(dataType, v + i, startedAt).value);
  return new Variant({ dataType: DATA_TYPES[dataType], arrayType: VariantArrayType.Array, value: elements });
}

function statusByName(name: string): StatusCode {
  const sc = (StatusCodes as unknown as Record<string, StatusCode | undefined>)[name];
  if (!sc) throw new Error(`unknown StatusCode name "${name}"`);
  return sc;
}

/** Bumps a generator's phase or seed so bulk variables do not all show the same value. */
function varied(g: GeneratorConfig, i: number): GeneratorConfig {
  switch (g.kind) {
    case 'sine':
      return { ...g, phase: g.phase + (i * 2 * Math.PI) / 97 };
    case 'random-walk':
      return { ...g, seed: g.seed + i };
    default:
      return g;
  }
}

/**
 * Starts a node-opcua server with the configured address space under Objects, in namespace 1
 * (string NodeIds). Its certificate lives in <dataDir>/pki/opcua/simulator-<id>, so a restart
 * on the same data directory keeps the same thumbprint.
 */
export async function startOpcuaSimulator(cfg: OpcuaSimulatorConfig, ctx: StageContext): Promise<OpcuaSimulatorHandle> {
  quietNodeOpcua(ctx.log);
  // node-opcua caps notifications per publish response with a process-wide static (1000 by default)
  if (Subscription.maxNotificationPerPublishHighLimit < cfg.maxNotificationsPerPublish) {
    Subscription.maxNotificationPerPublishHighLimit = cfg.maxNotificationsPerPublish;
  }
  const pkiDir = join(ctx.gateway.dataDir, 'pki', 'opcua', `simulator-${cfg.id}`);
  const certificateManager = new OPCUACertificateManager({
    rootFolder: pkiDir,
    automaticallyAcceptUnknownCertificate: cfg.trustAllClients,
    disableFileWatchers: true,
  });
  await certificateManager.initialize();
  // X.509 user identities: only the configured certificates are trusted (kept apart from the
  // application certificates, and out of node-opcua's default per-user folder)
  const userCertificateManager = new OPCUACertificateManager({
    rootFolder: join(pkiDir, 'users'),
    automaticallyAcceptUnknownCertificate: false,
    disableFileWatchers: true,
  });
  try {
    await userCertificateManager.initialize();
    for (const f of cfg.trustedUserCertificates) {
      await userCertificateManager.trustCertificate(new X509Certificate(await readFile(ctx.resolvePath(f))).raw);
    }
  } catch (e) {
    await userCertificateManager.dispose();
    await certificateManager.dispose();
    throw e;
  }
  const users = new Map(cfg.users.map((u) => [u.username, u.password]));
  const server = new OPCUAServer({
    port: cfg.port,
    host: cfg.host,
    hostname: cfg.host === '0.0.0.0' || cfg.host === '::' ? undefined : cfg.host,
    resourcePath: cfg.resourcePath,
    serverCertificateManager: certificateManager,
    userCertificateManager,
    securityModes: cfg.securityModes.map((m) => MessageSecurityMode[m]),
    securityPolicies: cfg.securityPolicies.map((p) => SecurityPolicy[p]),
    allowAnonymous: cfg.allowAnonymous,
    disableDiscovery: cfg.disableDiscovery,
    userManager: { isValidUser: (username: string, password: string) => users.get(username) === password },
    buildInfo: { productName: `fieldgate simulator ${cfg.id}`, manufacturerName: 'fieldgate' },
    serverCapabilities: { maxMonitoredItems: 200_000, maxMonitoredItemsPerSubscription: 200_000, operationLimits: { maxMonitoredItemsPerCall: 50_000, maxNodesPerRead: 50_000 } },
    maxConnectionsPerEndpoint: 50,
  });
  try {
    await server.initialize();
    buildAddressSpace(server, cfg, ctx);
    await server.start();
  } catch (e) {
    await server.shutdown(0).catch(() => {});
    await userCertificateManager.dispose();
    await certificateManager.dispose();
    throw e;
  }
  const port = server.endpoints[0]!.port;
  const address = server.getEndpointUrl();
  const certificateFile = server.certificateFile;
  const thumbprint = thumbprintOf(await readFile(certificateFile));
  let stopped = false;
  return {
    address,
    port,
    certificateFile,
    thumbprint,
    server,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.shutdown(0);
      await userCertificateManager.dispose();
      await certificateManager.dispose();
    },
  };
}

function buildAddressSpace(server: OPCUAServer, cfg: OpcuaSimulatorConfig, ctx: StageContext): void {
  const addressSpace = server.engine.addressSpace!;
  for (const uri of cfg.extraNamespaces) addressSpace.registerNamespace(uri);
  const ns = cfg.namespaceUri ? addressSpace.registerNamespace(cfg.namespaceUri) : addressSpace.getOwnNamespace();
  const folders = new Map<string, UAObject>();
  const folderAt = (parts: string[]): UAObject => {
    let parent = addressSpace.rootFolder.objects as UAObject;
    for (let i = 0; i < parts.length; i++) {
      const key = parts.slice(0, i + 1).join('/');
      let f = folders.get(key);
      if (!f) {
        f = ns.addFolder(parent, { browseName: parts[i]!, nodeId: `s=${parts.slice(0, i + 1).join('.')}` });
        folders.set(key, f);
      }
      parent = f;
    }
    return parent;
  };
  const startedAt = Date.now();
  const t0 = performance.now();
  for (const v of cfg.variables) {
    const parts = v.path.split('/');
    const name = parts.pop()!;
    addVariable(ns, folderAt(parts), name, v.nodeId ?? v.path.replace(/\//g, '.'), v.dataType,
      createGenerator(v.generator, ctx.resolvePath), v.status ? statusByName(v.status) : StatusCodes.Good, startedAt, t0, v.arrayLength);
  }
  for (const b of cfg.bulk) {
    const folder = folderAt(b.folder.split('/'));
    for (let i = 0; i < b.count; i++) {
      const name = `${b.prefix}${i}`;
      addVariable(ns, folder, name, `${b.folder.replace(/\//g, '.')}.${name}`, b.dataType,
        createGenerator(varied(b.generator, i), ctx.resolvePath), StatusCodes.Good, startedAt, t0);
    }
  }
}

function addVariable(
  ns: Namespace, parent: UAObject, name: string, id: string, dataType: SimDataType,
  gen: Generator, status: StatusCode, startedAt: number, t0: number, arrayLength?: number,
): void {
  ns.addVariable({
    componentOf: parent,
    browseName: name,
    // 'i=<n>' gives a numeric NodeId (servers that number nodes in creation order), anything else a string one
    nodeId: /^i=\d+$/.test(id) ? id : `s=${id}`,
    dataType: DataType[DATA_TYPES[dataType]],
    ...(arrayLength === undefined ? {} : { valueRank: 1, arrayDimensions: [arrayLength] }),
    accessLevel: 'CurrentRead',
    userAccessLevel: 'CurrentRead',
    minimumSamplingInterval: 10,
    value: {
      // sampled by the server at each monitored item's sampling interval
      timestamped_get: () => {
        const now = new Date();
        return new DataValue({
          value: arrayLength === undefined
            ? toVariant(dataType, gen(performance.now() - t0), startedAt)
            : toArrayVariant(dataType, gen(performance.now() - t0), arrayLength, startedAt),
          statusCode: status,
          sourceTimestamp: now,
          serverTimestamp: now,
        });
      },
    },
  });
}
