import { readFileSync } from 'node:fs';
import { FgError, errorMessage } from '../../core/errors.ts';

/** A time series table: one timestamp column, one or more numeric columns (NaN = empty cell). */
export interface Table {
  file: string;
  timeColumn: string;
  columns: string[];
  /** ms since the epoch, one per data row, in file order */
  ts: Float64Array;
  /** values[c][row] */
  values: Float64Array[];
  /** file line number (1-based) of each data row, for messages */
  lines: Int32Array;
}

export interface ReadOptions {
  /** the timestamp column (default: the first) */
  timeColumn?: string;
  /** value columns (default: every other column) */
  columns?: string[];
}

function dataError(file: string, line: number, msg: string): FgError {
  return new FgError('FG_E_FIT_DATA', `${file}:${line}: ${msg}`, { details: { file, line } });
}

/**
 * Timestamps: ISO 8601 (a time without a zone is read as UTC, as NAB and most historian exports
 * mean "plant time", which the calendar then treats as local), or a number: epoch seconds below
 * 1e11, epoch milliseconds above.
 */
export function parseTimestamp(s: string): number {
  const t = s.trim();
  if (/^-?\d+(\.\d+)?$/.test(t)) {
    const n = Number(t);
    return n < 1e11 ? n * 1000 : n;
  }
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}:?\d{2})?$/.exec(t);
  if (m) {
    // milliseconds at most: Date.parse refuses NAB's microseconds
    const time = m[2]!.replace(/(\.\d{3})\d+$/, '$1');
    return Date.parse(`${m[1]}T${time}${m[3] ?? 'Z'}`);
  }
  if (/^\d{4}-\d{2}-\d{2}$/.test(t)) return Date.parse(`${t}T00:00:00Z`);
  return NaN;
}

function splitLine(line: string, sep: string): string[] {
  if (!line.includes('"')) return line.split(sep);
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') { cur += '"'; i++; } else if (ch === '"') quoted = false; else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === sep) { out.push(cur); cur = ''; } else cur += ch;
  }
  out.push(cur);
  return out;
}

/** Reads a CSV with a header line. Every problem is one FG_E_FIT_DATA / FG_E_FIT_COLUMN naming file:line and column. */
export function readTable(file: string, opts: ReadOptions = {}): Table {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new FgError('FG_E_FIT_DATA', `${file}: cannot read: ${errorMessage(e)}`, { cause: e, details: { file } });
  }
  const lines = text.split(/\r?\n/);
  const headerLine = lines[0]?.replace(/^\uFEFF/, '') ?? '';
  if (headerLine.trim() === '') throw dataError(file, 1, 'empty file: expected a header line such as "timestamp,temperature"');
  const sep = headerLine.includes(',') ? ',' : headerLine.includes(';') ? ';' : headerLine.includes('\t') ? '\t' : ',';
  const header = splitLine(headerLine, sep).map((h) => h.trim());
  if (header.length < 2) throw dataError(file, 1, `the header "${headerLine}" has ${header.length} column; expected a timestamp column and at least one value column`);
  const timeColumn = opts.timeColumn ?? header[0]!;
  const ti = header.indexOf(timeColumn);
  if (ti < 0) throw new FgError('FG_E_FIT_COLUMN', `${file}:1: no column "${timeColumn}"; the header has: ${header.join(', ')}`, { details: { file, column: timeColumn } });
  const columns = opts.columns ?? header.filter((_, i) => i !== ti);
  const ci = columns.map((c) => {
    const i = header.indexOf(c);
    if (i < 0) throw new FgError('FG_E_FIT_COLUMN', `${file}:1: no column "${c}"; the header has: ${header.join(', ')}`, { details: { file, column: c } });
    if (i === ti) throw new FgError('FG_E_FIT_COLUMN', `${file}:1: column "${c}" is the timestamp column`, { details: { file, column: c } });
    return i;
  });
  const n = lines.length - 1;
  const ts = new Float64Array(n);
  const values = columns.map(() => new Float64Array(n));
  const lineNo = new Int32Array(n);
  let rows = 0;
  for (let l = 1; l < lines.length; l++) {
    const raw = lines[l]!;
    if (raw.trim() === '') continue;
    const cells = sep === ',' && !raw.includes('"') ? raw.split(',') : splitLine(raw, sep);
    if (cells.length !== header.length) {
      throw dataError(file, l + 1, `${cells.length} cells where the header has ${header.length} (${header.join(', ')})`);
    }
    const t = parseTimestamp(cells[ti]!);
    if (!Number.isFinite(t)) {
      throw dataError(file, l + 1, `column "${timeColumn}": "${cells[ti]}" is not a timestamp (expected ISO 8601 such as 2024-03-01 12:00:00, or epoch seconds/ms)`);
    }
    ts[rows] = t;
    lineNo[rows] = l + 1;
    for (let c = 0; c < ci.length; c++) {
      const cell = cells[ci[c]!]!.trim();
      if (cell === '') { values[c]![rows] = NaN; continue; }
      const v = Number(cell);
      if (!Number.isFinite(v)) throw dataError(file, l + 1, `column "${columns[c]}": "${cell}" is not a number (leave the cell empty for a missing value)`);
      values[c]![rows] = v;
    }
    rows++;
  }
  if (rows === 0) throw dataError(file, 2, 'no data rows after the header');
  return { file, timeColumn, columns, ts: ts.slice(0, rows), values: values.map((v) => v.slice(0, rows)), lines: lineNo.slice(0, rows) };
}
