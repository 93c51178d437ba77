import { AttributeIds, StatusCodes, makeBrowsePath, resolveNodeId, type ClientSession, type NodeId } from 'node-opcua-client';
import { toNodeId } from './server-identity.ts';
import type { OpcuaTag } from './config.ts';
import { firstLine } from './connect.ts';

export interface ResolvedTag {
  tag: OpcuaTag;
  nodeId: NodeId;
}

export interface Resolution {
  ok: ResolvedTag[];
  /** tags that cannot be monitored or read at all, with the status name as reason */
  bad: { tag: OpcuaTag; reason: string }[];
}

/** Parses a NodeId string; throws a readable error for bad syntax. */
export function parseNodeId(s: string): NodeId {
  return resolveNodeId(s);
}

/**
 * NodeIds parse locally (`nsu=` against the server's namespace array); browse paths are
 * translated on the server in chunks. Run again whenever the server may have renumbered.
 */
export async function resolveTags(session: ClientSession, tags: readonly OpcuaTag[], chunkSize: number, namespaces: readonly string[]): Promise<Resolution> {
  const out: Resolution = { ok: [], bad: [] };
  const byPath: OpcuaTag[] = [];
  for (const tag of tags) {
    if (tag.nodeId !== undefined) {
      try {
        out.ok.push({ tag, nodeId: toNodeId(tag.nodeId, namespaces) });
      } catch (e) {
        out.bad.push({ tag, reason: firstLine(e) });
      }
    } else byPath.push(tag);
  }
  for (let i = 0; i < byPath.length; i += chunkSize) {
    const chunk = byPath.slice(i, i + chunkSize);
    const paths = [];
    const valid: OpcuaTag[] = [];
    for (const tag of chunk) {
      try {
        paths.push(makeBrowsePath('RootFolder', tag.browsePath!));
        valid.push(tag);
      } catch (e) {
        out.bad.push({ tag, reason: `BadBrowseNameInvalid: ${firstLine(e)}` });
      }
    }
    if (paths.length === 0) continue;
    const results = await session.translateBrowsePath(paths);
    results.forEach((r, k) => {
      const tag = valid[k]!;
      const target = r.targets?.[0];
      if (r.statusCode.isGood() && target) out.ok.push({ tag, nodeId: target.targetId as unknown as NodeId });
      else out.bad.push({ tag, reason: `${r.statusCode.isGood() ? StatusCodes.BadNoMatch.name : r.statusCode.name}: browse path ${tag.browsePath} does not resolve` });
    });
  }
  return out;
}

export function readValueIds(tags: readonly ResolvedTag[]) {
  return tags.map((t) => ({ nodeId: t.nodeId, attributeId: AttributeIds.Value }));
}
