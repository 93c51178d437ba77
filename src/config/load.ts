import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { findDriverSchemas } from '../../drivers/schemas.ts';
import type { z } from 'zod';
import { FgError } from '../core/errors.ts';
import { didYouMean, formatLocated, formatPath, YamlIndex, type LocatedError, type YamlPath } from './located.ts';
import { configSchema, type FieldgateConfig } from './schema.ts';
import { keysAt } from './schema-walk.ts';
import { substituteSecrets } from './substitute.ts';
import { readYaml, YAML_LIMITS, YamlRefusal, type ReadYaml } from './yaml-read.ts';

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
  /** told of each value substituted from ${env:...} or ${file:...} */
  onSecret?: (value: string) => void;
}

/**
 * Bounds that keep a hostile or broken file from exhausting the process: the file's size, how far
 * YAML aliases may expand and how deep collections may nest (yaml-read.ts), and how many errors
 * are located and reported (the rest are counted).
 */
export const CONFIG_LIMITS = {
  /** a 100k-tag Modbus file is about 9 MB */
  maxBytes: 16 * 1024 * 1024,
  maxAliasNodes: YAML_LIMITS.maxAliasNodes,
  maxDepth: YAML_LIMITS.maxDepth,
  maxErrors: 50,
} as const;

export type ConfigErrorCode = 'FG_E_CONFIG_INVALID' | 'FG_E_CONFIG_YAML' | 'FG_E_CONFIG_ENV_MISSING' | 'FG_E_CONFIG_SECRET_FILE' | 'FG_E_CONFIG_LIMIT' | 'FG_E_MODEL_LOAD' | 'FG_E_MODEL_FEATURE';

/**
 * Thrown when a configuration is refused; `errors` holds the located problems (at most
 * CONFIG_LIMITS.maxErrors), `total` how many there were in all.
 */
export class ConfigError extends FgError {
  readonly errors: LocatedError[];
  readonly total: number;
  constructor(errors: LocatedError[], code: ConfigErrorCode = 'FG_E_CONFIG_INVALID', total = errors.length) {
    const more = total - errors.length;
    super(code, errors.map(formatLocated).join('\n') + (more > 0 ? `\n(${more} more error${more === 1 ? '' : 's'} not shown)` : ''));
    this.errors = errors;
    this.total = total;
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

interface Problem {
  path: YamlPath;
  message: string;
  key: boolean;
}

/** Validates YAML text; `name` is what error locations call the file. */
export function parseConfigText(text: string, name: string, baseDir: string, opts: LoadOptions = {}): FieldgateConfig {
  const whole = (message: string): LocatedError => ({ file: name, line: 1, col: 1, path: '(root)', message });
  if (text.length > CONFIG_LIMITS.maxBytes) {
    throw new ConfigError([whole(`the file is ${(text.length / 1048576).toFixed(1)} MiB; at most ${CONFIG_LIMITS.maxBytes / 1048576} MiB is accepted (split it, or reach for fewer tags per file)`)], 'FG_E_CONFIG_LIMIT');
  }
  let read: ReadYaml;
  try {
    read = readYaml(text);
  } catch (e) {
    if (!(e instanceof YamlRefusal)) throw e;
    const index = new YamlIndex(text, []);
    const shown = [...e.problems].sort((a, b) => a.pos - b.pos).slice(0, CONFIG_LIMITS.maxErrors);
    throw new ConfigError(
      shown.map((p) => ({ file: name, ...index.lineCol(p.pos), path: '(yaml)', message: p.message })),
      e.code,
      e.problems.length,
    );
  }
  const index = new YamlIndex(text, read.events);
  // Problems are collected unlocated: locating walks the events, so only the ones shown are located.
  // Past the limit problems are counted, not described: a message (a did-you-mean) can cost as much as locating it.
  const problems: Problem[] = [];
  let uncounted = 0;
  const at: At = (path, message, key = false) => {
    if (problems.length >= CONFIG_LIMITS.maxErrors) uncounted++;
    else problems.push({ path, message: typeof message === 'string' ? message : message(), key });
  };
  const located = (): LocatedError[] =>
    problems
      .slice(0, CONFIG_LIMITS.maxErrors)
      .map((p) => ({ file: name, ...index.locate(p.path, { key: p.key }), path: formatPath(p.path), message: p.message }))
      .sort((a, b) => a.line - b.line || a.col - b.col);

  const data = read.data ?? {};
  // a walk of every value; most files have no reference at all
  const substitution = text.includes('${') ? substituteSecrets(data, opts.env ?? process.env, baseDir, opts.onSecret) : [];
  for (const p of substitution) at(p.path, p.message);
  // a value whose reference failed is not validated again: one problem, one message
  const unresolved = new Set(substitution.map((p) => formatPath(p.path)));
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    at([], `expected a mapping with sections such as gateway, sources, sinks; got ${describe(data)}`);
    throw new ConfigError(located());
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
  if (problems.length > 0) {
    // only references failed: their own code says so
    const only = (prefix: string): boolean => uncounted === 0 && problems.every((e) => e.message.startsWith(prefix));
    const code = only('environment variable') ? 'FG_E_CONFIG_ENV_MISSING' : only('cannot read secret file') ? 'FG_E_CONFIG_SECRET_FILE'
      : only('FG_E_MODEL_LOAD') ? 'FG_E_MODEL_LOAD' : only('FG_E_MODEL_FEATURE') ? 'FG_E_MODEL_FEATURE' : 'FG_E_CONFIG_INVALID';
    throw new ConfigError(located(), code, problems.length + uncounted);
  }
  return result.data as FieldgateConfig;
}

/** Reports a problem; a message passed as a function is only built when it will be shown. */
type At = (path: YamlPath, message: string | (() => string), key?: boolean) => void;

/**
 * Cross-checks of the enabled models, before anything starts (validate, run and reload all
 * load through here): the model file is there and readable, and every feature names a tag some
 * configured source produces.
 */
function checkModels(cfg: FieldgateConfig, baseDir: string, at: At): void {
  const produced = new Map<string, string[] | undefined>();
  for (const s of cfg.sources) produced.set(s.id, findDriverSchemas(s.type)?.tagNames?.(s));
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
      let known: string[] | undefined;
      for (const k of issue.keys) {
        at([...path, k], () => {
          known ??= keysAt(schema, path, data);
          const hint = didYouMean(k, known);
          const list = known.length ? ` (allowed: ${known.join(', ')})` : '';
          return `unknown key "${k}"${hint ? `; did you mean "${hint}"?` : list}`;
        }, true);
      }
      return;
    }
    case 'invalid_value': {
      at(path, () => {
        const values = issue.values.map((v) => String(v));
        const got = 'input' in issue ? issue.input : undefined;
        const hint = typeof got === 'string' ? didYouMean(got, values) : undefined;
        return `expected ${values.length === 1 ? JSON.stringify(values[0]) : `one of ${values.join(', ')}`}; got ${describe(got)}${hint ? ` (did you mean "${hint}"?)` : ''}`;
      });
      return;
    }
    case 'invalid_union': {
      const u = issue as z.core.$ZodIssueInvalidUnion & { discriminator?: string; options?: unknown[]; note?: string };
      if (u.note === 'No matching discriminator' && u.options) {
        const obj = u.input as Record<string, unknown> | undefined;
        const got = obj && typeof obj === 'object' ? obj[u.discriminator ?? 'type'] : undefined;
        const opts = u.options.map(String);
        const p = path[path.length - 1] === u.discriminator ? path : [...path, u.discriminator ?? 'type'];
        at(p, () => {
          const hint = typeof got === 'string' ? didYouMean(got, opts) : undefined;
          return `expected one of ${opts.join(', ')}; got ${describe(got)}${hint ? ` (did you mean "${hint}"?)` : ''}`;
        });
        return;
      }
      // report the branch that got furthest; a branch whose type did not match the input at all
      // ("expected string" for a mapping) got nowhere, whatever its issue count
      const branches = u.errors.filter((b) => b.length > 0);
      const typeMiss = (b: readonly z.core.$ZodIssue[]): boolean => b.length === 1 && b[0]!.code === 'invalid_type' && b[0]!.path.length === 0;
      if (branches.length > 0 && branches.every(typeMiss)) {
        const expected = [...new Set(branches.map((b) => (b[0] as z.core.$ZodIssueInvalidType).expected))].join(' or ');
        if (u.input === undefined) at(path.slice(0, -1), `missing required key "${String(path[path.length - 1])}" (expected ${expected})`);
        else at(path, `expected ${expected}; got ${describe(u.input)}`);
        return;
      }
      if (branches.length > 0) {
        const rank = (b: readonly z.core.$ZodIssue[]): number => (typeMiss(b) ? Number.POSITIVE_INFINITY : b.length);
        const best = branches.reduce((a, b) => (rank(a) <= rank(b) ? a : b));
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

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  // a hostile value (a 70,000-character id) is shown by its start and length, not whole
  if (typeof v === 'string') return v.length > 60 ? `${JSON.stringify(v.slice(0, 40))}... (${v.length} characters)` : JSON.stringify(v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return `${typeof v} ${v}`;
  return typeof v;
}
