import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, parseConfigText } from '../../src/config/load.ts';
import { fieldgate as run, root } from '../support/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'fg-model-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const fieldgate = (args: string[]) => run(args, { timeout: 120_000 });

/** 30 days of 10-minute samples: a daily sine plus deterministic noise; a level drop on day 25 for 6 hours */
function series(file: string): void {
  const lines = ['timestamp,temp'];
  const t0 = Date.parse('2024-03-01T00:00:00Z');
  let seed = 3;
  for (let i = 0; i < 30 * 144; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    const ts = t0 + i * 600_000;
    let v = 60 + 5 * Math.sin((2 * Math.PI * i) / 144) + (seed / 2147483648 - 0.5);
    if (i >= 25 * 144 + 60 && i < 25 * 144 + 96) v -= 20;
    lines.push(`${new Date(ts).toISOString()},${v.toFixed(3)}`);
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
}

describe('fieldgate model fit / evaluate (CLI)', () => {
  const data = join(dir, 'line.csv');
  series(data);
  const out = join(dir, 'line-model');

  it('fits, prints what it chose, refuses to overwrite, evaluates with --json', () => {
    const r = fieldgate(['model', 'fit', '--data', data, '--normal-until', '2024-03-20', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    for (const s of ['rows: 4320 read', 'sample period: 10 min', 'dominant cycle: 24 h', 'window: 144 rows = 1 d', 'normalisation (robust', 'threshold:', 'held-out normal data']) {
      assert.ok(r.stdout.includes(s), `"${s}" in:\n${r.stdout}`);
    }
    const again = fieldgate(['model', 'fit', '--data', data, '--normal-until', '2024-03-20', '--out', out]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^FG_E_FIT_OUTPUT: .* already holds a model .*--force/);
    const windows = join(dir, 'windows.json');
    writeFileSync(windows, JSON.stringify({ 'line.csv': [['2024-03-26 08:00:00', '2024-03-26 20:00:00']] }));
    const ev = fieldgate(['model', 'evaluate', out, '--data', data, '--windows', windows, '--json']);
    assert.equal(ev.code, 0, ev.stderr);
    const j = JSON.parse(ev.stdout) as { windows: unknown[]; windowsHit: number; eventsOutside: number; events: { ts: string; score: number }[] };
    assert.equal(j.windows.length, 1);
    assert.equal(j.windowsHit, 1);
    assert.equal(j.eventsOutside, 0, JSON.stringify(j.events));
    assert.ok(j.events.every((e) => typeof e.ts === 'string' && e.score > 1));
    assert.match(readFileSync(join(out, 'model.yaml'), 'utf8'), /command: fieldgate model fit --data/);
  });

  it('mistakes: usage errors exit 2, data errors exit 1 with code and location', () => {
    const noOut = fieldgate(['model', 'fit', '--data', data, '--normal-until', '2024-03-20']);
    assert.equal(noOut.code, 2);
    assert.match(noOut.stderr, /needs --out DIR/);
    const unknown = fieldgate(['model', 'fit', '--data', data, '--normal-untill', 'x', '--out', out]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /--normal-untill/);
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, 'timestamp,temp\n2024-03-01T00:00:00Z,1\n2024-03-01T00:10:00Z,1,5\n');
    const r = fieldgate(['model', 'fit', '--data', bad, '--normal-until', '2024-03-20', '--out', join(dir, 'x')]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stderr, /^FG_E_FIT_DATA: .*bad\.csv:3: 3 cells where the header has 2/);
    const col = fieldgate(['model', 'fit', '--data', data, '--columns', 'tmp', '--normal-until', '2024-03-20', '--out', join(dir, 'y')]);
    assert.match(col.stderr, /^FG_E_FIT_COLUMN: .*no column "tmp"; the header has: timestamp, temp/);
    const empty = fieldgate(['model', 'fit', '--data', data, '--normal-until', '2020-01-01', '--out', join(dir, 'z')]);
    assert.match(empty.stderr, /^FG_E_FIT_NORMAL: .*holds 0 usable rows/);
    const baseline = fieldgate(['model', 'fit', '--data', data, '--normal-until', '2024-03-20', '--out', join(dir, 'b'), '--baseline', 'soon']);
    assert.equal(baseline.code, 2);
    assert.match(baseline.stderr, /--baseline: expected a half-life such as 1d, or off, got "soon"/);
    const clear = fieldgate(['model', 'fit', '--data', data, '--normal-until', '2024-03-20', '--out', join(dir, 'c'), '--clear-after', 'soon']);
    assert.equal(clear.code, 2);
    assert.match(clear.stderr, /--clear-after: expected a duration/);
  });

  it('--baseline and --clear-after reach model.yaml and the printed models: entry', () => {
    const b = join(dir, 'with-baseline');
    const r = fieldgate(['model', 'fit', '--data', data, '--normal-until', '2024-03-20', '--out', b, '--baseline', '2d', '--clear-after', '3h']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /baseline: adapts with a half-life of 288 rows = 2 d/);
    assert.match(r.stdout, /ended once below 0.7 for 3 h\n/);
    const yaml = readFileSync(join(b, 'model.yaml'), 'utf8');
    assert.match(yaml, /baseline:\n\s+halfLife: 288/);
    assert.match(yaml, /clearAfter: 3h/);
    assert.match(r.stdout, /halfLife: 288/);
  });
  it('writes summary-form models (model.yaml and the printed entry carry input.summary); --input window the raw form', () => {
    const s = join(dir, 'summary-form');
    const r = fieldgate(['model', 'fit', '--data', data, '--normal-until', '2024-03-20', '--out', s, '--window', '72']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /stride 1; the model takes its statistics \(input\.summary, recent 18 rows\)/);
    assert.match(readFileSync(join(s, 'model.yaml'), 'utf8'), /summary:\n\s+recent: 18/);
    assert.match(r.stdout, /summary:\n\s+recent: 18/);
    const w = join(dir, 'window-form');
    const rw = fieldgate(['model', 'fit', '--data', data, '--normal-until', '2024-03-20', '--out', w, '--window', '72', '--input', 'window']);
    assert.equal(rw.code, 0, rw.stderr);
    assert.match(rw.stdout, /the model takes the raw window \(--input window\)/);
    assert.doesNotMatch(readFileSync(join(w, 'model.yaml'), 'utf8'), /summary:/);
    const bad = fieldgate(['model', 'fit', '--data', data, '--normal-until', '2024-03-20', '--out', w, '--input', 'raw']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--input: expected summary .* or window .*, got "raw"/);
  });
});

describe('config check of model features and files', () => {
  const model = join(root, 'models/nab-machine-temp/model.onnx');
  const config = (tag: string, path = model): string => `
sources:
  - type: modbus
    id: press
    connection: { transport: tcp, host: 127.0.0.1, port: 1502 }
    devices:
      - name: press1
        tags:
          - { name: temperature, address: "40001", type: float32 }
          - { name: pressure, address: "40003", type: float32 }
models:
  - id: m
    path: ${path}
    input:
      name: window
      window: 72
      features:
        - tag: ${tag}
    outputs: [{ name: score }]
`;
  const refused = (text: string): ConfigError => {
    try {
      parseConfigText(text, 'c.yaml', root);
    } catch (e) {
      if (e instanceof ConfigError) return e;
      throw e;
    }
    assert.fail('expected a ConfigError');
  };

  it('a produced tag passes', () => {
    assert.equal(parseConfigText(config('press/press1.temperature'), 'c.yaml', root).models.length, 1);
  });
  it('a misspelt tag: the feature, did-you-mean, the tags the source has, located', () => {
    const e = refused(config('press/press1.temprature'));
    assert.equal(e.code, 'FG_E_MODEL_FEATURE');
    assert.equal(e.errors.length, 1);
    assert.equal(e.errors[0]!.line, 18);
    assert.equal(e.errors[0]!.path, 'models[0].input.features[0].tag');
    assert.match(e.errors[0]!.message, /feature 0 "press\/press1.temprature": source "press" produces no tag "press1.temprature"; did you mean "press\/press1.temperature"\? \(its tags: press1.temperature, press1.pressure\)/);
  });
  it('summary.recent beyond the window: located at models[0].input.summary.recent', () => {
    const e = refused(config('press/press1.temperature').replace('      window: 72\n', '      window: 72\n      summary: { recent: 80 }\n'));
    assert.equal(e.errors.length, 1);
    assert.equal(e.errors[0]!.path, 'models[0].input.summary.recent');
    assert.equal(e.errors[0]!.line, 17);
    assert.match(e.errors[0]!.message, /summary\.recent must not exceed window/);
  });
  it('an unknown source', () => {
    const e = refused(config('pres/press1.temperature'));
    assert.match(e.errors[0]!.message, /no source "pres"; did you mean "press"\? \(sources: press\)/);
  });
  it('a missing model file: FG_E_MODEL_LOAD at models[0].path', () => {
    const e = refused(config('press/press1.temperature', join(root, 'models/nope.onnx')));
    assert.equal(e.code, 'FG_E_MODEL_LOAD');
    assert.equal(e.errors[0]!.path, 'models[0].path');
    assert.match(e.errors[0]!.message, /cannot read .*nope\.onnx: no such file/);
  });
});
