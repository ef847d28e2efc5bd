/**
 * Caps a WebAssembly module's linear memory by rewriting the limits in its binary: each memory it
 * defines (section 5) or imports (section 2) gets maximum = min(declared maximum, cap), so memory.grow
 * past the cap fails inside the module, as on a smaller machine. Shared and 64-bit memories are refused.
 * Returns the new bytes and the pages the module's own memories may reach (imported memories are
 * counted where they are made).
 *
 * Self-contained on purpose: the sandbox boundary embeds this function's source, so the same code caps
 * modules on the host and modules a guest compiles inside its isolate. There a guest may have replaced
 * any prototype method or global, so this uses only typed-array indexing, operators and the two values
 * passed in (the length, and the Uint8Array constructor captured before guest code ran): no method
 * calls, no array literals written by index, no destructuring, no iteration protocol.
 */
export function capMemory(wasm: Uint8Array, n: number, capPages: number, U8: Uint8ArrayConstructor): { bytes: Uint8Array; pages: number } {
  const fail = (message: string): never => {
    throw new RangeError(message);
  };
  let pos = 0;
  const readU32 = (at: number): number => {
    let result = 0;
    let shift = 0;
    pos = at;
    for (;;) {
      if (pos >= n) fail('the WebAssembly module is truncated');
      const byte = wasm[pos++];
      result += (byte & 0x7f) * 2 ** shift;
      if (!(byte & 0x80)) break;
      shift += 7;
      if (shift > 28) fail('the WebAssembly module is malformed (bad LEB128)');
    }
    return result >>> 0;
  };
  let out: Uint8Array | null = null;
  let o = 0;
  const put = (byte: number) => {
    if (out) out[o] = byte;
    o++;
  };
  const putU32 = (v: number) => {
    do {
      let byte = v & 0x7f;
      v >>>= 7;
      if (v) byte |= 0x80;
      put(byte);
    } while (v);
  };
  const copy = (from: number, to: number) => {
    if (to > n) fail('the WebAssembly module is truncated');
    if (out) for (let i = from; i < to; i++) out[o + i - from] = wasm[i];
    o += to - from;
  };
  let ownPages = 0;
  let counting = true;
  /** One `limits` (flags, min[, max]) re-emitted with max capped; returns where the old one ended. */
  const limits = (at: number, own: boolean): number => {
    const flags = wasm[at];
    if (flags & ~0x01) fail('the WebAssembly module uses shared or 64-bit memory, which this sandbox does not offer');
    const min = readU32(at + 1);
    let max = capPages;
    if (flags & 1) max = readU32(pos);
    const end = pos;
    if (min > capPages) fail('the WebAssembly module needs ' + min + ' pages of memory at start; its limit is ' + capPages + ' pages');
    const capped = max < capPages ? max : capPages;
    if (own && !counting) ownPages += capped;
    put(0x01);
    putU32(min);
    putU32(capped);
    return end;
  };
  const skipName = (at: number): number => readU32(at) + pos;
  /** Emits a memory or import section's body, rewritten; returns nothing, advances `o`. */
  const body = (id: number, start: number, end: number) => {
    const count = readU32(start);
    let p = pos;
    putU32(count);
    for (let i = 0; i < count; i++) {
      if (id === 5) {
        p = limits(p, true);
        continue;
      }
      const entry = p;
      p = skipName(skipName(p));
      const kind = wasm[p];
      if (kind === 0x02) {
        copy(entry, p + 1);
        p = limits(p + 1, false);
      } else {
        let to: number;
        if (kind === 0x00) to = (readU32(p + 1), pos);
        else if (kind === 0x01) {
          const flags = wasm[p + 2];
          to = (readU32(p + 3), pos);
          if (flags & 1) to = (readU32(to), pos);
        } else to = p + 3;
        copy(entry, to);
        p = to;
      }
    }
    if (p > end) fail('the WebAssembly module is malformed (a section overruns its size)');
  };
  if (n < 8 || wasm[0] !== 0x00 || wasm[1] !== 0x61 || wasm[2] !== 0x73 || wasm[3] !== 0x6d) fail('not a WebAssembly module (bad magic)');
  // Two passes: the first measures, the second writes into an array of exactly that size.
  for (let pass = 0; pass < 2; pass++) {
    counting = pass === 0;
    if (!counting) out = new U8(o);
    o = 0;
    copy(0, 8);
    let at = 8;
    while (at < n) {
      const id = wasm[at];
      const size = readU32(at + 1);
      const bodyStart = pos;
      const bodyEnd = bodyStart + size;
      if (bodyEnd > n) fail('the WebAssembly module is truncated');
      if (id === 2 || id === 5) {
        const saved = out;
        const before = o;
        const wasCounting = counting;
        out = null;
        counting = true;
        body(id, bodyStart, bodyEnd);
        counting = wasCounting;
        const length = o - before;
        o = before;
        out = saved;
        put(id);
        putU32(length);
        body(id, bodyStart, bodyEnd);
      } else copy(at, bodyEnd);
      at = bodyEnd;
    }
  }
  return { bytes: out as Uint8Array, pages: ownPages };
}
