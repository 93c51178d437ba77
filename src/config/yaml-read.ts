import {
  boolCoreTag,
  constructFromEvents,
  CORE_SCHEMA,
  defineScalarTag,
  EVENT_ID,
  floatCoreTag,
  getScalarValue,
  intCoreTag,
  NOT_RESOLVED,
  nullCoreTag,
  parseEvents,
  SCALAR_STYLE,
  YAMLException,
  type Event,
  type ScalarEvent,
} from 'js-yaml';
import { parseDocument } from 'yaml';

/**
 * Reads a config file's YAML with js-yaml's event parser (YAML 1.2 core schema, the `yaml`
 * library's default too): about ten times faster than the `yaml` library's parseDocument on a
 * 100k-tag file, and the events keep every node's offset, so errors are located from them
 * (YamlIndex in located.ts) without a second parser. test/unit/config/yaml-agree.test.ts checks
 * that both libraries read config-like YAML to the same values and places; what they could read
 * differently (a %YAML 1.1 directive, several documents, a null key) is refused here.
 */

export const YAML_LIMITS = {
  /** collections nested deeper than this are refused (a `[[[[...` file would exhaust the stack) */
  maxDepth: 64,
  /** nodes that aliases may stand for, in all: a "billion laughs" file stops here */
  maxAliasNodes: 100_000,
  /** below this size a syntax error is described by the `yaml` library, whose messages say more */
  detailBytes: 256 * 1024,
} as const;

/**
 * The core schema's numbers, as YAML 1.2 writes them (ints, octal, hex, floats). js-yaml reads
 * one out of a double's range (1e400) as a string; YAML 1.2 and the `yaml` library read it as
 * Infinity, and so does this schema.
 */
const CORE_NUMBER = /^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?)$/;
const floatTag = defineScalarTag(floatCoreTag.tagName, {
  implicit: true,
  implicitFirstChars: floatCoreTag.implicitFirstChars,
  resolve: (source, explicit, tagName) => {
    const v = floatCoreTag.resolve(source, explicit, tagName);
    return v !== NOT_RESOLVED || !CORE_NUMBER.test(source) ? v : Number(source);
  },
  identify: floatCoreTag.identify,
  represent: floatCoreTag.represent,
});
const SCHEMA = CORE_SCHEMA.withTags(floatTag);

export interface YamlProblem {
  /** offset in the text */
  pos: number;
  message: string;
}

/** The text is not YAML we read, or hits a limit: `problems` (all of them; the caller shows the first few). */
export class YamlRefusal extends Error {
  constructor(
    readonly code: 'FG_E_CONFIG_YAML' | 'FG_E_CONFIG_LIMIT',
    readonly problems: YamlProblem[],
  ) {
    super(problems[0]?.message ?? 'invalid YAML');
  }
}

export interface ReadYaml {
  /** the document's value; null for an empty file */
  data: unknown;
  events: Event[];
}

export function readYaml(text: string): ReadYaml {
  let events: Event[];
  try {
    events = parseEvents(text, { maxDepth: YAML_LIMITS.maxDepth });
  } catch (e) {
    if (!(e instanceof YAMLException)) throw e;
    const pos = e.mark?.position ?? 0;
    if (e.reason.startsWith('nesting exceeded maxDepth')) {
      throw new YamlRefusal('FG_E_CONFIG_LIMIT', [{ pos, message: `YAML nested deeper than ${YAML_LIMITS.maxDepth} levels; a configuration needs far fewer` }]);
    }
    const detail = text.length <= YAML_LIMITS.detailBytes ? yamlLibraryErrors(text) : [];
    throw new YamlRefusal('FG_E_CONFIG_YAML', detail.length > 0 ? detail : [{ pos, message: `invalid YAML: ${e.reason}` }]);
  }
  checkEvents(text, events);
  let docs: unknown[];
  try {
    docs = constructFromEvents(events, { source: text, schema: SCHEMA });
  } catch (e) {
    if (!(e instanceof YAMLException)) throw e;
    throw new YamlRefusal('FG_E_CONFIG_YAML', [{ pos: e.mark?.position ?? 0, message: `invalid YAML: ${e.reason}` }]);
  }
  return { data: docs[0] ?? null, events };
}

/** A scalar key as the loaded mapping holds it: js-yaml's plain objects key by String(value). */
export function keyOf(text: string, ev: ScalarEvent): string | null {
  const s = getScalarValue(text, ev);
  if (ev.style !== SCALAR_STYLE.PLAIN || ev.tagStart !== -1) return s;
  // most keys are words: only these first characters can start a null, bool, int or float
  if (s !== '' && !/^[-+.~0-9nNtTfF]/.test(s)) return s;
  for (const tag of [nullCoreTag, boolCoreTag, intCoreTag, floatTag]) {
    const v: unknown = tag.resolve(s, false, tag.tagName);
    if (v !== NOT_RESOLVED) return v === null ? null : String(v as boolean | number); // the core tags resolve to these
  }
  return s;
}

/** Where a node starts, as the `yaml` library's node.range[0] (after any anchor and tag). */
export function startOf(text: string, ev: Event): number {
  switch (ev.type) {
    case EVENT_ID.MAPPING:
    case EVENT_ID.SEQUENCE:
      return ev.start;
    case EVENT_ID.ALIAS:
      return ev.anchorStart - 1;
    case EVENT_ID.SCALAR: {
      if (ev.valueStart < 0) return -1;
      if (ev.style === SCALAR_STYLE.SINGLE_QUOTED || ev.style === SCALAR_STYLE.DOUBLE_QUOTED) return ev.valueStart - 1;
      if (ev.style === SCALAR_STYLE.LITERAL_BLOCK || ev.style === SCALAR_STYLE.FOLDED_BLOCK) return blockHeader(text, ev.valueStart);
      return ev.valueStart;
    }
    default:
      return -1;
  }
}

/** A block scalar's content starts on the line after its `|` or `>` header: point at the header. */
function blockHeader(text: string, contentStart: number): number {
  const lineStart = text.lastIndexOf('\n', contentStart - 2) + 1;
  const line = text.slice(lineStart, contentStart);
  const m = /[|>][0-9+-]*[ \t]*(?:#.*)?\r?\n?$/.exec(line);
  return m ? lineStart + m.index : contentStart;
}

interface Frame {
  map: boolean;
  keys: Set<string> | undefined;
  /** a mapping's next node is a key */
  atKey: boolean;
  /** nodes this collection stands for, aliases expanded */
  size: number;
  anchor: string | undefined;
}

/**
 * One pass over the events before anything is built: duplicate and null keys (all of them, not
 * just the first), several documents, a YAML version other than 1.2, and how far aliases expand
 * (js-yaml shares an aliased value, but the schema check and everything after it walk each copy).
 */
function checkEvents(text: string, events: Event[]): void {
  const problems: YamlProblem[] = [];
  const anchors = new Map<string, number>();
  const stack: Frame[] = [];
  let aliased = 0;
  let documents = 0;
  const name = (start: number, end: number): string | undefined => (start < 0 ? undefined : text.slice(start, end));
  /** a node of `size` nodes was read; it is the key or value of the enclosing collection */
  const add = (size: number): void => {
    const top = stack[stack.length - 1];
    if (!top) return;
    top.size += size;
    if (top.map) top.atKey = !top.atKey;
  };
  for (let i = 0; i < events.length; i++) {
    const ev = events[i]!;
    switch (ev.type) {
      case EVENT_ID.DOCUMENT: {
        documents++;
        const version = ev.directives.find((d) => d.kind === 'yaml');
        if (version && version.kind === 'yaml' && version.version !== '1.2') {
          problems.push({ pos: Math.max(0, text.indexOf('%YAML')), message: `YAML ${version.version} is not read here: remove the %YAML directive (in YAML 1.2, yes/no/on/off are strings)` });
        }
        if (documents === 2) {
          const next = events[i + 1];
          const at = next && next.type !== EVENT_ID.POP && next.type !== EVENT_ID.DOCUMENT ? startOf(text, next) : -1;
          problems.push({ pos: at >= 0 ? at : text.length, message: 'invalid YAML: a config file holds one document; this one has more (a second ---)' });
        }
        break;
      }
      case EVENT_ID.SCALAR: {
        const top = stack[stack.length - 1];
        if (top?.map && top.atKey) {
          const key = keyOf(text, ev);
          const pos = startOf(text, ev);
          if (key === null) problems.push({ pos: pos >= 0 ? pos : (ev.valueStart >= 0 ? ev.valueStart : 0), message: 'invalid YAML: a mapping key is empty or null' });
          else if (top.keys!.has(key)) problems.push({ pos, message: 'Map keys must be unique (each key may appear once in a mapping)' });
          else top.keys!.add(key);
        }
        const anchor = name(ev.anchorStart, ev.anchorEnd);
        if (anchor !== undefined) anchors.set(anchor, 1);
        add(1);
        break;
      }
      case EVENT_ID.SEQUENCE:
      case EVENT_ID.MAPPING: {
        const map = ev.type === EVENT_ID.MAPPING;
        stack.push({ map, keys: map ? new Set() : undefined, atKey: true, size: 1, anchor: name(ev.anchorStart, ev.anchorEnd) });
        break;
      }
      case EVENT_ID.ALIAS: {
        // an unknown anchor is js-yaml's to refuse, when it builds the value
        const size = anchors.get(text.slice(ev.anchorStart, ev.anchorEnd)) ?? 1;
        aliased += size;
        if (aliased > YAML_LIMITS.maxAliasNodes) {
          throw new YamlRefusal('FG_E_CONFIG_LIMIT', [
            { pos: startOf(text, ev), message: `YAML aliases expand too far (to more than ${YAML_LIMITS.maxAliasNodes} values); write the values out or use fewer nested aliases` },
          ]);
        }
        add(size);
        break;
      }
      case EVENT_ID.POP: {
        const frame = stack.pop();
        if (!frame) break; // the end of a document
        if (frame.anchor !== undefined) anchors.set(frame.anchor, frame.size);
        add(frame.size);
        break;
      }
    }
  }
  if (problems.length > 0) throw new YamlRefusal('FG_E_CONFIG_YAML', problems);
}

/** The `yaml` library's account of a syntax error: clearer than js-yaml's ("Missing closing quote"). */
function yamlLibraryErrors(text: string): YamlProblem[] {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: false });
  return doc.errors.map((e) => ({ pos: e.code === 'MISSING_CHAR' ? openingQuote(text, e.pos[0]) : e.pos[0], message: yamlMessage(e.code, e.message) }));
}

/** The parser reports an unclosed quote at the end of the file; point at where it was opened. */
function openingQuote(text: string, pos: number): number {
  let at = pos;
  for (const m of text.slice(0, pos).matchAll(/(?:^|[:\-[,{]\s*)(["'])/gm)) at = m.index + m[0].length - 1;
  return at;
}

function yamlMessage(code: string, message: string): string {
  const first = message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  if (code === 'DUPLICATE_KEY') return `${first} (each key may appear once in a mapping)`;
  if (code === 'TAB_AS_INDENT') return `${first} (indent with spaces, not tabs)`;
  return `invalid YAML: ${first}`;
}
