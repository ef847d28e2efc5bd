// EDGELESS's sqlx resource replies to a SELECT with `serde_json::to_string(&WorkflowState { id, metadata })`,
// where `metadata` is the column parsed as a `serde_json::Value` (serde_json 1.0.145, without the
// preserve_order feature: Cargo.lock of edgeless-project/edgeless has no indexmap under serde_json). To
// give byte-identical replies this module re-reads JSON the way serde_json does and writes it back as
// serde_json prints it, which JSON.parse/JSON.stringify do not:
// - object keys come out sorted (serde_json's Map is a BTreeMap<String, _>: byte order of the UTF-8 keys),
//   a repeated key keeps its last value;
// - a number with a fraction or exponent is an f64 and prints with ryu ("42.0", "1e21", "1.5e-7"); one
//   without is an integer (u64/i64) and prints as such; an integer too large for both is an f64; "-0" is -0.0;
// - errors read as serde_json's ("expected value at line 1 column 1").

export type SerdeValue = null | boolean | string | { int: bigint } | { float: number } | SerdeValue[] | { map: Map<string, SerdeValue> };

export class SerdeJsonError extends Error {}

const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);

/** Parses `text` as serde_json::from_str::<Value> would; throws SerdeJsonError with serde_json's wording. */
export function serdeParse(text: string): SerdeValue {
  let i = 0;
  const where = (at = i) => {
    let line = 1;
    let column = 0;
    for (let k = 0; k < at && k < text.length; k++) {
      if (text[k] === '\n') {
        line++;
        column = 0;
      } else column++;
    }
    return `at line ${line} column ${column}`;
  };
  // serde_json reports the column of the character it stopped at (1-based), or of the last one at the end.
  const fail = (what: string, at = i): never => {
    throw new SerdeJsonError(`${what} ${where(Math.min(at + 1, text.length))}`);
  };
  const ws = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const depthLimit = 128; // serde_json's recursion limit
  const value = (depth: number): SerdeValue => {
    ws();
    if (i >= text.length) fail('EOF while parsing a value', text.length - 1);
    const c = text[i]!;
    if (c === '{' || c === '[') {
      if (depth >= depthLimit) fail('recursion limit exceeded');
      i++;
      return c === '{' ? object(depth + 1) : array(depth + 1);
    }
    if (c === '"') return string();
    if (c === '-' || (c >= '0' && c <= '9')) return number();
    const ident = ({ t: ['true', true], f: ['false', false], n: ['null', null] } as const)[c as 't' | 'f' | 'n'];
    if (!ident) return fail('expected value');
    // serde_json reads the word letter by letter and stops at the first one that differs.
    const [word, v] = ident;
    for (let m = 1; m < word.length; m++) {
      if (i + m >= text.length) fail('EOF while parsing a value', text.length - 1);
      if (text[i + m] !== word[m]) fail('expected ident', i + m);
    }
    i += word.length;
    return v;
  };
  const object = (depth: number): SerdeValue => {
    const map = new Map<string, SerdeValue>();
    ws();
    if (text[i] === '}') {
      i++;
      return { map };
    }
    for (;;) {
      ws();
      if (i >= text.length) fail('EOF while parsing an object', text.length - 1);
      if (text[i] !== '"') fail('key must be a string');
      const key = string();
      ws();
      if (i >= text.length) fail('EOF while parsing an object', text.length - 1);
      if (text[i] !== ':') fail('expected `:`');
      i++;
      map.delete(key);
      map.set(key, value(depth));
      ws();
      if (i >= text.length) fail('EOF while parsing an object', text.length - 1);
      if (text[i] === ',') {
        i++;
        ws();
        if (text[i] === '}') fail('trailing comma');
        continue;
      }
      if (text[i] === '}') {
        i++;
        return { map };
      }
      fail('expected `,` or `}`');
    }
  };
  const array = (depth: number): SerdeValue => {
    const items: SerdeValue[] = [];
    ws();
    if (text[i] === ']') {
      i++;
      return items;
    }
    for (;;) {
      items.push(value(depth));
      ws();
      if (i >= text.length) fail('EOF while parsing a list', text.length - 1);
      if (text[i] === ',') {
        i++;
        ws();
        if (text[i] === ']') fail('trailing comma');
        continue;
      }
      if (text[i] === ']') {
        i++;
        return items;
      }
      fail('expected `,` or `]`');
    }
  };
  const string = (): string => {
    i++; // the opening quote
    let out = '';
    for (;;) {
      if (i >= text.length) fail('EOF while parsing a string', text.length - 1);
      const c = text[i]!;
      if (c === '"') {
        i++;
        return out;
      }
      if (c.charCodeAt(0) < 0x20) fail('control character (\\u0000-\\u001F) found while parsing a string');
      if (c !== '\\') {
        out += c;
        i++;
        continue;
      }
      i++;
      const e = text[i];
      if (e === undefined) fail('EOF while parsing a string', text.length - 1);
      const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
      if (e! in simple) {
        out += simple[e!];
        i++;
        continue;
      }
      if (e !== 'u') fail('invalid escape');
      const hex = (at: number) => {
        const h = text.slice(at, at + 4);
        if (!/^[0-9a-fA-F]{4}$/.test(h)) fail(h.length < 4 && at + 4 > text.length ? 'EOF while parsing a string' : 'invalid escape', Math.min(at + 3, text.length - 1));
        return parseInt(h, 16);
      };
      const u = hex(i + 1);
      i += 5;
      if (u >= 0xdc00 && u <= 0xdfff) fail('lone leading surrogate in hex escape', i - 1);
      if (u >= 0xd800 && u <= 0xdbff) {
        if (text[i] !== '\\' || text[i + 1] !== 'u') fail('unexpected end of hex escape', i - 1);
        const low = hex(i + 2);
        if (low < 0xdc00 || low > 0xdfff) fail('lone leading surrogate in hex escape', i + 5);
        out += String.fromCharCode(u, low);
        i += 6;
        continue;
      }
      out += String.fromCharCode(u);
    }
  };
  const number = (): SerdeValue => {
    const start = i;
    if (text[i] === '-') i++;
    if (i >= text.length) fail('EOF while parsing a value', text.length - 1);
    if (text[i] === '0') {
      i++;
      if (text[i] !== undefined && text[i]! >= '0' && text[i]! <= '9') fail('invalid number');
    } else if (text[i]! >= '1' && text[i]! <= '9') {
      while (text[i] !== undefined && text[i]! >= '0' && text[i]! <= '9') i++;
    } else fail('invalid number');
    let isFloat = false;
    if (text[i] === '.') {
      isFloat = true;
      i++;
      if (!(text[i]! >= '0' && text[i]! <= '9')) fail(i >= text.length ? 'EOF while parsing a value' : 'invalid number', Math.min(i, text.length - 1));
      while (text[i]! >= '0' && text[i]! <= '9') i++;
    }
    if (text[i] === 'e' || text[i] === 'E') {
      isFloat = true;
      i++;
      if (text[i] === '+' || text[i] === '-') i++;
      if (!(text[i]! >= '0' && text[i]! <= '9')) fail(i >= text.length ? 'EOF while parsing a value' : 'invalid number', Math.min(i, text.length - 1));
      while (text[i]! >= '0' && text[i]! <= '9') i++;
    }
    const literal = text.slice(start, i);
    if (!isFloat) {
      const n = BigInt(literal);
      if (n === 0n && literal.startsWith('-')) return { float: -0 };
      if (n >= I64_MIN && n <= U64_MAX) return { int: n };
    }
    const f = Number(literal);
    if (!Number.isFinite(f)) fail('number out of range', i - 1);
    return { float: f };
  };
  const v = value(0);
  ws();
  if (i < text.length) fail('trailing characters');
  return v;
}

/** serde_json's (ryu's) text of a finite f64. */
export function ryuF64(v: number): string {
  if (v === 0) return Object.is(v, -0) ? '-0.0' : '0.0';
  const sign = v < 0 ? '-' : '';
  // JS gives the same shortest round-trip digits as ryu; only the layout differs.
  const [mant, expText] = Math.abs(v).toExponential().split('e') as [string, string];
  const digits = mant.replace('.', '');
  const length = digits.length;
  const kk = Number(expText) + 1; // 10^(kk-1) <= |v| < 10^kk
  const k = kk - length;
  let out: string;
  if (k >= 0 && kk <= 16) out = `${digits}${'0'.repeat(k)}.0`;
  else if (kk > 0 && kk <= 16) out = `${digits.slice(0, kk)}.${digits.slice(kk)}`;
  else if (kk > -5 && kk <= 0) out = `0.${'0'.repeat(-kk)}${digits}`;
  else if (length === 1) out = `${digits}e${kk - 1}`;
  else out = `${digits[0]}.${digits.slice(1)}e${kk - 1}`;
  return sign + out;
}

const byUtf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/** serde_json::to_string of a Value. */
export function serdeStringify(v: SerdeValue): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(serdeStringify).join(',')}]`;
  if ('int' in v) return v.int.toString();
  if ('float' in v) return ryuF64(v.float);
  return `{${[...v.map.keys()]
    .sort(byUtf8)
    .map((k) => `${JSON.stringify(k)}:${serdeStringify(v.map.get(k)!)}`)
    .join(',')}}`;
}
