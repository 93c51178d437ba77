// The import graph of src/ and drivers/ points one way. Every relative import (static, type-only,
// `export ... from`, dynamic `import()`) is read with TypeScript's own pre-processor and checked
// against the layer table below (the same table as docs/design.md, "Layers").
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';

const root = resolve(import.meta.dirname, '../../..');

/**
 * The layers, lowest first. A file may import a file of its own unit, or of a unit in a LOWER
 * layer; never a unit of its own layer (sideways) or of a higher one (up). A unit is a folder
 * directly under src/ (src/outbox, src/sinks, ...), one driver folder (drivers/modbus), the files
 * directly in drivers/ (the driver registries), or a single file directly under src/; a layer
 * marked oneUnit is a single unit (src/log.ts is core, src/cli.ts and src/cli/ are the CLI).
 */
export const LAYERS: readonly { name: string; units: readonly string[]; oneUnit?: boolean; why: string }[] = [
  { name: 'core', units: ['src/core', 'src/log.ts'], oneUnit: true, why: 'contracts (stage, source, sink, outbox writer, model input, probe, driver), channels, supervisor, errors, schema parts' },
  { name: 'base components', units: ['src/sim', 'src/outbox', 'src/health'], why: 'what other components build on: signal generators (driver simulators), the outbox (sinks read their cursors), the tag store (alarms evaluate on it)' },
  { name: 'components', units: ['drivers/*', 'src/sinks', 'src/inference', 'src/broker', 'src/alarms'], why: 'one folder per plugin or stage' },
  { name: 'registries', units: ['drivers'], why: 'the explicit lists of drivers (drivers/schemas.ts for the config, drivers/index.ts for the runtime)' },
  { name: 'config', units: ['src/config'], why: 'loads YAML and assembles the component schemas' },
  { name: 'pipeline', units: ['src/pipeline'], why: 'builds, starts, reloads and drains the stages' },
  { name: 'cli', units: ['src/cli', 'src/cli.ts'], oneUnit: true, why: 'the commands' },
];

/** src/config assembles schemas but loads no component code: below it, only schema modules. */
const SCHEMA_MODULE = /(^|\/)(config|schemas)\.ts$/;

/**
 * Imports that break the rule today, each with its reason. Keep this short: an entry that no
 * longer matches an import fails the test, so fixed ones must be removed.
 */
const TEMPORARY: readonly { from: string; to: string; reason: string }[] = [];

export interface Violation { where: string; message: string }
export interface ImportEdge { from: string; line: number; spec: string; to: string }

export function unitOf(file: string): string | undefined {
  const parts = file.split('/');
  if (parts[0] === 'drivers') return parts.length > 2 ? `drivers/${parts[1]}` : 'drivers';
  if (parts[0] !== 'src') return undefined;
  const unit = parts.length > 2 ? `src/${parts[1]}` : file;
  const layer = LAYERS.find((l) => l.oneUnit && l.units.includes(unit));
  return layer ? layer.units[0] : unit;
}

function layerOf(unit: string): number {
  return LAYERS.findIndex((l) => l.units.includes(unit) || (unit.startsWith('drivers/') && l.units.includes('drivers/*')));
}

/** Checks the edges against the table; also reports cycles between units (whatever the table says). */
export function check(edges: readonly ImportEdge[], temporary = TEMPORARY): { violations: Violation[]; unused: typeof TEMPORARY } {
  const violations: Violation[] = [];
  const used = new Set<(typeof TEMPORARY)[number]>();
  const graph = new Map<string, Map<string, ImportEdge>>();
  for (const e of edges) {
    const from = unitOf(e.from)!;
    const to = unitOf(e.to);
    const where = `${e.from}:${e.line}`;
    const allow = temporary.find((t) => t.from === e.from && t.to === e.to);
    const report = (message: string): void => {
      if (allow) used.add(allow);
      else violations.push({ where, message: `${message} (import '${e.spec}')` });
    };
    if (to === undefined) {
      report(`${e.from} imports ${e.to}, outside src/ and drivers/ (runtime code never imports tests or scripts)`);
      continue;
    }
    if (from === to) continue;
    if (!allow && !graph.has(from)) graph.set(from, new Map());
    if (!allow && !graph.get(from)!.has(to)) graph.get(from)!.set(to, e);
    const lf = layerOf(from);
    const lt = layerOf(to);
    if (lf < 0) { report(`${from} is in no layer: add it to LAYERS in test/unit/architecture/layers.test.ts and docs/design.md`); continue; }
    if (lt < 0) { report(`${to} is in no layer: add it to LAYERS in test/unit/architecture/layers.test.ts and docs/design.md`); continue; }
    if (lt > lf) report(`points up: ${from} (${LAYERS[lf]!.name}) imports ${e.to} (${LAYERS[lt]!.name})`);
    else if (lt === lf) report(`points sideways: ${from} and ${to} are both ${LAYERS[lf]!.name}; move what they share down a layer`);
    else if (from === 'src/config' && lt > 0 && !SCHEMA_MODULE.test(e.to)) {
      report(`the config layer loads component code: ${e.to} is not a schema module (config.ts, drivers/schemas.ts)`);
    }
  }
  // cycles between units: depth-first search, each cycle reported once with one import per step
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (u: string): void => {
    state.set(u, 'open');
    stack.push(u);
    for (const [v, e] of graph.get(u) ?? []) {
      if (state.get(v) === 'open') {
        const cycle = [...stack.slice(stack.indexOf(v)), v];
        const steps = cycle.slice(0, -1).map((a, i) => { const s = graph.get(a)!.get(cycle[i + 1]!)!; return `${s.from}:${s.line}`; });
        violations.push({ where: e.from + ':' + e.line, message: `folder cycle ${cycle.join(' -> ')} (${steps.join(', ')})` });
      } else if (!state.has(v)) visit(v);
    }
    stack.pop();
    state.set(u, 'done');
  };
  for (const u of [...graph.keys()].sort()) if (!state.has(u)) visit(u);
  return { violations, unused: temporary.filter((t) => !used.has(t)) };
}

function walk(dir: string, out: string[]): string[] {
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory()) { if (e.name !== 'node_modules') walk(p, out); } else if (/\.(ts|mts|mjs)$/.test(e.name) && !e.name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

/** Every relative import in the runtime files of src/ and drivers/ (tests beside the code may import anything). */
export function importEdges(): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const file of [...walk('src', []), ...walk('drivers', [])]) {
    const text = readFileSync(join(root, file), 'utf8');
    for (const ref of ts.preProcessFile(text, true, true).importedFiles) {
      if (!ref.fileName.startsWith('.')) continue;
      const to = relative(root, resolve(root, dirname(file), ref.fileName));
      edges.push({ from: file, line: text.slice(0, ref.pos).split('\n').length, spec: ref.fileName, to });
    }
  }
  return edges;
}

describe('the import graph points one way', () => {
  const edges = importEdges();

  it('reads the imports it checks', () => {
    // a parser that found nothing would pass any rule
    assert.ok(edges.length > 300, `only ${edges.length} imports found`);
    assert.ok(edges.some((e) => e.from === 'src/pipeline/pipeline.ts' && e.to === 'src/core/contracts.ts'));
    assert.ok(edges.some((e) => e.from === 'src/cli/commands.ts' && e.spec.startsWith('../pipeline/')), 'dynamic import() is read');
  });

  it('no import points up or sideways, no folder cycle, no component code under the config layer', () => {
    const { violations, unused } = check(edges);
    assert.deepEqual(violations.map((v) => `${v.where} ${v.message}`), []);
    assert.deepEqual(unused, [], 'TEMPORARY entries that no longer match an import: remove them');
  });

  it('catches what it is meant to catch', () => {
    const at = (from: string, to: string): ImportEdge => ({ from, line: 3, spec: relative(dirname(from), to), to });
    const found = (e: ImportEdge[]): string[] => check(e, []).violations.map((v) => `${v.where} ${v.message}`);
    assert.match(found([at('src/core/channel.ts', 'src/pipeline/pipeline.ts')]).join(), /src\/core\/channel\.ts:3 points up/);
    assert.match(found([at('src/sinks/http/http.ts', 'src/inference/stage.ts')]).join(), /points sideways/);
    assert.match(found([at('src/config/load.ts', 'drivers/modbus/source.ts')]).join(), /not a schema module/);
    assert.deepEqual(found([at('src/config/schema.ts', 'drivers/modbus/config.ts')]), []);
    assert.match(found([at('src/outbox/x.ts', 'test/support/wait.ts')]).join(), /outside src\/ and drivers\//);
    assert.match(found([at('src/newthing/a.ts', 'src/core/ids.ts')]).join(), /src\/newthing is in no layer/);
    assert.match(found([at('src/outbox/a.ts', 'src/sim/b.ts'), at('src/sim/b.ts', 'src/outbox/a.ts')]).join(), /folder cycle src\/outbox -> src\/sim -> src\/outbox/);
    assert.deepEqual(basename('drivers/schemas.ts'), 'schemas.ts');
  });
});
