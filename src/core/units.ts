import { z } from 'zod';

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = {
  b: 1, kb: 1_000, mb: 1_000_000, gb: 1_000_000_000,
  kib: 1_024, mib: 1_048_576, gib: 1_073_741_824,
};

const DURATION_RE = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)\s*$/;
const SIZE_RE = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|kib|mib|gib)\s*$/i;

/** '250ms' -> 250, '5s' -> 5000, '1h' -> 3600000; a bare number is milliseconds. */
export function parseDuration(v: string | number): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v : undefined;
  const m = DURATION_RE.exec(v);
  return m ? Math.round(Number(m[1]) * DURATION_UNITS[m[2]!]!) : undefined;
}

/** '64KB' -> 64000, '512MiB' -> 536870912; a bare number is bytes. KB/MB/GB are decimal, KiB/MiB/GiB binary. */
export function parseSize(v: string | number): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? Math.floor(v) : undefined;
  const m = SIZE_RE.exec(v);
  return m ? Math.floor(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!) : undefined;
}

/** A duration field: accepts '250ms', '5s', '2m', '1h', '1d' or milliseconds; yields milliseconds. */
export function duration() {
  return z
    .union([z.number().nonnegative(), z.string()])
    .transform((v, ctx) => {
      const ms = parseDuration(v);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: `expected a duration such as 250ms, 5s, 2m, 1h; got ${JSON.stringify(v)}` });
        return z.NEVER;
      }
      return ms;
    })
    .meta({ description: 'duration: a number of milliseconds or a string such as 250ms, 5s, 2m, 1h, 1d', 'x-unit': 'duration' });
}

/** A size field: accepts '64KB', '512MB', '1GiB' or bytes; yields bytes. */
export function size() {
  return z
    .union([z.number().nonnegative(), z.string()])
    .transform((v, ctx) => {
      const b = parseSize(v);
      if (b === undefined) {
        ctx.addIssue({ code: 'custom', message: `expected a size such as 64KB, 512MB, 1GiB; got ${JSON.stringify(v)}` });
        return z.NEVER;
      }
      return b;
    })
    .meta({ description: 'size: a number of bytes or a string such as 64KB, 512MB, 1GiB (KB/MB/GB decimal, KiB/MiB/GiB binary)', 'x-unit': 'size' });
}
