import { isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node, type Pair } from 'yaml';

export type YamlPath = readonly (string | number)[];

/** One configuration error, pointing at the place in the file. */
export interface LocatedError {
  file: string;
  line: number;
  col: number;
  /** sources[1].tags[3].type */
  path: string;
  message: string;
}

export function formatPath(path: YamlPath): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? p : `.${p}`;
  }
  return out || '(root)';
}

export function formatLocated(e: LocatedError): string {
  return `${e.file}:${e.line}:${e.col} ${e.path}: ${e.message}`;
}

/**
 * Finds where a YAML path sits in the document. For a key that is present, `key: true` points
 * at the key itself (for unknown keys); otherwise at the value. When the path does not exist
 * (a missing required key), it points at the deepest parent that does.
 */
export function locate(
  doc: Document,
  counter: LineCounter,
  path: YamlPath,
  opts: { key?: boolean } = {},
): { line: number; col: number } {
  let node: unknown = doc.contents;
  let pos = 0;
  if (isNode(node) && node.range) pos = node.range[0];
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p: Pair) => keyString(p.key) === String(seg));
      if (!pair) break;
      const keyNode = pair.key;
      if (last && opts.key && isNode(keyNode) && keyNode.range) {
        pos = keyNode.range[0];
        break;
      }
      node = pair.value;
      if (isNode(node) && node.range) pos = node.range[0];
      else if (isNode(keyNode) && keyNode.range) pos = keyNode.range[0];
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (item === undefined) break;
      node = item;
      if (isNode(node) && node.range) pos = node.range[0];
    } else break;
  }
  const lp = counter.linePos(pos);
  return { line: lp.line, col: lp.col };
}

function isNode(n: unknown): n is Node {
  return typeof n === 'object' && n !== null && 'range' in n;
}

function keyString(k: unknown): string {
  if (isScalar(k)) return String(k.value);
  if (isPair(k)) return String(k.key);
  return String(k);
}

/** Edit distance with adjacent transpositions (optimal string alignment), for did-you-mean. */
export function distance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  const d: number[][] = Array.from({ length: m + 1 }, (_, i) => Array.from({ length: n + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= m; i++) {
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[m]![n]!;
}

/** The closest candidate when it is close enough to be a typo. */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const lw = word.toLowerCase();
  for (const c of candidates) {
    const d = distance(lw, c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  if (best === undefined) return undefined;
  return bestD <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}
