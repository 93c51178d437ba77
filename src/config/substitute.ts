import { readFileSync } from 'node:fs';
import { registerSecret } from '../log.ts';
import type { YamlPath } from './located.ts';
import { resolveConfigPath } from '../core/config-paths.ts';

export interface SubstitutionProblem {
  path: YamlPath;
  message: string;
}

/**
 * Replaces `${env:NAME}` and `${file:/path}` in the string values of the loaded YAML, in place.
 * Substituted values are registered as secrets so the logger never prints them. `$${` escapes a
 * literal `${`. A missing variable or unreadable file is reported with its YAML path, never thrown.
 */
export function substituteSecrets(
  data: unknown,
  env: NodeJS.ProcessEnv,
  baseDir: string,
  /** also told of each substituted value (a worker thread hands them to the main thread's logger) */
  onSecret?: (value: string) => void,
): SubstitutionProblem[] {
  const problems: SubstitutionProblem[] = [];
  const secret = (v: string): void => {
    registerSecret(v);
    onSecret?.(v);
  };
  const substitute = (raw: string, path: YamlPath): string =>
    raw.replace(/(\$?)\$\{(env|file):([^}]*)\}/g, (whole, escape: string, kind: string, arg: string) => {
      if (escape === '$') return whole.slice(1);
      const name = arg.trim();
      if (kind === 'env') {
        const v = env[name];
        if (v === undefined) {
          problems.push({ path, message: `environment variable ${name} is not set (referenced as \${env:${name}})` });
          return '';
        }
        secret(v);
        return v;
      }
      const file = resolveConfigPath(baseDir, name);
      try {
        const v = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
        secret(v);
        return v;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? 'error';
        problems.push({ path, message: `cannot read secret file ${file} (${code}) referenced as \${file:${name}}` });
        return '';
      }
    });
  // an aliased value is one object in several places: substituted once (a substituted secret
  // holding `${` must not be read again), its problems reported where it is first met
  const seen = new Set<object>();
  const walk = (node: Record<string, unknown> | unknown[], path: (string | number)[]): void => {
    if (seen.has(node)) return;
    seen.add(node);
    const keys: (string | number)[] = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
    for (const k of keys) {
      const v = (node as Record<string | number, unknown>)[k];
      if (typeof v === 'string') {
        if (v.includes('${')) (node as Record<string | number, unknown>)[k] = substitute(v, [...path, k]);
      } else if (typeof v === 'object' && v !== null) walk(v as Record<string, unknown>, [...path, k]);
    }
  };
  if (typeof data === 'object' && data !== null) walk(data as Record<string, unknown>, []);
  return problems;
}
