import { Ajv } from 'ajv';
import { TesseraError } from '../../errors/index.js';

// Rust's String::from_utf8_lossy and WHATWG's decoder both replace each maximal invalid
// subsequence with U+FFFD, so the non-fatal TextDecoder gives MesaTEE's exact output.
const decoder = new TextDecoder('utf-8', { fatal: false });
export const lossyUtf8 = (bytes: Uint8Array): string => decoder.decode(bytes);

/** Refuses a list out of order; `compareAt(i)` compares entry i - 1 with entry i. */
export function assertOrdered(fn: string, which: string, count: number, compareAt: (i: number) => number): void {
  for (let i = 1; i < count; i++) {
    if (compareAt(i) > 0) throw new TesseraError('invalid_input', `${fn}: ${which} is not sorted (entry ${i + 1} comes before entry ${i})`);
  }
}

export const requirePayload = (payload: string | null, fn: string): string => {
  if (payload === null) throw new TesseraError('missing_value', `${fn} needs a payload; invoke it with a non-null "payload"`);
  return payload;
};

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });

/** Parses a JSON-object payload against a schema, with defaults filled in. */
export function jsonArguments<T>(fn: string, payload: string | null, schema: object, optional = false): T {
  let value: unknown;
  if (payload === null) {
    if (!optional) throw new TesseraError('missing_value', `${fn} needs its arguments as a JSON object in "payload"`);
    value = {};
  } else {
    try {
      value = JSON.parse(payload);
    } catch {
      throw new TesseraError('invalid_input', `${fn}: the payload must be a JSON object of arguments`);
    }
  }
  const validate = ajv.compile(schema);
  if (!validate(value)) {
    const problems = (validate.errors ?? []).map((e) => `${e.instancePath.slice(1) || 'arguments'} ${e.message}`).join('; ');
    throw new TesseraError('invalid_input', `${fn}: ${problems}`);
  }
  return value as T;
}

export const decodeBase64 = (fn: string, what: string, value: string): Buffer => {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) {
    throw new TesseraError('invalid_input', `${fn}: ${what} is not standard base64`);
  }
  return Buffer.from(value, 'base64');
};

/** Splits text into lines as Rust's str::lines does: on \n, dropping one trailing \r per line and a final empty line. */
export function lines(text: string): string[] {
  const out = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (out.length && out[out.length - 1] === '') out.pop();
  return out;
}

/** Rust's str::trim: strips Unicode White_Space (which, unlike String.prototype.trim, has U+0085 and not U+FEFF). */
const RUST_WS = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const RUST_TRIM = new RegExp(`^[${RUST_WS}]+|[${RUST_WS}]+$`, 'g');
export const rustTrim = (s: string): string => s.replace(RUST_TRIM, '');
