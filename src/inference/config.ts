import { z } from 'zod';
import { idSchema } from '../core/config-common.ts';
import { SOURCE_TAG_PATTERN } from '../core/ids.ts';
import { duration } from '../core/units.ts';

// Owned by the inference issue (#6): the `models:` list.

/** "source/tag": the source id (no slash) and the tag name (which may itself contain slashes). */
export const tagRefSchema = z
  .string()
  .regex(SOURCE_TAG_PATTERN, 'expected "source/tag", e.g. "plant/temperature"')
  .describe('a tag as "source/tag": the source id, a slash, then the tag name');

export function splitTagRef(ref: string): { source: string; tag: string } {
  const i = ref.indexOf('/');
  return { source: ref.slice(0, i), tag: ref.slice(i + 1) };
}

const normaliseSchema = z
  .union([
    z.strictObject({
      mean: z.number().describe('subtracted from the value'),
      std: z.number().positive().describe('the difference is divided by this'),
    }),
    z.strictObject({
      min: z.number().describe('maps to 0'),
      max: z.number().describe('maps to 1'),
    }).refine((m) => m.max > m.min, { message: 'max must be greater than min' }),
  ])
  .describe('normalisation applied before the model: {mean, std} gives (x-mean)/std, {min, max} gives (x-min)/(max-min)');

const featureSchema = z.strictObject({
  tag: tagRefSchema,
  normalise: normaliseSchema.optional(),
});

export const calendarSchema = z
  .strictObject({
    utcOffset: z.number().int().min(-14 * 60).max(14 * 60).default(0)
      .describe('minutes added to UTC to get the plant\'s local time for the calendar (fixed: no daylight saving)'),
  })
  .describe('two values appended to every window: hour of day (0-23) and day of week (0 = Monday) of its last row, local time');

export const baselineSchema = z
  .strictObject({
    halfLife: z.number().int().positive().describe('rows (samples of the first tag) after which a row that left the window weighs half as much'),
  })
  .describe('an exponential moving average of each feature over the rows that have left the window, started at the model\'s normal centre: F values (the average so far) and its weight, appended to every window');

export const summarySchema = z
  .strictObject({
    recent: z.number().int().positive().describe('rows at the end of the window whose mean, minus the window mean, is the shift statistic (at most window)'),
  })
  .describe('the model gets per feature the window\'s mean, its shift (mean of the last `recent` rows minus the mean) and its standard deviation (population), kept as running sums in float64 as rows arrive, instead of window x features raw values: the statistics models written by `fieldgate model fit` score, at a cost that does not grow with the window');

export const modelInputSchema = z
  .strictObject({
    name: z.string().min(1).describe('the ONNX input name'),
    features: z.array(featureSchema).min(1)
      .describe('the tags, in the order the model expects them; the first tag drives the window (one row per sample of it), the others are sampled-and-held'),
    window: z.number().int().positive().describe('rows (time steps) per window'),
    stride: z.number().int().positive().default(1).describe('rows between the ends of two consecutive windows'),
    layout: z.enum(['flat', 'sequence']).default('flat')
      .describe('flat: [batch, window*features], time-major (row 0 features, then row 1, ...); sequence: [batch, window, features]'),
    onBad: z.enum(['skip', 'impute']).default('skip')
      .describe('a bad-quality or non-numeric sample: skip every window containing its row, or impute the last good value of that tag'),
    maxHold: duration().optional()
      .describe('a held value of a slower tag older than this (relative to the row) makes the row bad; unset: no limit'),
    calendar: calendarSchema.optional()
      .describe('append the calendar position of the window\'s last row (hour of day, day of week) after the window values, for models fitted with calendar profiles (fieldgate model fit); flat layout only'),
    baseline: baselineSchema.optional()
      .describe('append a slowly adapting baseline of every feature after the window values (and the calendar), for models fitted with --baseline (fieldgate model fit); flat layout only'),
    summary: summarySchema.optional()
      .describe('feed window statistics instead of the raw window: [mean of every feature, then shift of every feature, then std dev of every feature] (3 x features values), then the calendar and baseline values as usual; models written by fieldgate model fit need it (model.yaml says so); flat layout only'),
  })
  .refine((i) => i.calendar === undefined || i.layout === 'flat', { message: 'calendar needs layout: flat', path: ['calendar'] })
  .refine((i) => i.baseline === undefined || i.layout === 'flat', { message: 'baseline needs layout: flat', path: ['baseline'] })
  .refine((i) => i.summary === undefined || i.layout === 'flat', { message: 'summary needs layout: flat', path: ['summary'] })
  .refine((i) => i.summary === undefined || i.summary.recent <= i.window, { message: 'summary.recent must not exceed window (the recent rows are the last rows of the window)', path: ['summary', 'recent'] })
  .describe('how windows are built from tags');

export const modelOutputSchema = z.strictObject({
  name: z.string().min(1).describe('the ONNX output name'),
  field: idSchema().optional().describe('the prediction field it becomes (default: the output name)'),
  index: z.number().int().nonnegative().default(0).describe('which element of the per-window output row to take'),
});

export const thresholdSchema = z
  .strictObject({
    field: z.string().describe('a prediction field from outputs'),
    above: z.number().optional().describe('raise an event when the field goes above this'),
    below: z.number().optional().describe('raise an event when the field goes below this'),
    clear: z.number().optional()
      .describe('hysteresis: the event condition ends only once the field is back below (for above) or above (for below) this; default: the raise level'),
    clearAfter: duration().optional()
      .describe('the event ends only once the field has stayed past clear this long (source time): a score that dips for a moment inside one anomaly does not end it and raise it again; default: at once'),
    severity: z.enum(['info', 'warning', 'critical']).default('warning'),
    kind: z.string().default('threshold').describe('the event kind'),
  })
  .superRefine((t, ctx) => {
    if ((t.above === undefined) === (t.below === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'set exactly one of above or below' });
    }
    if (t.clear !== undefined && t.above !== undefined && t.clear > t.above) {
      ctx.addIssue({ code: 'custom', path: ['clear'], message: `clear (${t.clear}) must not be above "above" (${t.above})` });
    }
    if (t.clear !== undefined && t.below !== undefined && t.clear < t.below) {
      ctx.addIssue({ code: 'custom', path: ['clear'], message: `clear (${t.clear}) must not be below "below" (${t.below})` });
    }
  })
  .describe('an event raised when a prediction field crosses a level, with hysteresis');

export const batchingSchema = z
  .strictObject({
    maxBatch: z.number().int().positive().max(4096).default(64).describe('windows per request the batcher forms (models with a dynamic batch dimension); a worker may run several queued requests as one session.run unless workers.merge is false'),
    maxWait: duration().prefault(10).describe('how long the first window of a batch waits for more'),
    queue: z.number().int().positive().default(1024).describe('windows the request channel holds; when full the oldest is dropped and counted'),
  })
  .describe('micro-batching');

export const workersSchema = z
  .strictObject({
    min: z.number().int().positive().default(1).describe('workers always running'),
    max: z.number().int().positive().default(2).describe('workers at most'),
    intraOpNumThreads: z.number().int().positive().default(1).describe('threads per ONNX session'),
    merge: z.boolean().default(true).describe('a worker runs the requests it holds as one session.run (dynamic batch dimension only; each request still gets exactly its rows): far fewer calls, larger runs'),
    nice: z.number().int().min(0).max(19).default(5).describe('Linux niceness of the worker threads, so inference yields the CPU to the event loop on small machines'),
    targetP99: duration().prefault(100).describe('scale up when run latency p99 exceeds this or the queue backs up'),
    cooldown: duration().prefault(10_000).describe('least time between two scaling decisions'),
  })
  .refine((w) => w.max >= w.min, { message: 'workers.max must be >= workers.min' })
  .describe('the worker pool (worker_threads, one ONNX session each)');

export const modelBreakerSchema = z
  .strictObject({
    failureRate: z.number().min(0).max(1).default(0.5),
    minCalls: z.number().int().positive().default(3),
    window: duration().prefault(30_000),
    cooldown: duration().prefault(10_000),
  })
  .describe('circuit breaker over model runs: while open, predictions pause and ingestion goes on');

export const modelSchema = z
  .strictObject({
    id: idSchema().describe('unique model id'),
    path: z.string().describe('the .onnx file (relative to the config file)'),
    enabled: z.boolean().default(true),
    sha256: z.string().regex(/^[0-9a-f]{64}$/).optional().describe('if set, the model file must have this SHA-256'),
    input: modelInputSchema,
    outputs: z.array(modelOutputSchema).min(1).describe('model outputs mapped to prediction fields'),
    thresholds: z.array(thresholdSchema).default([]),
    batching: batchingSchema.prefault({}),
    workers: workersSchema.prefault({}),
    deadline: duration().prefault(5_000).describe('a window not computed within this time of being assembled is dropped and counted'),
    breaker: modelBreakerSchema.prefault({}),
    watch: z.boolean().default(true).describe('hot-swap the model when its file changes'),
  })
  .superRefine((m, ctx) => {
    const fields = new Set(m.outputs.map((o) => o.field ?? o.name));
    if (fields.size !== m.outputs.length) ctx.addIssue({ code: 'custom', path: ['outputs'], message: 'two outputs map to the same field' });
    m.thresholds.forEach((t, i) => {
      if (!fields.has(t.field)) {
        ctx.addIssue({ code: 'custom', path: ['thresholds', i, 'field'], message: `unknown field "${t.field}"; outputs give: ${[...fields].join(', ')}` });
      }
    });
  });

export type ModelConfig = z.output<typeof modelSchema>;
export type ModelInputConfig = ModelConfig['input'];
export type ThresholdConfig = ModelConfig['thresholds'][number];
