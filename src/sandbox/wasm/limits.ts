import { TesseraError } from '../../errors/index.js';
import { capMemory as cap } from './cap-memory.js';

/** Caps a module's linear memory at `capPages` (see cap-memory.ts); a module it cannot accept is invalid input. */
export function capMemory(wasm: Buffer, capPages: number): Buffer {
  try {
    const { bytes } = cap(wasm, wasm.length, capPages, Uint8Array);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } catch (err) {
    const message = (err as Error).message;
    throw new TesseraError(/needs \d+ pages/.test(message) ? 'too_large' : 'invalid_input', message);
  }
}
