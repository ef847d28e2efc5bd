import { TesseraError } from '../../errors/index.js';

// Caps a module's linear memory by rewriting the limits in its binary: a memory it defines (section 5)
// or imports (section 2) gets maximum = min(declared maximum, cap). memory.grow past the cap then fails
// inside the module, as it would on a smaller machine.

function readU32(b: Buffer, at: number): [number, number] {
  let result = 0;
  let shift = 0;
  let pos = at;
  for (;;) {
    const byte = b[pos++];
    result |= (byte & 0x7f) << shift;
    if (!(byte & 0x80)) break;
    shift += 7;
    if (shift > 35) throw new TesseraError('invalid_input', 'the WebAssembly module is malformed (bad LEB128)');
  }
  return [result >>> 0, pos];
}

function u32(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return Buffer.from(out);
}

/** Re-encodes one `limits` (flags, min[, max]) with max capped; returns the new bytes and where the old ended. */
function capLimits(b: Buffer, at: number, cap: number): [Buffer, number] {
  const flags = b[at];
  if (flags & ~0x01) throw new TesseraError('invalid_input', 'shared or 64-bit WebAssembly memories are not supported');
  let [min, pos] = readU32(b, at + 1);
  let max = cap;
  if (flags & 1) [max, pos] = readU32(b, pos);
  if (min > cap) throw new TesseraError('too_large', `the module needs ${min} pages of memory at start; its limit is ${cap} pages`);
  return [Buffer.concat([Buffer.from([0x01]), u32(min), u32(Math.min(max, cap))]), pos];
}

function skipName(b: Buffer, at: number): number {
  const [len, pos] = readU32(b, at);
  return pos + len;
}

export function capMemory(wasm: Buffer, capPages: number): Buffer {
  if (wasm.length < 8 || wasm.readUInt32LE(0) !== 0x6d736100) throw new TesseraError('invalid_input', 'not a WebAssembly module (bad magic)');
  const parts: Buffer[] = [wasm.subarray(0, 8)];
  let at = 8;
  while (at < wasm.length) {
    const id = wasm[at];
    const [size, bodyStart] = readU32(wasm, at + 1);
    const bodyEnd = bodyStart + size;
    if (bodyEnd > wasm.length) throw new TesseraError('invalid_input', 'the WebAssembly module is truncated');
    const body = wasm.subarray(bodyStart, bodyEnd);
    let rewritten: Buffer | null = null;
    if (id === 5) {
      const [count, p0] = readU32(body, 0);
      const entries: Buffer[] = [u32(count)];
      let p = p0;
      for (let i = 0; i < count; i++) {
        const [limits, next] = capLimits(body, p, capPages);
        entries.push(limits);
        p = next;
      }
      rewritten = Buffer.concat(entries);
    } else if (id === 2) {
      const [count, p0] = readU32(body, 0);
      const entries: Buffer[] = [u32(count)];
      let p = p0;
      for (let i = 0; i < count; i++) {
        const start = p;
        p = skipName(body, skipName(body, p));
        const kind = body[p];
        if (kind === 0x02) {
          const [limits, next] = capLimits(body, p + 1, capPages);
          entries.push(body.subarray(start, p + 1), limits);
          p = next;
        } else {
          const end = kind === 0x00 ? readU32(body, p + 1)[1] : kind === 0x01 ? capTableEnd(body, p + 1) : p + 3;
          entries.push(body.subarray(start, end));
          p = end;
        }
      }
      rewritten = Buffer.concat(entries);
    }
    parts.push(rewritten ? Buffer.concat([Buffer.from([id]), u32(rewritten.length), rewritten]) : wasm.subarray(at, bodyEnd));
    at = bodyEnd;
  }
  return Buffer.concat(parts);
}

/** End of a table import: reftype, then limits. */
function capTableEnd(b: Buffer, at: number): number {
  const flags = b[at + 1];
  let [, pos] = readU32(b, at + 2);
  if (flags & 1) [, pos] = readU32(b, pos);
  return pos;
}
