import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, CONFIG_LIMITS, parseConfigText } from '../../../src/config/load.ts';

/**
 * Hostile and pathological files: each is refused with located, coded errors (never
 * FG_E_UNEXPECTED, never a stack overflow), at most CONFIG_LIMITS.maxErrors of them located and
 * the rest counted, within a CPU budget. CPU time, not wall time: this machine is shared, and
 * what matters is the work done (the quadratic duplicate-key check took minutes of it).
 */
function refuse(text: string, budgetMs = 2000): ConfigError {
  const before = process.cpuUsage();
  let err: unknown;
  try {
    parseConfigText(text, 'hostile.yaml', '/tmp', { env: {} });
  } catch (e) {
    err = e;
  }
  const used = process.cpuUsage(before);
  const ms = (used.user + used.system) / 1000;
  assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err).slice(0, 200)}`);
  assert.ok(ms < budgetMs, `took ${ms.toFixed(0)} ms of CPU (budget ${budgetMs} ms)`);
  assert.ok(err.errors.length >= 1 && err.errors.length <= CONFIG_LIMITS.maxErrors);
  for (const e of err.errors) {
    assert.equal(e.file, 'hostile.yaml');
    assert.ok(e.line >= 1 && e.col >= 1, `located: ${JSON.stringify(e)}`);
    assert.ok(e.message.length < 300, `a short message: ${e.message.slice(0, 300)}`);
  }
  return err;
}

test('an alias bomb (9^9 copies) is refused at its first alias, FG_E_CONFIG_LIMIT', () => {
  const levels = 'abcdefghi';
  const lines = ['gateway: { id: gw }', `x${levels[0]}: &${levels[0]} [${Array(9).fill('"lol"').join(', ')}]`];
  for (let i = 1; i < levels.length; i++) lines.push(`x${levels[i]}: &${levels[i]} [${Array(9).fill(`*${levels[i - 1]}`).join(', ')}]`);
  const err = refuse(`${lines.join('\n')}\n`);
  assert.equal(err.code, 'FG_E_CONFIG_LIMIT');
  assert.equal(err.errors.length, 1);
  assert.equal(err.errors[0]!.line, 3);
  assert.match(err.errors[0]!.message, /aliases expand too far/);
});

test('a few aliases within the limit still work', () => {
  const cfg = parseConfigText('gateway: { id: gw }\nsinks:\n  - &f { id: a, type: file, path: a.jsonl }\n', 'ok.yaml', '/tmp', { env: {} });
  assert.equal(cfg.sinks.length, 1);
});

test('a 70,000-character gateway.id is refused at validate with its location, shown shortened', () => {
  const err = refuse(`gateway:\n  id: ${'a'.repeat(70_000)}\n`);
  assert.equal(err.code, 'FG_E_CONFIG_INVALID');
  assert.equal(err.errors.length, 1);
  const e = err.errors[0]!;
  assert.deepEqual([e.line, e.col, e.path], [2, 7, 'gateway.id']);
  assert.match(e.message, /^expected at most 64 characters; got "a{40}"\.\.\. \(70000 characters\)$/);
});

test('source, sink and model ids have the same length limit', () => {
  const long = 'x'.repeat(65);
  const err = refuse(`sinks:\n  - { id: ${long}, type: file, path: a }\nmodels: []\n`);
  assert.equal(err.errors[0]!.path, 'sinks[0].id');
  assert.match(err.errors[0]!.message, /at most 64 characters/);
});

test('a file larger than the limit is refused before parsing, FG_E_CONFIG_LIMIT', () => {
  const err = refuse(`# ${'x'.repeat(CONFIG_LIMITS.maxBytes)}\n`);
  assert.equal(err.code, 'FG_E_CONFIG_LIMIT');
  assert.match(err.errors[0]!.message, /MiB is accepted/);
});

test('70,000 unknown keys: 50 located, the rest counted, no quadratic search', () => {
  const err = refuse(Array.from({ length: 70_000 }, (_, i) => `k${i}: 1`).join('\n'));
  assert.equal(err.code, 'FG_E_CONFIG_INVALID');
  assert.equal(err.errors.length, CONFIG_LIMITS.maxErrors);
  assert.equal(err.total, 70_000);
  assert.match(err.message, /\(69950 more errors not shown\)$/);
  assert.deepEqual([err.errors[0]!.line, err.errors[0]!.path], [1, 'k0']);
});

test('70,000 duplicate keys in one mapping: FG_E_CONFIG_YAML, 50 located', () => {
  const err = refuse(`gateway:\n${Array.from({ length: 70_000 }, (_, i) => `  id: g${i}`).join('\n')}\n`);
  assert.equal(err.code, 'FG_E_CONFIG_YAML');
  assert.equal(err.errors.length, CONFIG_LIMITS.maxErrors);
  assert.equal(err.total, 69_999);
  assert.deepEqual([err.errors[0]!.line, err.errors[0]!.col], [3, 3]);
});

test('70,000 broken tags: 50 located, the rest counted, no stack overflow', () => {
  const lines = ['sources:', '  - type: modbus', '    id: m', '    connection: { transport: tcp, host: h }', '    devices:', '      - tags:'];
  for (let i = 0; i < 70_000; i++) lines.push(`          - { name: t${i} }`);
  // parsing 70,000 flow mappings with the yaml library is most of this budget (see npm run bench:config)
  const err = refuse(`${lines.join('\n')}\n`, 5000);
  assert.equal(err.code, 'FG_E_CONFIG_INVALID');
  assert.equal(err.errors.length, CONFIG_LIMITS.maxErrors);
  assert.equal(err.total, 70_000);
  assert.deepEqual([err.errors[0]!.line, err.errors[0]!.path], [7, 'sources[0].devices[0].tags[0]']);
});

test('nesting 100,000 deep is a located YAML error, not a crash', () => {
  const err = refuse(`a: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`);
  assert.equal(err.code, 'FG_E_CONFIG_YAML');
  assert.equal(err.errors.length, 1);
});

test('a refused file whose only problems are unreadable ${file:...} references says FG_E_CONFIG_SECRET_FILE', () => {
  const err = refuse('sinks:\n  - { id: h, type: http, url: "http://127.0.0.1:1/", headers: { authorization: "${file:/nonexistent/fg-token}" } }\n');
  assert.equal(err.code, 'FG_E_CONFIG_SECRET_FILE');
  assert.match(err.errors[0]!.message, /cannot read secret file \/nonexistent\/fg-token/);
});
