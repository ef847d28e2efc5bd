import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatF32, formatF64 } from './rust-float.js';

// Expected texts are what serde_json (ryu) prints for these f32 / f64 values: its shortest round-trip
// digits, in ryu's layout (plain up to 13 integer digits for f32 and 16 for f64, 0.000… down to 10^-6 /
// 10^-5, then d.ddde±x with no '+').

test('f32 as serde_json prints it', () => {
  const cases: Array<[number, string]> = [
    [0, '0.0'],
    [-0, '-0.0'],
    [1, '1.0'],
    [2.45, '2.45'],
    [0.1, '0.1'],
    [-1, '-1.0'],
    [1.0000264645, '1.0000265'],
    [123456789, '123456790.0'],
    [1e12, '1000000000000.0'],
    [1e13, '1e13'],
    [1.5e30, '1.5e30'],
    [0.000001, '0.000001'],
    [1e-7, '1e-7'],
    [1.25e-7, '1.25e-7'],
    [-3.4028234663852886e38, '-3.4028235e38'],
    [1.401298464324817e-45, '1e-45'],
    [16777216, '16777216.0'],
    [Number.NaN, 'null'],
  ];
  for (const [value, text] of cases) assert.equal(formatF32(value), text, `f32 ${value}`);
});

test('every f32 text reads back as the same f32, and no shorter text does', () => {
  for (let i = 0; i < 20000; i++) {
    const bits = new Uint32Array([(Math.random() * 2 ** 32) >>> 0]);
    const value = new Float32Array(bits.buffer)[0];
    if (!Number.isFinite(value)) continue;
    const text = formatF32(value);
    assert.equal(Math.fround(Number(text)), value, `${value} printed ${text}`);
    const digits = text.replace(/^-/, '').replace(/e.*$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
    if (digits.length > 1) {
      const shorter = Math.abs(value).toPrecision(digits.length - 1);
      assert.notEqual(Math.fround(Number(shorter)), Math.abs(value), `${value}: ${shorter} is shorter than ${text}`);
    }
  }
});

test('f64 as serde_json prints it', () => {
  const cases: Array<[number, string]> = [
    [1, '1.0'],
    [0.5, '0.5'],
    [0.3, '0.3'],
    [1e15, '1000000000000000.0'],
    [1e16, '1e16'],
    [0.0001, '0.0001'],
    [0.00001, '0.00001'],
    [0.000001, '1e-6'],
    [1.5e-300, '1.5e-300'],
  ];
  for (const [value, text] of cases) assert.equal(formatF64(value), text, `f64 ${value}`);
});
