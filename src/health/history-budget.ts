import { slotsOf } from './history.ts';
import type { TagStoreOptions } from './tags.ts';

/** min, max and last as float32 plus the bucket number: what one bucket of one tag takes */
export const BUCKET_BYTES = 16;
/** the hour-long tier never gets fewer buckets than this (5-minute buckets over an hour), whatever the budget */
const MIN_COARSE_SLOTS = 12;

export interface HistoryFit {
  options: TagStoreOptions;
  /** set when the coarse tier was widened to fit: its resolution before and after (ms), the bytes the configured tags would have taken */
  widened?: { from: number; to: number; wanted: number; now: number };
}

/**
 * The history tiers for `tags` configured tags within `maxBytes` (0: no bound). A gateway with
 * thousands of tags should not spend hundreds of MB on dashboard trends by default, so the
 * coarse tier's buckets widen (in whole seconds) until the tags fit; the live tier and the spans stay.
 */
export function fitHistory(opts: TagStoreOptions, tags: number, maxBytes: number): HistoryFit {
  const fine = slotsOf(opts.fine);
  const coarse = slotsOf(opts.coarse);
  const wanted = tags * (fine + coarse) * BUCKET_BYTES;
  if (maxBytes <= 0 || tags === 0 || wanted <= maxBytes) return { options: opts };
  const slots = Math.max(MIN_COARSE_SLOTS, Math.floor(maxBytes / BUCKET_BYTES / tags) - fine);
  if (slots >= coarse) return { options: opts };
  const resolution = Math.max(opts.coarse.resolution, Math.ceil(opts.coarse.span / slots / 1_000) * 1_000);
  const options = { ...opts, coarse: { ...opts.coarse, resolution } };
  return { options, widened: { from: opts.coarse.resolution, to: resolution, wanted, now: tags * (fine + slotsOf(options.coarse)) * BUCKET_BYTES } };
}
