// EDGELESS's functions/sensor_simulator, in JS: at init and then every `period` ms it casts a random number
// in [min-value, max-value) to `output`, from EDGELESS's LCG (edgeless_function/src/lcg.rs) with `seed`.
let period = 1000;
let min = 0;
let max = 1;
let seed = 0;

// The LCG of edgeless_function, in 32-bit arithmetic, and f32 as Rust computes it.
function rand() {
  seed = (Math.imul(1103515245, seed) + 12345) >>> 0;
  seed = seed % 2147483648;
  return Math.fround(seed / 2147483648);
}

// Rust's `format!("{}", f32)`: the shortest decimal that reads back as the same f32.
function f32Text(v) {
  for (let p = 1; p <= 9; p++) {
    const s = v.toPrecision(p);
    if (Math.fround(Number(s)) === v) return String(Number(s));
  }
  return String(v);
}

export function handle_init(payload) {
  const args = edgeless.parse_init_payload(payload);
  const num = (k, d) => (args[k] !== undefined && !Number.isNaN(Number(args[k])) ? Number(args[k]) : d);
  period = num('period', 1000);
  min = Math.fround(num('min-value', 0));
  max = Math.fround(num('max-value', 1));
  seed = num('seed', 0) >>> 0;
  edgeless.cast('self', '');
}

export function handle_cast() {
  const value = Math.fround(Math.fround(rand() * Math.fround(max - min)) + min);
  edgeless.cast('output', f32Text(value));
  edgeless.delayed_cast(period, 'self', '');
}
