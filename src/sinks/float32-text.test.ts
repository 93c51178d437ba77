import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { float32Text } from './float32-text.ts';

/** significant digits of a JS number text ("-1.25e-7" -> 3, "1200" -> 2, "0.0015" -> 2) */
function digits(s: string): number {
  const mant = s.replace(/^-/, '').replace(/e.*$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return Math.max(1, mant.length);
}

/** brute force, independent of the implementation: the fewest significant digits (1..9) that read back */
function shortestDigits(v: number): number {
  for (let p = 1; p <= 9; p++) if (Math.fround(Number(v.toPrecision(p))) === v) return p;
  throw new Error(`no decimal of 9 digits reads back as ${v}`);
}

const float32 = fc.float({ noDefaultInfinity: true, noNaN: true });
// every float32 bit pattern, subnormals and the extremes included
const anyBits = fc.integer({ min: 0, max: 0xffff_ffff }).map((bits) => {
  const b = new DataView(new ArrayBuffer(4));
  b.setUint32(0, bits);
  return b.getFloat32(0);
}).filter(Number.isFinite);

describe('float32Text: the shortest decimal that reads back as the same float32', () => {
  test('hand-picked values: what a PLC meant, and the edges', () => {
    const cases: [number, string][] = [
      [23.4567, '23.4567'], [0.1, '0.1'], [-5.5, '-5.5'], [100, '100'], [1 / 3, '0.33333334'],
      [123456.789, '123456.79'], [16777216, '16777216'], [3.4028234663852886e38, '3.4028235e+38'],
      [1e-40, '1e-40'], [1.17549435e-38, '1.1754944e-38'], [1e-7, '1e-7'], [0, '0'], [-0, '0'],
    ];
    for (const [x, want] of cases) assert.equal(float32Text(Math.fround(x)), want, `${x}`);
    assert.equal(float32Text(NaN), 'null');
    assert.equal(float32Text(Infinity), 'null');
    assert.equal(float32Text(-Infinity), 'null');
    // not a float32: its exact double text, as String(v)
    assert.equal(float32Text(0.1), '0.1');
    assert.equal(float32Text(1.0000001), '1.0000001');
    assert.equal(float32Text(Math.PI), String(Math.PI));
  });

  const property = (arb: fc.Arbitrary<number>) => fc.property(arb, (v) => {
    const s = float32Text(v);
    assert.equal(Math.fround(Number(s)), v === 0 ? 0 : v, `${s} reads back as ${v}`);
    assert.equal(JSON.parse(s), Number(s), `${s} is a JSON number`);
    const p = shortestDigits(v);
    assert.equal(digits(s), p, `${s} for ${v}: ${p} digits are enough`);
    assert.ok(s.length <= String(Number(v.toPrecision(p))).length, `${s} no longer than the brute-force shortest`);
  });

  test('property: every float32 reads back as itself, with no more digits than needed (fast-check floats)', () => {
    fc.assert(property(float32), { numRuns: 20_000 });
  });

  test('property: the same over uniformly random bit patterns (subnormals, huge and tiny values)', () => {
    fc.assert(property(anyBits), { numRuns: 20_000 });
  });

  test('property: values a PLC holds (decimals of up to 6 significant digits) print as that decimal', () => {
    fc.assert(fc.property(fc.integer({ min: -999_999, max: 999_999 }), fc.integer({ min: 0, max: 9 }), (m, places) => {
      const meant = m / 10 ** places;
      const v = Math.fround(meant);
      // float32 keeps 6 significant decimal digits: every such decimal comes back as written
      assert.equal(Number(float32Text(v)), meant, `${meant} -> ${v} -> ${float32Text(v)}`);
    }), { numRuns: 20_000 });
  });
});
