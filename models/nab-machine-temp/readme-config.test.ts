import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { modelSchema } from '../../src/inference/config.ts';
import { validateModel } from '../../src/inference/index.ts';

const here = new URL('.', import.meta.url);

describe('nab-machine-temp README', () => {
  it('its config example is valid and matches the committed model (names, shapes, window)', async () => {
    const readme = readFileSync(new URL('README.md', here), 'utf8');
    const yaml = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].at(-1)![1]!;
    const [entry] = (parse(yaml) as { models: unknown[] }).models;
    const cfg = modelSchema.parse({ ...(entry as object), path: 'model.onnx' });
    const meta = parse(readFileSync(new URL('model.yaml', here), 'utf8')) as { input: { window: number; summary?: { recent: number } } };
    assert.equal(cfg.input.window, meta.input.window);
    assert.deepEqual(cfg.input.summary, meta.input.summary);
    assert.deepEqual(await validateModel(cfg, (p) => new URL(p, here).pathname), []);
  });
});
