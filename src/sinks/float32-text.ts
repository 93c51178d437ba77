/**
 * The shortest decimal text of a value the device sent as a float32 (a Modbus float32 register,
 * an OPC UA Float): the fewest significant digits that read back, rounded to float32, as the same
 * value (`Math.fround(Number(text)) === v`). A PLC that holds 23.4567 sends the float32 nearest to
 * it, 23.456699371337890625 as a double; `String(v)` prints that double's 17 digits
 * (`23.45669937133789`), this prints `23.4567`, the decimal the PLC meant.
 *
 * Only for values known to be float32: a float64 value that happens to be float32-representable
 * keeps its exact double text (`String(v)`), else a consumer would read a different double.
 *
 * How: with `k` decimal places the nearest candidate is `round(|v| * 10^k) / 10^k` (one rounding
 * of an exact power of ten: the same double `Number()` gives for that decimal text). A candidate
 * with more places is never farther from v, so the places that read back form a range [kMin, inf):
 * start at 7 significant digits (most sensor values need 6 to 8) and walk down while it still reads
 * back, or up until it does. The text is then `String(candidate)`: the shortest text of that double,
 * never more digits than the candidate has. Magnitudes where 10^k is not exact take `toPrecision`.
 */

// 10^0 .. 10^22: every one is exactly a double
const POW10: readonly number[] = Array.from({ length: 23 }, (_, i) => 10 ** i);

/** the candidate with k decimal places (k < 0: rounded to 10^-k) for a > 0 */
function candidate(a: number, k: number): number {
  return k >= 0 ? Math.round(a * POW10[k]!) / POW10[k]! : Math.round(a / POW10[-k]!) * POW10[-k]!;
}

/**
 * Outside [1e-7, 1e13): by significant digits with toPrecision (exact, slower; rare for sensor values).
 * The same walk: from 7 digits down while it reads back, or up until it does (9 always does).
 */
function slow(v: number): string {
  const at = (p: number) => Number(v.toPrecision(p));
  let p = 7;
  let d = at(p);
  if (Math.fround(d) === v) {
    while (p > 1) {
      const fewer = at(p - 1);
      if (Math.fround(fewer) !== v) break;
      d = fewer;
      p--;
    }
  } else {
    do d = at(++p);
    while (p < 9 && Math.fround(d) !== v);
  }
  return String(d);
}

/**
 * JSON text of a float32 value: the shortest decimal that reads back as v in float32.
 * NaN and infinities are `null`, as JSON.stringify writes them; `v` must be a float32 value
 * (`Math.fround(v) === v`), else its exact double text is returned.
 */
export function float32Text(v: number): string {
  if (v === 0) return '0'; // -0 too, as JSON.stringify
  if (!Number.isFinite(v)) return 'null';
  if (Math.fround(v) !== v) return String(v); // not a float32: keep the double
  const a = v < 0 ? -v : v;
  if (a < 1e-7 || a >= 1e13) return slow(v);
  // 7 significant digits to start (log10 may be off by one at powers of ten: the walk corrects it)
  let k = 6 - Math.floor(Math.log10(a));
  let d = candidate(a, k);
  if (Math.fround(d) === a) {
    for (;;) {
      const fewer = candidate(a, k - 1);
      if (Math.fround(fewer) !== a) break;
      d = fewer;
      k--;
    }
  } else {
    do d = candidate(a, ++k);
    while (Math.fround(d) !== a);
  }
  return String(v < 0 ? -d : d);
}
