import { ERROR_CODES, type ErrorEntry } from './errors.ts';

/** docs/errors.md, generated from the catalogue in errors.ts (npm run docs:errors). */
export function renderErrorDocs(): string {
  const out = [
    '# Error codes',
    '',
    '<!-- generated from src/core/errors.ts by `npm run docs:errors`; edit the catalogue, not this file -->',
    '',
    'Every error fieldgate reports carries one of these codes: in log lines (`code`), in',
    '`fieldgate_errors_total{code=...}` and on the dashboard. A code never changes its meaning.',
    '',
  ];
  const byArea = new Map<string, [string, ErrorEntry][]>();
  for (const [code, entry] of Object.entries(ERROR_CODES) as [string, ErrorEntry | string][]) {
    const e: ErrorEntry = typeof entry === 'string' ? { area: 'core', means: entry, action: '(not yet documented)' } : entry;
    const list = byArea.get(e.area) ?? [];
    list.push([code, e]);
    byArea.set(e.area, list);
  }
  for (const [area, list] of byArea) {
    out.push(`## ${area[0]!.toUpperCase()}${area.slice(1)}`, '');
    for (const [code, e] of list) out.push(`### ${code}`, '', e.means, '', `**What to do:** ${e.action}`, '');
  }
  return out.join('\n');
}
