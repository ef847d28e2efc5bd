// gbdt-rs computes in f32 (its ValueType) and its models are written by serde_json, which prints floats
// with the ryu crate: the shortest digits that read back as the same value, in ryu's layout. Rebuilding
// both here is what makes a model trained by Tessera byte-identical to one trained by gbdt-rs.

/** Rounds to f32, as every f32 operation in gbdt-rs does (one rounding per +, -, *, / is exact). */
export const f32 = Math.fround;

interface Decimal {
  digits: string; // no leading or trailing zeros
  exponent: number; // value = digits × 10^exponent
}

function decimalOf(text: string): Decimal {
  // text is what toExponential/toPrecision give: d[.ddd]e±x
  const [mantissa, exp] = text.split('e');
  const whole = mantissa.replace('.', '');
  const fraction = mantissa.includes('.') ? mantissa.length - mantissa.indexOf('.') - 1 : 0;
  let digits = whole.replace(/^0+/, '');
  let exponent = Number(exp) - fraction;
  while (digits.length > 1 && digits.endsWith('0')) {
    digits = digits.slice(0, -1);
    exponent++;
  }
  return { digits, exponent };
}

/** The shortest decimal that reads back as the f32 `x` (x > 0, finite), closest to x among the shortest. */
function shortestF32(x: number): Decimal {
  for (let precision = 1; precision <= 9; precision++) {
    const nearest = decimalOf(x.toExponential(precision - 1));
    // toExponential picks the nearest p-digit decimal; at a power of two the interval that reads back
    // is lopsided, so a neighbour may read back when the nearest does not.
    const base = BigInt(nearest.digits);
    const candidates = [base, base - 1n, base + 1n]
      .filter((m) => m > 0n)
      .map((m) => ({ m, value: Number(`${m}e${nearest.exponent}`) }))
      .filter((c) => Math.fround(c.value) === x)
      .sort((a, b) => Math.abs(a.value - x) - Math.abs(b.value - x));
    if (candidates.length > 0) return decimalOf(`${candidates[0].m}e${nearest.exponent}`);
  }
  return decimalOf(x.toExponential(8));
}

/** ryu's "pretty" layout: plain up to `maxKk` integer digits and `minKk` leading zeros, else d.ddde±x. */
function layout({ digits, exponent }: Decimal, maxKk: number, minKk: number): string {
  const length = digits.length;
  const kk = length + exponent; // 10^(kk-1) <= v < 10^kk
  if (exponent >= 0 && kk <= maxKk) return `${digits}${'0'.repeat(exponent)}.0`;
  if (kk > 0 && kk <= maxKk) return `${digits.slice(0, kk)}.${digits.slice(kk)}`;
  if (kk > minKk && kk <= 0) return `0.${'0'.repeat(-kk)}${digits}`;
  const mantissa = length === 1 ? digits : `${digits[0]}.${digits.slice(1)}`;
  return `${mantissa}e${kk - 1}`;
}

function format(x: number, shortest: (v: number) => Decimal, maxKk: number, minKk: number): string {
  if (!Number.isFinite(x)) return 'null'; // serde_json writes NaN and infinities as null
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  return sign + layout(shortest(Math.abs(x)), maxKk, minKk);
}

/** serde_json's text for an f32. */
export const formatF32 = (x: number): string => format(Math.fround(x), shortestF32, 13, -6);

/** serde_json's text for an f64 (JavaScript's own shortest digits are ryu's). */
export const formatF64 = (x: number): string => format(x, (v) => decimalOf(v.toExponential()), 16, -5);
