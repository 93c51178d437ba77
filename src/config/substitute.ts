import { readFileSync } from 'node:fs';
import { isScalar, visit, type Document } from 'yaml';
import { registerSecret } from '../log.ts';
import type { YamlPath } from './located.ts';
import { resolveConfigPath } from '../core/config-paths.ts';

export interface SubstitutionProblem {
  path: YamlPath;
  message: string;
}

/**
 * Replaces `${env:NAME}` and `${file:/path}` in string scalars, in place. Substituted values
 * are registered as secrets so the logger never prints them. `$${` escapes a literal `${`.
 * A missing variable or unreadable file is reported with its YAML path, never thrown.
 */
export function substituteSecrets(
  doc: Document,
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
  visit(doc, {
    Scalar(_key, node, ancestry) {
      if (!isScalar(node) || typeof node.value !== 'string' || !node.value.includes('${')) return;
      const path = pathOf([...ancestry, node]);
      const raw = node.value;
      const out = raw.replace(/(\$?)\$\{(env|file):([^}]*)\}/g, (whole, escape: string, kind: string, arg: string) => {
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
      if (out !== raw) node.value = out;
    },
  });
  return problems;
}

/** Rebuilds the YAML path of a node from the visitor's ancestry. */
function pathOf(ancestry: readonly unknown[]): (string | number)[] {
  const path: (string | number)[] = [];
  for (let i = 0; i < ancestry.length; i++) {
    const a = ancestry[i] as { items?: unknown[]; key?: unknown };
    const next = ancestry[i + 1];
    if (Array.isArray(a.items) && next !== undefined) {
      const idx = a.items.indexOf(next);
      // pairs of a map are items too; their key is taken when we reach the pair
      if (idx >= 0 && !(next && typeof next === 'object' && 'key' in next && 'value' in next)) path.push(idx);
    }
    if (a && typeof a === 'object' && 'key' in a && 'value' in a) {
      const k = a.key;
      path.push(isScalar(k) ? String(k.value) : String(k));
    }
  }
  return path;
}
