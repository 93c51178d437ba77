import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { findDriver } from '../../drivers/index.ts';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { FgError } from '../core/errors.ts';
import { didYouMean, formatLocated, formatPath, locate, type LocatedError, type YamlPath } from './located.ts';
import { configSchema, type FieldgateConfig } from './schema.ts';
import { keysAt } from './schema-walk.ts';
import { substituteSecrets } from './substitute.ts';

export interface LoadedConfig {
  config: FieldgateConfig;
  /** absolute path of the file */
  file: string;
  /** folder relative paths in the file are resolved against */
  baseDir: string;
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  schema?: z.ZodType;
}

/** Thrown when a configuration is refused; `errors` holds every located problem at once. */
export class ConfigError extends FgError {
  readonly errors: LocatedError[];
  constructor(errors: LocatedError[], code: 'FG_E_CONFIG_INVALID' | 'FG_E_CONFIG_YAML' | 'FG_E_CONFIG_ENV_MISSING' | 'FG_E_MODEL_LOAD' | 'FG_E_MODEL_FEATURE' = 'FG_E_CONFIG_INVALID') {
    super(code, errors.map(formatLocated).join('\n'));
    this.errors = errors;
  }
}

/** Reads, substitutes and validates a config file. Throws FG_E_CONFIG_FILE or a ConfigError. */
export function loadConfigFile(file: string, opts: LoadOptions = {}): LoadedConfig {
  const abs = resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(code ?? e);
    throw new FgError('FG_E_CONFIG_FILE', `cannot read config file ${file}: ${why}`);
  }
  return { config: parseConfigText(text, basename(abs), dirname(abs), opts), file: abs, baseDir: dirname(abs) };
}

/** Validates YAML text; `name` is what error locations call the file. */
export function parseConfigText(text: string, name: string, baseDir: string, opts: LoadOptions = {}): FieldgateConfig {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const lp = counter.linePos(e.code === 'MISSING_CHAR' ? openingQuote(text, e.pos[0]) : e.pos[0]);
        return { file: name, line: lp.line, col: lp.col, path: '(yaml)', message: yamlMessage(e.code, e.message) };
      }),
      'FG_E_CONFIG_YAML',
    );
  }
  const errors: LocatedError[] = [];
  const at = (path: YamlPath, message: string, key = false): void => {
    const { line, col } = locate(doc, counter, path, { key });
    errors.push({ file: name, line, col, path: formatPath(path), message });
  };

  const substitution = substituteSecrets(doc, opts.env ?? process.env, baseDir);
  for (const p of substitution) at(p.path, p.message);
  // a value whose reference failed is not validated again: one problem, one message
  const unresolved = new Set(substitution.map((p) => formatPath(p.path)));
  const data: unknown = doc.toJS() ?? {};
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    at([], `expected a mapping with sections such as gateway, sources, sinks; got ${describe(data)}`);
    throw new ConfigError(errors);
  }
  checkDuplicateIds(data as Record<string, unknown>, at);

  const schema = opts.schema ?? configSchema;
  const result = schema.safeParse(data, { reportInput: true });
  if (!result.success) {
    const atChecked: At = (path, message, key) => {
      if (!unresolved.has(formatPath(path))) at(path, message, key);
    };
    for (const issue of result.error.issues) reportIssue(issue, schema, data, atChecked);
  } else if (!opts.schema) {
    checkModels(result.data as FieldgateConfig, baseDir, at);
  }
  if (errors.length > 0) {
    errors.sort((a, b) => a.line - b.line || a.col - b.col);
    const all = (prefix: string): boolean => errors.every((e) => e.message.startsWith(prefix));
    const code = all('environment variable') ? 'FG_E_CONFIG_ENV_MISSING'
      : all('FG_E_MODEL_LOAD') ? 'FG_E_MODEL_LOAD' : all('FG_E_MODEL_FEATURE') ? 'FG_E_MODEL_FEATURE' : 'FG_E_CONFIG_INVALID';
    throw new ConfigError(errors, code);
  }
  return result.data as FieldgateConfig;
}

type At = (path: YamlPath, message: string, key?: boolean) => void;

/**
 * Cross-checks of the enabled models, before anything starts (validate, run and reload all
 * load through here): the model file is there and readable, and every feature names a tag some
 * configured source produces.
 */
function checkModels(cfg: FieldgateConfig, baseDir: string, at: At): void {
  const produced = new Map<string, string[] | undefined>();
  for (const s of cfg.sources as { id: string; type: string }[]) produced.set(s.id, findDriver(s.type)?.tagNames?.(s));
  cfg.models.forEach((m, i) => {
    if (!m.enabled) return;
    const file = isAbsolute(m.path) ? m.path : resolve(baseDir, m.path);
    try {
      accessSync(file, constants.R_OK);
      if (!statSync(file).isFile()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a folder, not a file' : String(code ?? e);
      at(['models', i, 'path'], `FG_E_MODEL_LOAD: model ${m.id}: cannot read ${file}: ${why}`);
    }
    m.input.features.forEach((f, k) => {
      const slash = f.tag.indexOf('/');
      const source = f.tag.slice(0, slash);
      const tag = f.tag.slice(slash + 1);
      const where = ['models', i, 'input', 'features', k, 'tag'];
      if (!produced.has(source)) {
        const ids = [...produced.keys()];
        const hint = didYouMean(source, ids);
        at(where, `FG_E_MODEL_FEATURE: model ${m.id}, feature ${k} "${f.tag}": no source "${source}"${hint ? `; did you mean "${hint}"?` : ''} (sources: ${ids.join(', ') || 'none'})`);
        return;
      }
      const names = produced.get(source);
      if (!names) return; // a driver that cannot list its tags
      const base = /^(.*)\[\d+\]$/.exec(tag)?.[1];
      if (names.includes(tag) || (base !== undefined && names.includes(base))) return;
      const hint = didYouMean(tag, names);
      const list = names.length > 12 ? `${names.slice(0, 12).join(', ')}, ... (${names.length})` : names.join(', ');
      at(where, `FG_E_MODEL_FEATURE: model ${m.id}, feature ${k} "${f.tag}": source "${source}" produces no tag "${tag}"${hint ? `; did you mean "${source}/${hint}"?` : ''} (its tags: ${list})`);
    });
  });
}

function reportIssue(issue: z.core.$ZodIssue, schema: z.ZodType, data: unknown, at: At): void {
  const path = issue.path as (string | number)[];
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = keysAt(schema, path, data);
      for (const k of issue.keys) {
        const hint = didYouMean(k, known);
        const list = known.length ? ` (allowed: ${known.join(', ')})` : '';
        at([...path, k], `unknown key "${k}"${hint ? `; did you mean "${hint}"?` : list}`, true);
      }
      return;
    }
    case 'invalid_value': {
      const values = issue.values.map((v) => String(v));
      const got = 'input' in issue ? issue.input : undefined;
      const hint = typeof got === 'string' ? didYouMean(got, values) : undefined;
      at(path, `expected ${values.length === 1 ? JSON.stringify(values[0]) : `one of ${values.join(', ')}`}; got ${describe(got)}${hint ? ` (did you mean "${hint}"?)` : ''}`);
      return;
    }
    case 'invalid_union': {
      const u = issue as z.core.$ZodIssueInvalidUnion & { discriminator?: string; options?: unknown[]; note?: string };
      if (u.note === 'No matching discriminator' && u.options) {
        const obj = u.input as Record<string, unknown> | undefined;
        const got = obj && typeof obj === 'object' ? obj[u.discriminator ?? 'type'] : undefined;
        const opts = u.options.map(String);
        const hint = typeof got === 'string' ? didYouMean(got, opts) : undefined;
        const p = path[path.length - 1] === u.discriminator ? path : [...path, u.discriminator ?? 'type'];
        at(p, `expected one of ${opts.join(', ')}; got ${describe(got)}${hint ? ` (did you mean "${hint}"?)` : ''}`);
        return;
      }
      // report the branch that got furthest
      const branches = u.errors.filter((b) => b.length > 0);
      if (branches.length > 0) {
        const best = branches.reduce((a, b) => (a.length <= b.length ? a : b));
        for (const sub of best) reportIssue({ ...sub, path: [...path, ...sub.path] } as z.core.$ZodIssue, schema, data, at);
        return;
      }
      at(path, issue.message);
      return;
    }
    case 'invalid_type': {
      const got = 'input' in issue ? issue.input : undefined;
      if (got === undefined) {
        const key = path[path.length - 1];
        at(path.slice(0, -1), `missing required key "${String(key)}" (expected ${issue.expected})`);
        return;
      }
      at(path, `expected ${issue.expected}; got ${describe(got)}`);
      return;
    }
    case 'too_small':
    case 'too_big': {
      const got = 'input' in issue ? issue.input : undefined;
      const cmp = issue.code === 'too_small' ? (issue.inclusive === false ? 'more than' : 'at least') : issue.inclusive === false ? 'less than' : 'at most';
      const unit = issue.origin === 'array' ? ' items' : issue.origin === 'string' ? ' characters' : '';
      at(path, `expected ${cmp} ${String(issue.code === 'too_small' ? issue.minimum : issue.maximum)}${unit}; got ${describe(got)}`);
      return;
    }
    case 'invalid_format': {
      const got = 'input' in issue ? issue.input : undefined;
      at(path, `${issue.message.replace(/^Invalid string: /, '')}; got ${describe(got)}`);
      return;
    }
    default:
      at(path, issue.message);
  }
}

/** Duplicate ids are checked on the raw data so they are reported with every other error. */
function checkDuplicateIds(data: Record<string, unknown>, at: At): void {
  for (const section of ['sources', 'simulators', 'models', 'sinks']) {
    const list = data[section];
    if (!Array.isArray(list)) continue;
    const seen = new Map<string, number>();
    list.forEach((item: unknown, i) => {
      const id = item && typeof item === 'object' ? (item as Record<string, unknown>).id : undefined;
      if (typeof id !== 'string') return;
      const first = seen.get(id);
      if (first !== undefined) at([section, i, 'id'], `duplicate id "${id}" (first used at ${section}[${first}])`);
      else seen.set(id, i);
    });
  }
}

/** The parser reports an unclosed quote at the end of the file; point at where it was opened. */
function openingQuote(text: string, pos: number): number {
  let at = pos;
  for (const m of text.slice(0, pos).matchAll(/(?:^|[:\-[,{]\s*)(["'])/gm)) at = m.index + m[0].length - 1;
  return at;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${String(v)}`;
}

function yamlMessage(code: string, message: string): string {
  const first = message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  if (code === 'DUPLICATE_KEY') return `${first} (each key may appear once in a mapping)`;
  if (code === 'TAB_AS_INDENT') return `${first} (indent with spaces, not tabs)`;
  return `invalid YAML: ${first}`;
}

