import { AttributeIds, BrowseDirection, DataType, NodeClass, VariantArrayType, type ClientSession, type ReferenceDescription } from 'node-opcua-client';
import { FgError } from '../../src/core/errors.ts';
import { NODE_ID_RE, type OpcuaSourceConfig } from './config.ts';
import { openConnection } from './connect.ts';
import { leaseClientPki } from './pki.ts';
import { quietNodeOpcua } from './quiet.ts';
import { readServerIdentity, toNodeId } from './server-identity.ts';
import { silentLogger } from '../../src/log.ts';
import { Unsupported, convertArray, qualityOf, toSample } from './values.ts';
import type { BrowseEntry } from './browse-format.ts';

export interface BrowseOptions {
  /** the gateway's data directory (absolute): the client certificate and trust list live there */
  dataDir: string;
  /** NodeId to list the children of; default the Objects folder (i=85) */
  node?: string;
  /** levels to descend below `node` (default 1: its children only; at most 6) */
  depth?: number;
  signal: AbortSignal;
  /** resolves relative paths of the source config (identity certificate files) */
  resolvePath?: (p: string) => string;
  /** stop after this many entries (default 5000) */
  limit?: number;
}

const OBJECTS = 'i=85';

async function browseChildren(session: ClientSession, nodeId: string): Promise<ReferenceDescription[]> {
  const out: ReferenceDescription[] = [];
  let r = await session.browse({
    nodeId, browseDirection: BrowseDirection.Forward, referenceTypeId: 'HierarchicalReferences', includeSubtypes: true, nodeClassMask: 0, resultMask: 63,
  });
  if (!r.statusCode.isGood()) throw new FgError('FG_E_OPCUA_NODE', `cannot browse ${nodeId}: ${r.statusCode.name}`);
  out.push(...(r.references ?? []));
  while (r.continuationPoint && r.continuationPoint.length > 0) {
    r = await session.browseNext(r.continuationPoint, false);
    out.push(...(r.references ?? []));
  }
  return out;
}

/**
 * Lists the address space below a node over the source's own connection settings (endpoint,
 * security, identity, trust), for writing tag lists. Read-only: Browse and Read services only.
 */
export async function browseOpcua(config: OpcuaSourceConfig, opts: BrowseOptions): Promise<BrowseEntry[]> {
  quietNodeOpcua(silentLogger());
  const start = opts.node ?? OBJECTS;
  if (!NODE_ID_RE.test(start)) {
    throw new FgError('FG_E_OPCUA_NODE', `"${start}" is not a NodeId; expected e.g. ns=2;s=Line1, nsu=urn:plant;s=Line1 or i=85`);
  }
  const maxDepth = Math.min(6, Math.max(1, opts.depth ?? 1));
  const limit = opts.limit ?? 5000;
  const pki = await leaseClientPki(opts.dataDir);
  try {
    const conn = await openConnection(config, pki, opts.resolvePath ?? ((p) => p), opts.signal);
    try {
      // nsu=<uri>;... names the namespace by URI: look it up in this server's namespace array
      let startId: string;
      try {
        startId = toNodeId(start, (await readServerIdentity(conn.session, config.endpoint)).namespaces).toString();
      } catch (e) {
        throw new FgError('FG_E_OPCUA_NODE', `cannot browse "${start}": ${(e as Error).message}`);
      }
      const entries: BrowseEntry[] = [];
      const walk = async (nodeId: string, path: string | undefined, depth: number): Promise<void> => {
        const refs = await browseChildren(conn.session, nodeId);
        for (const ref of refs) {
          if (entries.length >= limit || opts.signal.aborted) return;
          const browseName = `${ref.browseName.namespaceIndex}:${ref.browseName.name}`;
          const childPath = path === undefined ? undefined : `${path}/${browseName}`;
          const e: BrowseEntry = {
            nodeId: ref.nodeId.toString(),
            browseName,
            displayName: ref.displayName.text ?? ref.browseName.name ?? '',
            nodeClass: NodeClass[ref.nodeClass] ?? String(ref.nodeClass),
            browsePath: childPath,
            depth,
          };
          entries.push(e);
          if (ref.nodeClass === NodeClass.Object && depth + 1 < maxDepth) await walk(e.nodeId, childPath, depth + 1);
        }
      };
      await walk(startId, start === OBJECTS ? '/0:Objects' : undefined, 0);
      await describeVariables(conn.session, entries);
      return entries;
    } finally {
      await conn.close();
    }
  } finally {
    await pki.release();
  }
}

/** Fills dataType and current value of the variables with one chunked Read. */
async function describeVariables(session: ClientSession, entries: BrowseEntry[]): Promise<void> {
  const vars = entries.filter((e) => e.nodeClass === 'Variable');
  for (let i = 0; i < vars.length; i += 1000) {
    const chunk = vars.slice(i, i + 1000);
    const values = await session.read(chunk.map((v) => ({ nodeId: v.nodeId, attributeId: AttributeIds.Value })), 0);
    values.forEach((dv, k) => {
      const v = chunk[k]!;
      const s = toSample('browse', v.nodeId, dv, Date.now());
      v.dataType = DataType[dv.value.dataType] ?? String(dv.value.dataType);
      v.value = s.value === null ? '' : String(s.value);
      const arr = dv.value.arrayType === VariantArrayType.Array ? convertArray(dv.value.dataType, dv.value.arrayType, dv.value.value, 4) : undefined;
      if (arr && !(arr instanceof Unsupported)) {
        // an array tag becomes <tag>[0] .. <tag>[N-1]: show its length and first elements
        v.dataType = `${v.dataType}[${arr.length}]`;
        v.value = arr.values.map(String).join(', ') + (arr.length > arr.values.length ? ', …' : '');
        const q = qualityOf(dv.statusCode);
        v.quality = q === 'good' ? q : `${q} (${dv.statusCode.name})`;
        return;
      }
      v.quality = s.reason ? `${s.quality} (${s.reason})` : s.quality;
    });
  }
}
