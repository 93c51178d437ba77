import { AttributeIds, resolveNodeId, type ClientSession, type DataValue, type NodeId } from 'node-opcua-client';
import { FgError } from '../../src/core/errors.ts';

/**
 * What tells us whether NodeIds learned earlier still mean the same variables: the server's
 * namespace array (indexes in `ns=` NodeIds point into it) and its start time (a restart may
 * renumber everything). Both nodes are mandatory in every OPC UA server (Part 5, 6.3.1).
 */
export interface ServerIdentity {
  namespaces: string[];
  /** ServerStatus.StartTime in ms since epoch (NaN when the server reports none) */
  startTime: number;
}

export const NAMESPACE_ARRAY = resolveNodeId('i=2255');
export const SERVER_START_TIME = resolveNodeId('i=2257');

export const identityReadIds = () => [
  { nodeId: NAMESPACE_ARRAY, attributeId: AttributeIds.Value },
  { nodeId: SERVER_START_TIME, attributeId: AttributeIds.Value },
];

export function namespacesOf(dv: DataValue): string[] | undefined {
  const v = dv.value?.value as unknown;
  return dv.statusCode.isGood() && Array.isArray(v) ? v.map(String) : undefined;
}

export function startTimeOf(dv: DataValue): number | undefined {
  const v = dv.value?.value as unknown;
  return dv.statusCode.isGood() && v instanceof Date ? v.getTime() : undefined;
}

/** Interprets a Read of identityReadIds(); throws a coded error when the namespace array is missing. */
export function identityFrom(values: readonly DataValue[], endpoint: string): ServerIdentity {
  const namespaces = values[0] ? namespacesOf(values[0]) : undefined;
  if (!namespaces) {
    throw new FgError('FG_E_OPCUA_SESSION', `${endpoint}: cannot read the server's NamespaceArray (i=2255): ${values[0]?.statusCode.name ?? 'no value'}`);
  }
  return { namespaces, startTime: (values[1] && startTimeOf(values[1])) ?? Number.NaN };
}

export async function readServerIdentity(session: ClientSession, endpoint: string): Promise<ServerIdentity> {
  return identityFrom(await session.read(identityReadIds(), 0), endpoint);
}

export function sameIdentity(a: ServerIdentity, b: ServerIdentity): boolean {
  return (a.startTime === b.startTime || (Number.isNaN(a.startTime) && Number.isNaN(b.startTime)))
    && a.namespaces.length === b.namespaces.length && a.namespaces.every((u, i) => u === b.namespaces[i]);
}

/** What changed, in words, for the log line. */
export function identityChange(before: ServerIdentity, after: ServerIdentity): string {
  const parts: string[] = [];
  if (before.startTime !== after.startTime && !(Number.isNaN(before.startTime) && Number.isNaN(after.startTime))) {
    parts.push(`server restarted (start time ${fmt(before.startTime)} -> ${fmt(after.startTime)})`);
  }
  if (before.namespaces.join('\n') !== after.namespaces.join('\n')) parts.push('namespace array changed');
  return parts.join(', ');
}

const fmt = (t: number) => (Number.isNaN(t) ? 'unknown' : new Date(t).toISOString());

const NSU = /^nsu=([^;]+);(.+)$/s;

/**
 * A NodeId string for this server: `ns=`, `i=`, ... parse as they are; `nsu=<uri>;<id>` (the
 * namespace written as its URI, Part 6, 5.3.1.10) is looked up in the server's namespace array,
 * so it stays right when the server reorders its namespaces. Throws an Error whose message is the
 * reason the tag is bad.
 */
export function toNodeId(s: string, namespaces: readonly string[]): NodeId {
  const m = NSU.exec(s);
  if (!m) {
    try {
      return resolveNodeId(s);
    } catch {
      throw new Error('BadNodeIdInvalid');
    }
  }
  let uri = m[1]!;
  try {
    uri = decodeURIComponent(uri); // reserved characters such as ';' are percent-encoded in the URI
  } catch { /* keep it as written */ }
  const index = namespaces.indexOf(uri);
  if (index < 0) throw new Error(`BadNodeIdUnknown: namespace ${uri} is not in the server's namespace array`);
  try {
    return resolveNodeId(`ns=${index};${m[2]}`);
  } catch {
    throw new Error('BadNodeIdInvalid');
  }
}
