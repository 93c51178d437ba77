import { COLLECTION_STYLE, EVENT_ID, type Event } from 'js-yaml';
import { keyOf, startOf } from './yaml-read.ts';

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
 * Finds where YAML paths sit in the text, from js-yaml's events (see yaml-read.ts). Its indexes
 * (where each collection ends, where each line starts) are built on the first question, so only
 * a refused file pays for them, and it is asked for at most the errors shown.
 */
export class YamlIndex {
  /** for each collection's event, the index of the event that closes it */
  private ends: Int32Array | undefined;
  private lineStarts: number[] | undefined;

  constructor(
    private readonly text: string,
    private readonly events: readonly Event[],
  ) {}

  /**
   * Where a YAML path sits. For a key that is present, `key: true` points at the key itself (for
   * unknown keys); otherwise at the value. When the path does not exist (a missing required key),
   * at the deepest parent that does; an empty value, at its key.
   */
  locate(path: YamlPath, opts: { key?: boolean } = {}): { line: number; col: number } {
    const ev = this.events;
    // events[0] opens the document; an empty file has no node
    let i = 1;
    let pos = i < ev.length ? Math.max(0, startOf(this.text, ev[i]!)) : 0;
    for (let s = 0; s < path.length && i < ev.length; s++) {
      const seg = path[s]!;
      const node = ev[i]!;
      let found = -1;
      if (node.type === EVENT_ID.MAPPING) {
        for (let j = i + 1; ev[j]!.type !== EVENT_ID.POP; ) {
          const value = this.next(j);
          const k = ev[j]!;
          if (k.type === EVENT_ID.SCALAR && keyOf(this.text, k) === String(seg)) {
            const keyPos = startOf(this.text, k);
            if (s === path.length - 1 && opts.key) return this.lineCol(keyPos);
            found = value;
            const at = startOf(this.text, ev[value]!);
            pos = at >= 0 ? at : keyPos;
            break;
          }
          j = this.next(value);
        }
      } else if (node.type === EVENT_ID.SEQUENCE && typeof seg === 'number') {
        let j = i + 1;
        for (let n = 0; n < seg && ev[j]!.type !== EVENT_ID.POP; n++) j = this.next(j);
        if (ev[j]!.type !== EVENT_ID.POP) {
          found = j;
          const at = startOf(this.text, ev[j]!);
          if (at >= 0) pos = at;
          else if (node.style === COLLECTION_STYLE.BLOCK) pos = this.dash(node.start, seg);
        }
      }
      if (found < 0) break;
      i = found;
    }
    return this.lineCol(pos);
  }

  /** 1-based line and column of an offset (columns in UTF-16 units, as the `yaml` library counts). */
  lineCol(offset: number): { line: number; col: number } {
    this.lineStarts ??= lineStarts(this.text);
    const starts = this.lineStarts;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - starts[lo]! + 1 };
  }

  /**
   * An empty item of a block sequence has no position of its own: the `-` of item `n`, the
   * n-th line from the sequence's first that has its `-` in the sequence's column.
   */
  private dash(seqStart: number, n: number): number {
    const lineStart = this.text.lastIndexOf('\n', seqStart - 1) + 1;
    const col = seqStart - lineStart;
    let at = seqStart;
    for (let k = 0; k < n; k++) {
      let next = at;
      do {
        next = this.text.indexOf('\n', next) + 1;
        if (next === 0) return at;
      } while (!(this.text[next + col] === '-' && this.text.slice(next, next + col).trim() === ''));
      at = next + col;
    }
    return at;
  }

  /** The index of the node after the one at `i` (past a collection's closing event). */
  private next(i: number): number {
    const t = this.events[i]!.type;
    if (t !== EVENT_ID.MAPPING && t !== EVENT_ID.SEQUENCE) return i + 1;
    this.ends ??= closers(this.events);
    return this.ends[i]! + 1;
  }
}

function closers(events: readonly Event[]): Int32Array {
  const ends = new Int32Array(events.length);
  const open: number[] = [];
  for (let i = 0; i < events.length; i++) {
    const t = events[i]!.type;
    if (t === EVENT_ID.MAPPING || t === EVENT_ID.SEQUENCE || t === EVENT_ID.DOCUMENT) open.push(i);
    else if (t === EVENT_ID.POP) ends[open.pop() ?? 0] = i;
  }
  return ends;
}

export function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
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
