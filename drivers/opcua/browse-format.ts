// What `fieldgate browse` prints. Kept free of node-opcua so it loads instantly.

export interface BrowseEntry {
  /** what goes into a tag's `nodeId` */
  nodeId: string;
  /** with namespace index, as a browse path step: '1:Temp' */
  browseName: string;
  displayName: string;
  nodeClass: string;
  /** what goes into a tag's `browsePath`, when the browse started at Objects (the default) */
  browsePath?: string;
  /** variables only */
  dataType?: string;
  value?: string;
  quality?: string;
  /** nesting below the node browsed (0 = its direct children) */
  depth: number;
}

/** A table a person can read and copy NodeIds and browse paths from. */
export function formatBrowse(entries: readonly BrowseEntry[]): string {
  if (entries.length === 0) return '(no children)\n';
  const rows = entries.map((e) => [
    `${'  '.repeat(e.depth)}${e.browseName}`,
    e.nodeClass,
    e.nodeId,
    e.dataType ?? '',
    e.value === undefined ? '' : e.value.length > 24 ? `${e.value.slice(0, 23)}…` : e.value,
    e.quality && e.quality !== 'good' ? e.quality : '',
  ]);
  const head = ['BROWSE NAME', 'CLASS', 'NODE ID', 'TYPE', 'VALUE', 'QUALITY'];
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd();
  const paths = entries.filter((e) => e.nodeClass === 'Variable' && e.browsePath).slice(0, 3).map((e) => `  ${e.browsePath}`);
  return [line(head), ...rows.map(line), ...(paths.length ? ['', 'browse paths (for tags: browsePath), e.g.:', ...paths] : [])].join('\n') + '\n';
}
