import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReloadResult } from '../pipeline/reload.ts';

export interface ReloadRecord {
  pid: number;
  why: string;
  /** when the reload began reading the file: a SIGHUP sent before this is answered by it */
  startedAt: number;
  finishedAt: number;
  result: ReloadResult;
}

/** in the data directory, beside fieldgate.pid */
export const RELOAD_RESULT_FILE = 'fieldgate.reload.json';

/** Waits for the running process to write the result of a reload that began after `sentAt`. */
export async function waitForReload(dataDir: string, pid: number, sentAt: number, timeoutMs: number): Promise<ReloadRecord | undefined> {
  const file = join(dataDir, RELOAD_RESULT_FILE);
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      const rec = JSON.parse(readFileSync(file, 'utf8')) as ReloadRecord;
      // whole milliseconds on both sides: a reload that began in the same ms as the signal counts
      if (rec.pid === pid && rec.startedAt >= sentAt - 1) return rec;
    } catch {
      // not there yet, or being replaced
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return undefined;
}

/** What `fieldgate reload` prints: applied or refused, what restarted, what waits for a restart. */
export function printReload(rec: ReloadRecord): string {
  const r = rec.result;
  const s = ((rec.finishedAt - rec.startedAt) / 1000).toFixed(1);
  const out: string[] = [];
  if (r.refused) {
    out.push(`reload refused (pid ${rec.pid}): the new configuration is invalid; the previous one keeps running`);
    for (const e of r.errors) out.push(`  ${e}`);
    return `${out.join('\n')}\n`;
  }
  out.push(r.ok
    ? `reload applied (pid ${rec.pid}, ${s} s)${r.changes.length === 0 ? ': nothing changed' : ''}`
    : `reload partly applied (pid ${rec.pid}, ${s} s): some changes failed`);
  const section = (title: string, list: readonly string[] | undefined): void => {
    if (!list || list.length === 0) return;
    out.push(`${title}:`);
    for (const l of list) out.push(`  ${l}`);
  };
  section('restarted', r.restarted);
  section('applied in place', r.applied);
  section('waits for the next restart of fieldgate', r.atRestart);
  section('errors', r.errors);
  return `${out.join('\n')}\n`;
}
