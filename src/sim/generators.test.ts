import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { createGenerator, csvTimeAt, generatorSchema, parseCsvTime } from './generators.ts';

const nab = fileURLToPath(new URL('../../deploy/examples/nab/machine_temperature_system_failure.csv', import.meta.url));

test('sine, ramp and constant are functions of time', () => {
  const sine = createGenerator(generatorSchema.parse({ kind: 'sine', amplitude: 2, offset: 10, period: '4s' }));
  assert.equal(sine(0), 10);
  assert.ok(Math.abs(sine(1000) - 12) < 1e-9);
  assert.ok(Math.abs(sine(3000) - 8) < 1e-9);
  const ramp = createGenerator(generatorSchema.parse({ kind: 'ramp', min: 0, max: 10, period: '10s' }));
  assert.equal(ramp(5000), 5);
  assert.equal(ramp(12_000), 2);
  assert.equal(createGenerator({ kind: 'constant', value: 7 })(123), 7);
});

test('a seeded random walk replays identically and stays in bounds', () => {
  const cfg = generatorSchema.parse({ kind: 'random-walk', start: 5, step: 1, interval: 100, min: 0, max: 10, seed: 42 });
  const a = createGenerator(cfg);
  const b = createGenerator(cfg);
  for (let t = 0; t < 100_000; t += 700) {
    const v = a(t);
    assert.equal(v, b(t));
    assert.ok(v >= 0 && v <= 10);
  }
});

test('CSV replay walks the NAB series with time compression', () => {
  const cfg = generatorSchema.parse({ kind: 'csv', file: nab, speed: 300 });
  assert.ok(cfg.kind === 'csv');
  const g = createGenerator(cfg);
  assert.equal(g(0), 73.96732207); // first row
  assert.equal(g(1000), 74.93588199999998); // 1 s x 300 = 5 min later: second row
  assert.equal(csvTimeAt(cfg, 1000), parseCsvTime('2013-12-02 21:20:00'));
  assert.equal(parseCsvTime('2013-12-02 21:15:00'), Date.UTC(2013, 11, 2, 21, 15, 0));
});
