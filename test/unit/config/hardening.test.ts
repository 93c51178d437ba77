import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, CONFIG_LIMITS, parseConfigText } from '../../../src/config/load.ts';
import { bigConfig } from '../../support/big-config.ts';
import { hostileCases } from '../../support/hostile-configs.ts';

/**
 * Hostile and pathological files: each is refused with located, coded errors (never
 * FG_E_UNEXPECTED, never a stack overflow), at most CONFIG_LIMITS.maxErrors of them located and
 * the rest counted. How long each takes is measured by npm run bench:config, not here.
 */
function refuse(text: string): ConfigError {
  let err: unknown;
  try {
    parseConfigText(text, 'hostile.yaml', '/tmp', { env: {} });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err).slice(0, 200)}`);
  assert.ok(err.errors.length >= 1 && err.errors.length <= CONFIG_LIMITS.maxErrors);
  for (const e of err.errors) {
    assert.equal(e.file, 'hostile.yaml');
    assert.ok(e.line >= 1 && e.col >= 1, `located: ${JSON.stringify(e)}`);
    assert.ok(e.message.length < 300, `a short message: ${e.message.slice(0, 300)}`);
  }
  return err;
}

for (const c of hostileCases) {
  test(`hostile config: ${c.name} -> ${c.code}${c.first ? ` at ${c.first}` : ''}`, () => {
    if (c.code === 'ok') {
      const cfg = parseConfigText(c.text(), 'hostile.yaml', '/tmp', { env: {} });
      assert.equal(cfg.sources.length, 1);
      return;
    }
    const err = refuse(c.text());
    assert.equal(err.code, c.code);
    assert.equal(err.total, c.total);
    assert.equal(err.errors.length, Math.min(c.total!, CONFIG_LIMITS.maxErrors));
    const e = err.errors[0]!;
    assert.equal(`${e.line}:${e.col} ${e.path}`, c.first);
  });
}

test('an alias bomb names the limit it hit', () => {
  const err = refuse(hostileCases.find((c) => c.name === 'alias bomb')!.text());
  assert.match(err.errors[0]!.message, /^YAML aliases expand too far \(to more than 100000 values\)/);
});

test('nesting past the limit names it; the deepest nesting allowed still loads', () => {
  const err = refuse(`a: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`);
  assert.equal(err.errors[0]!.message, `YAML nested deeper than ${CONFIG_LIMITS.maxDepth} levels; a configuration needs far fewer`);
  // the root mapping is one level
  const depth = CONFIG_LIMITS.maxDepth - 1;
  const deep = refuse(`gateway: { id: gw }\nx: ${'['.repeat(depth)}${']'.repeat(depth)}\n`);
  assert.equal(deep.code, 'FG_E_CONFIG_INVALID');
  assert.match(deep.errors[0]!.message, /unknown key "x"/);
});

test('aliases within the limit still work', () => {
  const cfg = parseConfigText('gateway: { id: gw }\nsinks:\n  - &f { id: a, type: file, path: a.jsonl }\n', 'ok.yaml', '/tmp', { env: {} });
  assert.equal(cfg.sinks.length, 1);
  // one connection block shared by two sources
  const shared = parseConfigText(
    [
      'sources:',
      '  - { type: modbus, id: a, connection: &c { transport: tcp, host: 127.0.0.1, port: 1502 }, devices: [{ tags: [{ name: t, address: 0, area: holding }] }] }',
      '  - { type: modbus, id: b, connection: *c, devices: [{ tags: [{ name: t, address: 0, area: holding }] }] }',
      '',
    ].join('\n'),
    'ok.yaml',
    '/tmp',
    { env: {} },
  );
  const conn = (i: number): unknown => shared.sources[i]?.connection;
  assert.deepEqual(conn(1), conn(0));
  assert.equal((conn(1) as { host: string }).host, '127.0.0.1');
});

test('the 70,000-character gateway.id is shown shortened', () => {
  const err = refuse(`gateway:\n  id: ${'a'.repeat(70_000)}\n`);
  assert.match(err.errors[0]!.message, /^expected at most 64 characters; got "a{40}"\.\.\. \(70000 characters\)$/);
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

test('70,000 unknown keys: 50 located, the rest counted', () => {
  const err = refuse(Array.from({ length: 70_000 }, (_, i) => `k${i}: 1`).join('\n'));
  assert.match(err.message, /\(69950 more errors not shown\)$/);
  assert.deepEqual(err.errors.map((e) => e.line), Array.from({ length: 50 }, (_, i) => i + 1));
});

test('a refused file whose only problems are unreadable ${file:...} references says FG_E_CONFIG_SECRET_FILE', () => {
  const err = refuse('sinks:\n  - { id: h, type: http, url: "http://127.0.0.1:1/", headers: { authorization: "${file:/nonexistent/fg-token}" } }\n');
  assert.equal(err.code, 'FG_E_CONFIG_SECRET_FILE');
  assert.match(err.errors[0]!.message, /cannot read secret file \/nonexistent\/fg-token/);
});

test('a syntax error in a file over 256 KiB: js-yaml\'s own message, located (the yaml library describes smaller files)', () => {
  const text = bigConfig(100_000).replace('- { name: t500, address: 1000,', '- { name: t500 address: 1000,');
  const err = refuse(text);
  assert.equal(err.code, 'FG_E_CONFIG_YAML');
  assert.deepEqual(err.errors.map((e) => `${e.line}:${e.col} ${e.path}: ${e.message}`), ['510:33 (yaml): invalid YAML: missed comma between flow collection entries']);
  // the same mistake in a small file
  const small = refuse('sources:\n  - { type: modbus, id: m devices: [] }\n');
  assert.equal(small.code, 'FG_E_CONFIG_YAML');
  assert.equal(small.errors[0]!.line, 2);
});
