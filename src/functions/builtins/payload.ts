import type { FunctionDefinition } from '../registry.js';
import { lossyUtf8, requirePayload } from './common.js';

const noFiles = { arguments: [], inputs: [], outputs: [] };

export const echo: FunctionDefinition = {
  name: 'echo',
  kind: 'builtin',
  type: 'Single',
  description: 'Returns the payload unchanged',
  interface: { payload: 'text', ...noFiles },
  run: ({ payload }) => requirePayload(payload, 'echo'),
};

export const bytesPlusOne: FunctionDefinition = {
  name: 'bytes_plus_one',
  kind: 'builtin',
  type: 'Single',
  description: 'Adds one to every byte of the payload (wrapping at 255) and returns the result as lossy UTF-8',
  interface: { payload: 'text', ...noFiles },
  run: ({ payload }) => {
    const bytes = Buffer.from(requirePayload(payload, 'bytes_plus_one'), 'utf8');
    for (let i = 0; i < bytes.length; i++) bytes[i] = (bytes[i] + 1) & 0xff;
    return lossyUtf8(bytes);
  },
};
