const VARS = /\{(gateway|kind|source|tag)\}/g;
const HAS_VAR = /\{(gateway|kind|source|tag)\}/;

/** A value in a subject token: `.` would add a token, `*` `>` are wildcards, whitespace is not allowed. */
export function subjectToken(v: string): string {
  return v.replace(/[.*>\s]/g, '_') || '_';
}

/**
 * A subject template rendered once per (kind, source, tag) and then looked up: records come in
 * runs of a few sources and tags, so the hot path is one Map lookup per record.
 */
export class SubjectTemplate {
  private readonly cache = new Map<string, string>();
  private readonly usesTag: boolean;

  constructor(private readonly template: string, private readonly gateway: string) {
    this.usesTag = template.includes('{tag}');
  }

  render(kind: string, source: string, tag: string): string {
    const key = this.usesTag ? `${kind}\u0000${source}\u0000${tag}` : `${kind}\u0000${source}`;
    let s = this.cache.get(key);
    if (s === undefined) {
      const vars: Record<string, string> = { gateway: this.gateway, kind, source, tag };
      s = this.template.replace(VARS, (_, k: string) => subjectToken(vars[k]!));
      if (this.cache.size < 100_000) this.cache.set(key, s);
    }
    return s;
  }

  /** The subjects a created stream takes: a token holding a variable becomes `*`. */
  wildcard(): string {
    return this.template
      .split('.')
      .map((t) => (HAS_VAR.test(t) ? '*' : t))
      .join('.');
  }
}
