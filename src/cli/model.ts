import { basename, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { stringify } from 'yaml';
import { parseDuration } from '../core/units.ts';
import { UsageError } from './usage.ts';

// `fieldgate model inspect|fit|evaluate`: each sub-command parses its own flags.

export const MODEL_USAGE = `usage:
  fieldgate model inspect FILE.onnx
  fieldgate model fit --data FILE.csv (--normal-until TIME | --normal-from TIME --normal-to TIME) --out DIR
        [--name NAME] [--force] [--columns a,b] [--time-column C] [--window ROWS|DURATION] [--stride ROWS]
        [--period DURATION] [--quantile Q | --events-per-week N] [--margin M] [--calendar auto|on|off]
        [--utc-offset MINUTES] [--holdout FRACTION] [--stats level,shift,spread] [--baseline HALF-LIFE|off]
        [--clear-after DURATION] [--input summary|window] [--json]
  fieldgate model evaluate DIR --data FILE.csv [--windows FILE.json [--key KEY]] [--json]`;

/** parseArgs, its complaints (unknown flag, missing value) as usage errors */
function parse<const T extends ParseArgsConfig>(cfg: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(cfg);
  } catch (e) {
    throw new UsageError(`${(e as Error).message.split('\n')[0]}\n${MODEL_USAGE}`);
  }
}

function num(name: string, v: string | undefined, check: (n: number) => boolean, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || !check(n)) throw new UsageError(`--${name}: expected ${what}, got "${v}"`);
  return n;
}

function time(name: string, v: string | undefined, parse: (s: string) => number): number | undefined {
  if (v === undefined) return undefined;
  const t = parse(v);
  if (!Number.isFinite(t)) throw new UsageError(`--${name}: expected a timestamp such as 2013-12-10 or 2013-12-10T06:25:00, got "${v}"`);
  return t;
}

/** A progress line on stderr, only on a terminal, at most every 100 ms. */
function progressLine(): { update: (s: string) => void; done: () => void } {
  const tty = process.stderr.isTTY === true;
  let last = 0;
  let shown = false;
  return {
    update(s) {
      if (!tty) return;
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      shown = true;
      process.stderr.write(`\r\x1b[2K${s}`);
    },
    done() {
      if (tty && shown) process.stderr.write('\r\x1b[2K');
    },
  };
}

const iso = (t: number): string => new Date(t).toISOString().replace(':00.000Z', 'Z');
const fmt = (x: number, d = 4): string => String(Number(x.toPrecision(d)));
function dur(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000} d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${ms / 1000} s`;
}

export async function modelFit(args: string[]): Promise<number> {
  const { values, positionals } = parse({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      data: { type: 'string' }, out: { type: 'string' }, name: { type: 'string' }, force: { type: 'boolean' },
      'normal-until': { type: 'string' }, 'normal-from': { type: 'string' }, 'normal-to': { type: 'string' },
      columns: { type: 'string' }, 'time-column': { type: 'string' },
      window: { type: 'string' }, stride: { type: 'string' }, period: { type: 'string' },
      quantile: { type: 'string' }, 'events-per-week': { type: 'string' }, margin: { type: 'string' },
      calendar: { type: 'string' }, 'utc-offset': { type: 'string' }, holdout: { type: 'string' }, stats: { type: 'string' },
      baseline: { type: 'string' }, 'clear-after': { type: 'string' }, input: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (positionals.length > 0) throw new UsageError(`model fit takes no positional arguments (got "${positionals[0]}")\n${MODEL_USAGE}`);
  if (!values.data) throw new UsageError(`model fit needs --data FILE.csv\n${MODEL_USAGE}`);
  if (!values.out) throw new UsageError(`model fit needs --out DIR (where model.onnx and model.yaml go)\n${MODEL_USAGE}`);
  if (!values['normal-until'] && !values['normal-to'] && !values['normal-from']) {
    throw new UsageError('model fit needs the normal period: --normal-until TIME, or --normal-from TIME and/or --normal-to TIME (data you declare normal; labels are never needed)');
  }
  if (values['normal-until'] && values['normal-to']) throw new UsageError('--normal-until and --normal-to say the same thing; give one');
  const { readTable, parseTimestamp } = await import('../inference/fit/csv.ts');
  const { fit } = await import('../inference/fit/fit.ts');
  const { STATS } = await import('../inference/fit/graph.ts');
  const { modelMeta, writeModelDir, configSnippet } = await import('../inference/fit/model-dir.ts');
  const calendar = values.calendar;
  if (calendar !== undefined && !['auto', 'on', 'off'].includes(calendar)) throw new UsageError(`--calendar: expected auto, on or off, got "${calendar}"`);
  const form = values.input;
  if (form !== undefined && form !== 'summary' && form !== 'window') throw new UsageError(`--input: expected summary (window statistics as running sums, the default) or window (the raw window), got "${form}"`);
  const stats = values.stats?.split(',').map((s) => s.trim());
  for (const s of stats ?? []) if (!(STATS as readonly string[]).includes(s)) throw new UsageError(`--stats: unknown statistic "${s}"; known: ${STATS.join(', ')}`);
  let window: number | undefined;
  let windowMs: number | undefined;
  if (values.window !== undefined) {
    if (/^\d+$/.test(values.window)) window = num('window', values.window, (n) => n >= 2, 'a number of rows >= 2');
    else {
      windowMs = parseDuration(values.window);
      if (windowMs === undefined || windowMs <= 0) throw new UsageError(`--window: expected a number of rows or a duration such as 6h, got "${values.window}"`);
    }
  }
  const period = values.period === undefined ? undefined : parseDuration(values.period);
  if (values.period !== undefined && !(period! > 0)) throw new UsageError(`--period: expected a duration such as 5m, got "${values.period}"`);
  let baselineHalfLife: number | undefined;
  if (values.baseline !== undefined && values.baseline !== 'off') {
    baselineHalfLife = parseDuration(values.baseline);
    if (!(baselineHalfLife! > 0)) throw new UsageError(`--baseline: expected a half-life such as 1d, or off, got "${values.baseline}"`);
  }
  const clearAfter = values['clear-after'] === undefined ? undefined : parseDuration(values['clear-after']);
  if (values['clear-after'] !== undefined && clearAfter === undefined) throw new UsageError(`--clear-after: expected a duration such as 6h or 0, got "${values['clear-after']}"`);
  const out = resolve(values.out);
  const name = values.name ?? basename(out);
  const started = performance.now();
  const bar = progressLine();
  const table = readTable(values.data, {
    timeColumn: values['time-column'],
    columns: values.columns?.split(',').map((c) => c.trim()).filter(Boolean),
  });
  bar.update(`read ${table.ts.length} rows`);
  const result = fit(table, {
    name,
    normalFrom: time('normal-from', values['normal-from'], parseTimestamp),
    normalTo: time('normal-until', values['normal-until'], parseTimestamp) ?? time('normal-to', values['normal-to'], parseTimestamp),
    window, windowMs,
    stride: num('stride', values.stride, (n) => Number.isInteger(n) && n >= 1, 'a whole number >= 1'),
    period,
    quantile: num('quantile', values.quantile, (n) => n > 0 && n <= 1, 'a number in (0, 1]'),
    eventsPerWeek: num('events-per-week', values['events-per-week'], (n) => n >= 0, 'a number >= 0'),
    margin: num('margin', values.margin, (n) => n > 0, 'a number > 0'),
    calendar: calendar as 'auto' | 'on' | 'off' | undefined,
    utcOffset: num('utc-offset', values['utc-offset'], (n) => Number.isInteger(n) && Math.abs(n) <= 840, 'minutes from UTC, -840..840'),
    holdout: num('holdout', values.holdout, (n) => n > 0 && n < 0.9, 'a fraction in (0, 0.9)'),
    stats: stats as (typeof STATS[number])[] | undefined,
    baselineHalfLife, clearAfter, form,
    onProgress: (phase, done) => bar.update(`fitting: ${phase} ${Math.round(done * 100)}%`),
  });
  const command = `fieldgate model fit ${args.map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(' ')}`;
  const meta = modelMeta(result, name, command);
  writeModelDir(out, result, meta, values.force === true);
  bar.done();
  const seconds = (performance.now() - started) / 1000;
  const rep = result.report;
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ out, sha256: meta.sha256, seconds, report: rep, input: result.input }, null, 2)}\n`);
    return 0;
  }
  const d = rep.dropped;
  const lines = [
    `fitted ${name} on ${table.columns.join(', ')} from ${values.data} in ${seconds.toFixed(1)} s`,
    `  rows: ${rep.rows} read, ${rep.rowsNormal} in the normal period ${iso(rep.normalFrom)} .. ${iso(rep.normalTo)}` +
      (d.outOfOrder + d.emptyDriver + d.beforeAllTags > 0 ? ` (left out: ${d.outOfOrder} out of order or repeated, ${d.emptyDriver} with an empty ${table.columns[0]}, ${d.beforeAllTags} before every tag had a value)` : ''),
    `  sample period: ${dur(rep.period)} (${rep.periodDetected ? 'detected: median spacing' : 'set by --period'}); gaps: ${rep.gaps.count}${rep.gaps.count ? ` (longest ${fmt(rep.gaps.longest / 3_600_000, 3)} h, ${rep.gaps.missingRows} rows missing)` : ''}`,
    `  dominant cycle: ${rep.cycle ? `${rep.cycle.hours} h (autocorrelation ${fmt(rep.cycle.strength, 2)} above the half cycle)` : 'none clear'}`,
    `  window: ${rep.window} rows = ${dur(rep.window * rep.period)} (${rep.windowChosen}); stride ${rep.stride}; ${result.input.summary ? `the model takes its statistics (input.summary, recent ${result.input.summary.recent} rows)` : 'the model takes the raw window (--input window)'}`,
    `  normalisation (robust: median, 1.4826 x MAD): ${rep.normalisation.map((n) => `${n.column} ${fmt(n.centre, 6)} / ${fmt(n.scale)}`).join('; ')}`,
    `  calendar: ${rep.calendar.reason}${rep.calendar.on ? `; ${rep.calendar.buckets} buckets` : ''}`,
    `  baseline: ${rep.baselineRows > 0 ? `adapts with a half-life of ${rep.baselineRows} rows = ${dur(rep.baselineRows * rep.period)} (--baseline)` : 'fixed: the normal median (--baseline HALF-LIFE lets it follow sustained changes)'}`,
    `  threshold: score = max |z| / ${fmt(rep.limit)} (${rep.limitRule}); an event when score > 1, ended once below 0.7 for ${dur(rep.clearAfterMs)}${values['clear-after'] === undefined ? ' (one window)' : ''}`,
    rep.heldOut.windows > 0
      ? `  held-out normal data (last ${Math.round((values.holdout ? Number(values.holdout) : 0.2) * 100)} %, ${fmt(rep.heldOut.days, 3)} days, fitted without it): ${rep.heldOut.events} false events = ${fmt(rep.heldOut.eventsPerWeek, 3)} per week expected; highest score ${fmt(rep.heldOut.maxScore, 3)}`
      : '  held-out normal data: none left after the fit part (the normal period is too short for an estimate of the false-event rate)',
    `wrote ${out}/model.onnx (sha256 ${meta.sha256.slice(0, 16)}...) and model.yaml`,
    '',
    'a models: entry for your config (tags as "source/tag"; no sha256 pin, so a refit into this folder is swapped in live):',
    stringify({ models: [configSnippet(meta, name.replace(/[^A-Za-z0-9_.-]/g, '_'), `${out}/model.onnx`, 'SOURCE')] }, { lineWidth: 120 }).trimEnd().replace(/^/gm, '  '),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

export async function modelEvaluate(args: string[]): Promise<number> {
  const { values, positionals } = parse({
    args,
    strict: true,
    allowPositionals: true,
    options: { data: { type: 'string' }, windows: { type: 'string' }, key: { type: 'string' }, json: { type: 'boolean' } },
  });
  const [dir, extra] = positionals;
  if (!dir || extra !== undefined) throw new UsageError(`model evaluate needs exactly one model folder\n${MODEL_USAGE}`);
  if (!values.data) throw new UsageError(`model evaluate needs --data FILE.csv\n${MODEL_USAGE}`);
  if (values.key && !values.windows) throw new UsageError('--key selects a series in --windows FILE.json; give --windows too');
  const { evaluate } = await import('../inference/fit/evaluate.ts');
  const bar = progressLine();
  const r = await evaluate({ dir, data: values.data, windows: values.windows, key: values.key, onProgress: (f) => bar.update(`replaying: ${Math.round(f * 100)}%`) });
  bar.done();
  if (values.json) {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return 0;
  }
  const lines = [`${r.data}: ${r.rows} rows replayed through the model stage of ${r.model}: ${r.predictions} predictions${r.outOfOrder ? ` (${r.outOfOrder} rows refused as out of order)` : ''}, highest score ${fmt(r.maxScore, 3)}`];
  for (const e of r.events) {
    const w = e.window === null ? (r.windows.length ? 'outside the labelled windows' : '') : `in window ${e.window + 1}`;
    lines.push(`event ${e.ts} peak score ${fmt(e.score, 3)} ${w}`.trimEnd());
  }
  if (r.events.length === 0) lines.push('no events');
  if (r.windows.length) {
    r.windows.forEach((w, i) => lines.push(`window ${i + 1} ${w.start} .. ${w.end}: ${w.events} event${w.events === 1 ? '' : 's'}, peak score ${fmt(w.maxScore, 3)}${w.afterNormal ? '' : ' (within or before the normal period the model was fitted on)'}`));
    lines.push(`labelled windows with an event: ${r.windowsHit} of ${r.windows.length} (after the normal period: ${r.windowsAfterNormalHit} of ${r.windowsAfterNormal}); events outside them: ${r.eventsOutside}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
