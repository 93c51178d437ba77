import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { YamlIndex } from '../../../src/config/located.ts';
import { readYaml, YamlRefusal } from '../../../src/config/yaml-read.ts';

/**
 * The config loader reads YAML with js-yaml (yaml-read.ts); it used the `yaml` library before,
 * and a second parser might read a value differently. These properties generate config-like YAML
 * (scalars of every kind, quoting and block styles, flow and block collections, anchors, aliases
 * and `<<` keys, comments) and require, for every text the `yaml` library reads without error:
 * js-yaml gives the same JS value, or refuses it with a located, coded message; and every node is
 * located where the `yaml` library puts it.
 */

// plain scalars of every kind the YAML 1.2 core schema resolves, and strings that look like them
const PLAIN = [
  // ints
  '0', '42', '-17', '+5', '007', '0o17', '0o0', '0x1F', '0xff', '0XFF', '0b101', '1_000', '9007199254740993', '12345678901234567890', '-0', '+0',
  // floats
  '1.5', '-0.0', '.5', '1.', '1e3', '1.5E-3', '-2.5e+2', '.inf', '-.Inf', '+.INF', '.nan', '.NaN', '.NAN', '1e400', '0.1', '6.02e23',
  // booleans, and YAML 1.1 booleans that are strings in 1.2
  'true', 'True', 'TRUE', 'false', 'False', 'FALSE', 'yes', 'no', 'on', 'off', 'y', 'n', 'Yes', 'NO', 'On',
  // nulls
  'null', 'Null', 'NULL', '~',
  // timestamps (strings in the core schema)
  '2001-12-14t21:59:43.10-05:00', '2002-12-14', '2001-12-14 21:59:43.10 -5',
  // config-like strings
  'hello', 'hello world', 'a:b', 'a#b', '-x', '127.0.0.1', '1.2.3', '40001', '10ms', '5s', '64KB', '1GiB', 'drop-oldest', 'ns=2;s=Tag.1',
  'mqtt://127.0.0.1:1883', 'C:\\data', '@', '%', 'é', 'ü tag', '0.0.0.0', '1:30', '190:20:30', 'x.y.z', '~x', 'null-ish', 'TRUE1',
];
const ESCAPES = ['\\n', '\\t', '\\\\', '\\"', '\\/', '\\x41', '\\u00e9', '\\U0001F600', '\\e', '\\N', '\\_', '\\0', '\\a', '\\L', '\\P', '\\ ', '\\b', '\\r', '\\v'];
// (a null key is refused: the two libraries name it differently; tested below)
const KEYS = ['id', 'name', 'type', 'host', 'port', 'tags', 'a', 'b', 'x1', 'dev-0', 'my key', '1', '2.0', 'true', '<<', '__proto__', 'on', '0x10', 'k.v'];

type Tree = { s: string } | { q: string; style: 'double' | 'single' } | { block: string[]; header: string } | { map: [string, Tree][]; flow: boolean } | { seq: Tree[]; flow: boolean };

const text = fc.string({ unit: fc.constantFrom('a', 'b', ' ', 'é', '"', "'", '\\', ':', '#', '-', '\t', '1', '{', '}', ',', '😀') , maxLength: 12 });
const scalar: fc.Arbitrary<Tree> = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...PLAIN).map((s) => ({ s })) },
  { weight: 2, arbitrary: fc.oneof(text, fc.constantFrom(...PLAIN)).map((q) => ({ q, style: 'double' as const })) },
  { weight: 1, arbitrary: fc.array(fc.constantFrom(...ESCAPES, 'a', ' '), { maxLength: 4 }).map((parts) => ({ q: `\u0000${parts.join('')}`, style: 'double' as const })) },
  { weight: 2, arbitrary: fc.oneof(text, fc.constantFrom(...PLAIN)).map((q) => ({ q, style: 'single' as const })) },
  {
    weight: 1,
    arbitrary: fc.record({
      block: fc.array(fc.constantFrom('line one', 'two', '', '  more indented', 'x: y', '# not a comment', 'tab\there'), { minLength: 1, maxLength: 4 }),
      header: fc.constantFrom('|', '|-', '|+', '>', '>-', '>+'),
    }),
  },
);
const { tree } = fc.letrec<{ tree: Tree }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'medium', withCrossShrink: true },
    { weight: 3, arbitrary: scalar },
    {
      weight: 2,
      arbitrary: fc.record({
        map: fc.uniqueArray(fc.tuple(fc.constantFrom(...KEYS), tie('tree')), { maxLength: 4, selector: ([k]) => k }),
        flow: fc.boolean(),
      }),
    },
    { weight: 1, arbitrary: fc.record({ seq: fc.array(tie('tree'), { maxLength: 4 }), flow: fc.boolean() }) },
  ),
}));

/** Renders a tree as YAML; anchors on some collections and scalars, aliases to earlier anchors. */
function render(root: Tree, choices: number[]): string {
  let c = 0;
  const pick = (n: number): number => (choices.length === 0 ? 0 : choices[c++ % choices.length]! % n);
  const anchors: string[] = [];
  const props = (): string => {
    if (pick(5) !== 0) return '';
    const name = `a${anchors.length}`;
    anchors.push(name);
    return `&${name} `;
  };
  const alias = (): string | undefined => (anchors.length > 0 && pick(6) === 0 ? `*${anchors[pick(anchors.length)]}` : undefined);
  const comment = (): string => (pick(7) === 0 ? '  # note' : '');
  const scalarText = (t: Tree, flow: boolean, indent: string): string | undefined => {
    if ('s' in t) return t.s === '' ? '' : t.s;
    if ('q' in t) {
      if (t.style === 'single') return `'${t.q.replaceAll("'", "''")}'`;
      if (t.q.startsWith('\u0000')) return `"${t.q.slice(1)}"`;
      return JSON.stringify(t.q);
    }
    if ('block' in t) return flow ? JSON.stringify(t.block.join('\n')) : `${t.header}\n${t.block.map((l) => (l === '' ? '' : `${indent}  ${l}`)).join('\n')}`;
    return undefined;
  };
  const flowText = (t: Tree): string => {
    const a = alias();
    if (a) return a;
    const s = scalarText(t, true, '');
    if (s !== undefined) {
      // a plain scalar in a flow collection may not hold flow indicators
      const p = props();
      return 's' in t && /[,[\]{}]|: |^:/.test(s) ? `${p}${JSON.stringify(s)}` : `${p}${s}`;
    }
    const p = props();
    if ('map' in t) return `${p}{ ${t.map.map(([k, v]) => `${key(k)}: ${flowText(v)}`).join(', ')} }`;
    if ('seq' in t) return `${p}[ ${t.seq.map(flowText).join(', ')} ]`;
    return '~';
  };
  const key = (k: string): string => (k.includes(' ') && pick(2) === 0 ? `"${k}"` : k);
  /** a node in block context after `key:` or `-` (on the same line, or on the next lines) */
  const block = (t: Tree, indent: string): string => {
    const a = alias();
    if (a) return ` ${a}${comment()}`;
    const s = scalarText(t, false, indent);
    if (s !== undefined) {
      const p = props();
      return s === '' && p === '' ? comment() : ` ${p}${s}${'block' in t ? '' : comment()}`;
    }
    if (('map' in t && t.map.length === 0) || ('seq' in t && t.seq.length === 0) || ('map' in t && t.flow) || ('seq' in t && t.flow)) return ` ${flowText(t)}`;
    const p = props();
    const inner = `${indent}  `;
    if ('map' in t) return ` ${p}${comment()}\n${t.map.map(([k, v]) => `${inner}${key(k)}:${block(v, inner)}`).join('\n')}`;
    if ('seq' in t) return ` ${p}${comment()}\n${t.seq.map((v) => `${inner}-${block(v, inner)}`).join('\n')}`;
    return ' ~';
  };
  if ('map' in root && root.map.length > 0 && !root.flow) return `${root.map.map(([k, v]) => `${key(k)}:${block(v, '')}`).join('\n')}\n`;
  return `${flowText(root)}\n`;
}

// a config file is a mapping at the top; now and then a flow collection or a lone scalar
const root: fc.Arbitrary<Tree> = fc.oneof(
  { weight: 8, arbitrary: fc.uniqueArray(fc.tuple(fc.constantFrom(...KEYS), tree), { minLength: 1, maxLength: 6, selector: ([k]) => k }).map((map) => ({ map, flow: false })) },
  { weight: 1, arbitrary: tree },
);
const docs = fc.tuple(root, fc.array(fc.nat(), { minLength: 1, maxLength: 30 })).map(([t, ch]) => render(t, ch));

function yamlLibrary(src: string): { doc: Document; value: unknown } | undefined {
  const doc = parseDocument(src, { uniqueKeys: false, prettyErrors: false });
  if (doc.errors.length > 0) return undefined;
  return { doc, value: doc.toJS({ maxAliasCount: -1 }) };
}

test('js-yaml reads config-like YAML to the same values as the yaml library, or refuses it', () => {
  let compared = 0;
  let refused = 0;
  fc.assert(
    fc.property(docs, (src) => {
      const ref = yamlLibrary(src);
      if (!ref) return; // not YAML to the yaml library: nothing to agree on
      let got: unknown;
      try {
        got = readYaml(src).data;
      } catch (e) {
        assert.ok(e instanceof YamlRefusal, `refused with a coded message, not ${String(e)}\n${src}`);
        refused++;
        return;
      }
      compared++;
      assert.deepStrictEqual(got, ref.value, src);
    }),
    { numRuns: 1500 },
  );
  // the generator must mostly produce YAML both read, or the property says little
  assert.ok(compared > 1100, `compared ${compared}, refused ${refused}`);
});

// the yaml library's scalars that agree or are refused, spelled out: what a reader of the docs expects
test('core-schema scalars read as YAML 1.2 says (yes/no/on/off and timestamps are strings)', () => {
  const { data } = readYaml('a: yes\nb: on\nc: 0o17\nd: 0x1F\ne: 017\nf: .inf\ng: ~\nh:\ni: 2001-12-14\nj: 1_000\nk: "\\x41\\u00e9"\n');
  assert.deepStrictEqual(data, { a: 'yes', b: 'on', c: 15, d: 31, e: 17, f: Infinity, g: null, h: null, i: '2001-12-14', j: '1_000', k: 'Aé' });
});

test('what the two libraries could read differently is refused, located', () => {
  const refusal = (src: string): string => {
    try {
      readYaml(src);
    } catch (e) {
      assert.ok(e instanceof YamlRefusal);
      return `${e.code} ${e.problems[0]!.pos} ${e.problems[0]!.message}`;
    }
    return 'accepted';
  };
  assert.equal(refusal('%YAML 1.1\n---\na: yes\n'), 'FG_E_CONFIG_YAML 0 YAML 1.1 is not read here: remove the %YAML directive (in YAML 1.2, yes/no/on/off are strings)');
  assert.equal(refusal('a: 1\n---\nb: 2\n'), 'FG_E_CONFIG_YAML 9 invalid YAML: a config file holds one document; this one has more (a second ---)');
  assert.equal(refusal('a: 1\n~: 2\n'), 'FG_E_CONFIG_YAML 5 invalid YAML: a mapping key is empty or null');
  assert.equal(refusal('a: 1\n"a": 2\n'), 'FG_E_CONFIG_YAML 5 Map keys must be unique (each key may appear once in a mapping)');
  assert.equal(refusal('1: a\n"1": b\n'), 'FG_E_CONFIG_YAML 5 Map keys must be unique (each key may appear once in a mapping)');
  assert.match(refusal('? [a, b]\n: 1\n'), /^FG_E_CONFIG_YAML 0 invalid YAML: object-based map does not support complex keys/);
  assert.match(refusal('a: !!timestamp 2001-12-14\n'), /^FG_E_CONFIG_YAML 3 invalid YAML: unknown .*timestamp/);
  assert.match(refusal('a: *nope\n'), /^FG_E_CONFIG_YAML 4 invalid YAML: unidentified alias "nope"/);
});

/** Where the yaml library puts a path: what the loader reported before it read with js-yaml. */
function referenceLocate(doc: Document, counter: LineCounter, path: (string | number)[], key: boolean): string | undefined {
  let node: unknown = doc.contents;
  let pos = (node as Node).range![0];
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg))!;
      if (i === path.length - 1 && key) {
        pos = (pair.key as Node).range![0];
        break;
      }
      node = pair.value;
    } else if (isSeq(node)) node = node.items[seg as number];
    else return undefined;
    // an empty value: the loader points at its key instead
    if (isScalar(node) && node.source === '' && node.range![0] === node.range![1]) return undefined;
    if (!node || typeof node !== 'object' || !('range' in node)) return undefined;
    pos = (node as Node).range![0];
  }
  const lp = counter.linePos(pos);
  return `${lp.line}:${lp.col}`;
}

/** Every path into a value, collections and leaves, not following a value met twice (an alias). */
function paths(v: unknown, at: (string | number)[] = [], seen = new Set<object>()): (string | number)[][] {
  const out = [at];
  if (typeof v !== 'object' || v === null || seen.has(v)) return out;
  seen.add(v);
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...at, i], seen)));
  else for (const k of Object.keys(v)) out.push(...paths((v as Record<string, unknown>)[k], [...at, k], seen));
  return out;
}

test('every node is located where the yaml library puts it (line and column, key or value)', () => {
  let located = 0;
  fc.assert(
    fc.property(docs, (src) => {
      const counter = new LineCounter();
      const doc = parseDocument(src, { uniqueKeys: false, prettyErrors: false, lineCounter: counter });
      if (doc.errors.length > 0) return;
      let read;
      try {
        read = readYaml(src);
      } catch {
        return;
      }
      const index = new YamlIndex(src, read.events);
      for (const p of paths(read.data)) {
        // keys that js-yaml and the yaml library spell differently in a path are not looked up
        if (p.some((s) => s === '__proto__')) continue;
        for (const key of [false, true]) {
          if (key && (p.length === 0 || typeof p[p.length - 1] === 'number')) continue;
          const want = referenceLocate(doc, counter, p, key);
          if (want === undefined) continue;
          const got = index.locate(p, { key });
          assert.equal(`${got.line}:${got.col}`, want, `${JSON.stringify(p)} key=${key}\n${src}`);
          located++;
        }
      }
    }),
    { numRuns: 1000 },
  );
  assert.ok(located > 10_000, `located ${located}`);
});
