import { TesseraError } from '../../errors/index.js';
import type { FunctionDefinition, FunctionRegistry } from '../registry.js';

const requirePayload = (payload: string | null, fn: string): string => {
  if (payload === null) throw new TesseraError('missing_value', `${fn} needs a payload; invoke it with a non-null "payload"`);
  return payload;
};

// Rust's String::from_utf8_lossy and WHATWG's decoder both replace each maximal invalid
// subsequence with U+FFFD, so the non-fatal TextDecoder gives MesaTEE's exact output.
const lossyUtf8 = new TextDecoder('utf-8', { fatal: false });

export const echo: FunctionDefinition = {
  name: 'echo',
  kind: 'builtin',
  type: 'Single',
  description: 'Returns the payload unchanged',
  run: ({ payload }) => requirePayload(payload, 'echo'),
};

export const bytesPlusOne: FunctionDefinition = {
  name: 'bytes_plus_one',
  kind: 'builtin',
  type: 'Single',
  description: 'Adds one to every byte of the payload (wrapping at 255) and returns the result as lossy UTF-8',
  run: ({ payload }) => {
    const bytes = Buffer.from(requirePayload(payload, 'bytes_plus_one'), 'utf8');
    for (let i = 0; i < bytes.length; i++) bytes[i] = (bytes[i] + 1) & 0xff;
    return lossyUtf8.decode(bytes);
  },
};

export function registerPayloadBuiltins(registry: FunctionRegistry): void {
  registry.register(echo);
  registry.register(bytesPlusOne);
}
