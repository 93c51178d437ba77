import type { z } from 'zod';

/** The parts of zod's internal definition that the walker reads. */
interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  innerType?: z.ZodType;
  in?: z.ZodType;
  options?: z.ZodType[];
}

function defOf(s: z.ZodType): Def {
  return (s as unknown as { _zod: { def: Def } })._zod.def;
}

/** Strips optional/default/pipe wrappers down to the schema that holds the shape. */
function unwrap(s: z.ZodType): z.ZodType {
  for (let i = 0; i < 20; i++) {
    const d = defOf(s);
    if (d.innerType) s = d.innerType;
    else if (d.type === 'pipe' && d.in) s = d.in;
    else return s;
  }
  return s;
}

/** Picks the union member that fits `value` (by its `type` literal), else undefined. */
function pickOption(options: z.ZodType[], value: unknown): z.ZodType | undefined {
  const t = value && typeof value === 'object' ? (value as Record<string, unknown>).type : undefined;
  for (const o of options) {
    const shape = defOf(unwrap(o)).shape;
    const lit = shape?.type ? (defOf(unwrap(shape.type)) as Def & { values?: unknown[] }).values : undefined;
    if (lit && lit.includes(t)) return o;
  }
  return undefined;
}

/**
 * The keys an object in the schema accepts at `path` (following the data through arrays and
 * discriminated unions), for did-you-mean on unknown keys.
 */
export function keysAt(schema: z.ZodType, path: readonly PropertyKey[], data: unknown): string[] {
  let s = unwrap(schema);
  let v: unknown = data;
  const step = (): boolean => {
    const d = defOf(s);
    if ((d.type === 'union' || d.type === 'discriminatedUnion') && d.options) {
      const o = pickOption(d.options, v);
      if (!o) return false;
      s = unwrap(o);
    }
    return true;
  };
  for (const seg of path) {
    if (!step()) return [];
    const d = defOf(s);
    if (d.type === 'object' && d.shape && typeof seg === 'string' && d.shape[seg]) {
      s = unwrap(d.shape[seg]);
      v = v && typeof v === 'object' ? (v as Record<string, unknown>)[seg] : undefined;
    } else if (d.type === 'array' && d.element && typeof seg === 'number') {
      s = unwrap(d.element);
      v = Array.isArray(v) ? v[seg] : undefined;
    } else return [];
  }
  if (!step()) return [];
  const d = defOf(s);
  return d.type === 'object' && d.shape ? Object.keys(d.shape) : [];
}
