import { bigConfig } from './big-config.ts';

/**
 * Config files built to defeat the loader (issue 18, item 10), each with the one answer it must
 * get: the error code, how many problems in all, and where the first shown one sits. Shared by
 * the loader's tests, the CLI's tests (a real `fieldgate validate` process) and bench:config,
 * which times them.
 */
export interface HostileCase {
  name: string;
  text: () => string;
  /** 'ok' for a file that must validate */
  code: 'ok' | 'FG_E_CONFIG_LIMIT' | 'FG_E_CONFIG_YAML' | 'FG_E_CONFIG_INVALID';
  total?: number;
  /** the first error shown: `line:col path` */
  first?: string;
}

const N = 70_000;

/** `sources[0].devices[0].tags` holding `n` tags written by `tag(i)` (line 7 is the first tag) */
function tags(n: number, tag: (i: number) => string): string {
  const lines = ['sources:', '  - type: modbus', '    id: m', '    connection: { transport: tcp, host: h }', '    devices:', '      - tags:'];
  for (let i = 0; i < n; i++) lines.push(`          - ${tag(i)}`);
  return `${lines.join('\n')}\n`;
}

/** nine levels of nine aliases: 9^9 (387 million) strings once expanded */
function aliasBomb(): string {
  const levels = 'abcdefghi';
  const lines = ['gateway: { id: gw }', `x${levels[0]}: &${levels[0]} [${Array(9).fill('"lol"').join(', ')}]`];
  for (let i = 1; i < levels.length; i++) lines.push(`x${levels[i]}: &${levels[i]} [${Array(9).fill(`*${levels[i - 1]}`).join(', ')}]`);
  return `${lines.join('\n')}\n`;
}

export const hostileCases: HostileCase[] = [
  // the alias that takes the expansion past 100,000 values: line 7 (xf), its first alias
  { name: 'alias bomb', text: aliasBomb, code: 'FG_E_CONFIG_LIMIT', total: 1, first: '7:9 (yaml)' },
  { name: '70,000 unknown keys', text: () => `${Array.from({ length: N }, (_, i) => `k${i}: 1`).join('\n')}\n`, code: 'FG_E_CONFIG_INVALID', total: N, first: '1:1 k0' },
  {
    name: '70,000 duplicate keys',
    text: () => `gateway:\n${Array.from({ length: N }, (_, i) => `  id: g${i}`).join('\n')}\n`,
    code: 'FG_E_CONFIG_YAML',
    total: N - 1,
    first: '3:3 (yaml)',
  },
  {
    name: '70,000 wrong types',
    text: () => tags(N, (i) => `{ name: t${i}, address: here, area: holding, type: float32 }`),
    code: 'FG_E_CONFIG_INVALID',
    total: N,
    first: '7:34 sources[0].devices[0].tags[0].address',
  },
  {
    name: '70,000 missing keys',
    text: () => tags(N, (i) => `{ name: t${i} }`),
    code: 'FG_E_CONFIG_INVALID',
    total: N,
    first: '7:13 sources[0].devices[0].tags[0]',
  },
  { name: 'a 70,000-character gateway.id', text: () => `gateway:\n  id: ${'a'.repeat(N)}\n`, code: 'FG_E_CONFIG_INVALID', total: 1, first: '2:7 gateway.id' },
  { name: '100,000 nested flow sequences', text: () => `a: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`, code: 'FG_E_CONFIG_LIMIT', total: 1, first: '1:67 (yaml)' },
  { name: '100,000 nested flow mappings', text: () => `a: ${'{a: '.repeat(100_000)}1${'}'.repeat(100_000)}\n`, code: 'FG_E_CONFIG_LIMIT', total: 1, first: '1:253 (yaml)' },
  { name: '100,000 nested block sequences', text: () => `a:\n  ${'- '.repeat(100_000)}x\n`, code: 'FG_E_CONFIG_LIMIT', total: 1, first: '2:129 (yaml)' },
  {
    name: '2,000 nested block mappings',
    text: () => Array.from({ length: 2000 }, (_, i) => `${'  '.repeat(i)}k:`).join('\n') + ' 1\n',
    code: 'FG_E_CONFIG_LIMIT',
    total: 1,
    first: '64:127 (yaml)',
  },
  { name: 'a valid 100,000-tag file', text: () => bigConfig(100_000), code: 'ok' },
];
