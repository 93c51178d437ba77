/**
 * The config reference (docs/config.md) and the JSON Schema for editors, both rendered from
 * the config schema, the single source of truth. scripts/config-docs.ts writes them to docs/.
 */
import { z } from 'zod';
import { ID_MAX_LENGTH } from '../core/ids.ts';
import { CONFIG_LIMITS } from './load.ts';
import { configSchema } from './schema.ts';

interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  pattern?: string;
  additionalProperties?: boolean | JsonSchema;
  /** set by duration() and size() in src/core/units.ts */
  'x-unit'?: 'duration' | 'size';
}

/** The JSON Schema editors use (`# yaml-language-server: $schema=.../docs/fieldgate.schema.json`). */
export function renderJsonSchema(): string {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' });
  return `${JSON.stringify({ ...schema, title: 'fieldgate configuration' }, null, 2)}\n`;
}

function typeOf(s: JsonSchema): string {
  if (s['x-unit']) return s['x-unit'];
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  if (s.enum) return s.enum.map((v) => `\`${String(v)}\``).join(' \\| ');
  const alts = s.anyOf ?? s.oneOf;
  if (alts) {
    const parts = alts.map(typeOf);
    return [...new Set(parts)].join(' \\| ');
  }
  if (s.type === 'array') return `list of ${s.items ? typeOf(s.items) : 'any'}`;
  if (Array.isArray(s.type)) return s.type.join(' \\| ');
  if (s.type === 'object' && !s.properties) return 'mapping';
  if (s.type === 'object') return 'mapping';
  let t = s.type ?? 'any';
  if (t === 'integer' || t === 'number') {
    const lo = s.minimum ?? (s.exclusiveMinimum !== undefined ? `>${s.exclusiveMinimum}` : undefined);
    const hi = s.maximum !== undefined && s.maximum < Number.MAX_SAFE_INTEGER ? s.maximum : undefined;
    if (lo !== undefined || hi !== undefined) t += ` (${lo ?? ''}..${hi ?? ''})`;
  }
  return t;
}

function cell(v: unknown): string {
  return String(v).replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function fmtDefault(v: unknown, unit?: string): string {
  if (v === undefined) return '';
  if (unit === 'duration' && typeof v === 'number') return `\`${humanDuration(v)}\``;
  if (unit === 'size' && typeof v === 'number') return `\`${humanSize(v)}\``;
  if (typeof v === 'object' && v !== null && Object.keys(v).length === 0) return '';
  return `\`${JSON.stringify(v)}\``;
}

function humanDuration(ms: number): string {
  for (const [unit, n] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000]] as const) {
    if (ms >= n && ms % n === 0) return `${ms / n}${unit}`;
  }
  return `${ms}ms`;
}

function humanSize(b: number): string {
  for (const [unit, n] of [['GB', 1e9], ['MB', 1e6], ['KB', 1e3]] as const) {
    if (b >= n && b % n === 0) return `${b / n}${unit}`;
  }
  for (const [unit, n] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const) {
    if (b >= n && b % n === 0) return `${b / n}${unit}`;
  }
  return `${b}`;
}

/** One table row per field, nested mappings flattened as a.b.c. */
function rows(s: JsonSchema, prefix: string, out: string[]): void {
  const req = new Set(s.required ?? []);
  for (const [key, prop] of Object.entries(s.properties ?? {})) {
    if (key === '$schema') continue;
    const path = prefix ? `${prefix}.${key}` : key;
    const required = req.has(key) && prop.default === undefined ? 'yes' : '';
    out.push(`| \`${path}\` | ${typeOf(prop)} | ${required} | ${fmtDefault(prop.default, prop['x-unit'])} | ${cell(prop.description ?? '')} |`);
    if (prop.type === 'object' && prop.properties) rows(prop, path, out);
    if (prop.type === 'array' && prop.items?.type === 'object' && prop.items.properties) rows(prop.items, `${path}[]`, out);
    if (prop.type === 'array' && prop.items) unionRows(prop.items, `${path}[]`, out);
    unionRows(prop, path, out);
  }
}

/**
 * The keys of each mapping member of a union (connection by transport, identity and generators
 * by kind, a tag given as a string or a mapping), under the same path, each row saying which
 * member it belongs to.
 */
function unionRows(s: JsonSchema, path: string, out: string[]): void {
  const flat = (x: JsonSchema): JsonSchema[] => (x.oneOf ?? x.anyOf ?? []).flatMap((m) => (m.oneOf ?? m.anyOf ? flat(m) : [m]));
  const members = flat(s).filter((m) => m.type === 'object' && m.properties);
  for (const m of members) {
    const tag = Object.entries(m.properties!).find(([, p]) => p.const !== undefined);
    const when = tag ? `${tag[0]}: ${String(tag[1].const)}` : 'as a mapping';
    const sub: string[] = [];
    rows(m, path, sub);
    for (const row of sub) {
      // the discriminator's own row is the heading of the member
      if (tag && row.startsWith(`| \`${path}.${tag[0]}\` |`)) {
        out.push(row.replace(/\| ([^|]*) \|$/, (_all, d: string) => `| **${when}**${d.trim() ? `: ${d.trim()}` : ''} |`));
        continue;
      }
      out.push(row.replace(/\| ([^|]*) \|$/, (_all, d: string) => `| (${when})${d.trim() ? ` ${d.trim()}` : ''} |`));
    }
  }
}

function table(s: JsonSchema, prefix = ''): string {
  const out = ['| key | type | required | default | description |', '|---|---|---|---|---|'];
  rows(s, prefix, out);
  return out.join('\n');
}

/** Members of a list of tagged unions (sources, sinks, simulators), each with its own table. */
function variants(items: JsonSchema | undefined): JsonSchema[] {
  if (!items) return [];
  return items.oneOf ?? items.anyOf ?? [items];
}

export function renderConfigDocs(): string {
  const root = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const props = root.properties ?? {};
  const md: string[] = [
    '# Configuration reference',
    '',
    '<!-- generated by scripts/config-docs.ts from the config schema; do not edit by hand (npm run docs:config) -->',
    '',
    'A fieldgate configuration is one YAML file. Put `# yaml-language-server: $schema=./fieldgate.schema.json` at the top',
    '(the file is `docs/fieldgate.schema.json` in the repository, or `fieldgate schema > fieldgate.schema.json`) and editors complete and check it as you type.',
    '',
    '- Unknown keys are errors, with a did-you-mean for typos.',
    '- **duration**: milliseconds, or a string such as `250ms`, `5s`, `2m`, `1h`, `1d`.',
    '- **size**: bytes, or a string such as `64KB`, `512MB` (decimal) or `64KiB`, `1GiB` (binary).',
    '- Secrets: any string may contain `${env:NAME}` or `${file:/path}`; the value is substituted at load time and never logged. `$${` writes a literal `${`.',
    '- Relative paths are relative to the folder of the config file.',
    `- Limits: a file of at most ${CONFIG_LIMITS.maxBytes / 1048576} MiB; YAML aliases may stand for at most ${CONFIG_LIMITS.maxAliasNodes} values in all, and collections nest at most ${CONFIG_LIMITS.maxDepth} deep; ids (gateway, sources, devices, models, sinks) at most ${ID_MAX_LENGTH} characters. A refused file shows its first ${CONFIG_LIMITS.maxErrors} errors, located, and counts the rest. Error codes are explained in [errors.md](errors.md).`,
    '',
  ];
  for (const [key, s] of Object.entries(props)) {
    if (key === '$schema') continue;
    md.push(`## \`${key}\``, '');
    if (s.description) md.push(s.description, '');
    if (s.type === 'array') {
      const vs = variants(s.items);
      for (const v of vs) {
        const t = v.properties?.type?.const;
        if (vs.length > 1 || t !== undefined) md.push(`### \`${key}\` of \`type: ${typeof t === 'string' ? t : '?'}\``, '');
        if (v.description && v.description !== s.description) md.push(v.description, '');
        md.push(table(v), '');
      }
    } else {
      md.push(table(s), '');
    }
  }
  return `${md.join('\n').trimEnd()}\n`;
}
