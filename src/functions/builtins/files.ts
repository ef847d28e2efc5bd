import type { FunctionDefinition } from '../registry.js';
import { lossyUtf8, requirePayload } from './common.js';

export const echoFile: FunctionDefinition = {
  name: 'echo_file',
  kind: 'builtin',
  type: 'Single',
  description: 'Returns the content of the file whose id is the payload, as lossy UTF-8',
  interface: {
    payload: 'text',
    arguments: [{ name: 'payload', description: 'a file id the task creator may read', required: true }],
    inputs: [],
    outputs: [],
  },
  run: async (ctx) => lossyUtf8(await ctx.readFile(requirePayload(ctx.payload, 'echo_file'))),
};

export const fileBytesPlusOne: FunctionDefinition = {
  name: 'file_bytes_plus_one',
  kind: 'builtin',
  type: 'Single',
  description: 'Adds one to every byte of the file whose id is the payload (wrapping) and returns it as lossy UTF-8',
  interface: {
    payload: 'text',
    arguments: [{ name: 'payload', description: 'a file id the task creator may read', required: true }],
    inputs: [],
    outputs: [],
  },
  run: async (ctx) => {
    const bytes = Buffer.from(await ctx.readFile(requirePayload(ctx.payload, 'file_bytes_plus_one')));
    for (let i = 0; i < bytes.length; i++) bytes[i] = (bytes[i] + 1) & 0xff;
    return lossyUtf8(bytes);
  },
};

export const concat: FunctionDefinition = {
  name: 'concat',
  kind: 'builtin',
  type: 'Multiparty',
  description: 'Concatenates every input file, in input order, and returns the result as lossy UTF-8',
  interface: {
    payload: 'none',
    arguments: [],
    inputs: [
      { name: 'first', description: 'the first file' },
      { name: 'rest', description: 'the following files', variadic: true },
    ],
    outputs: [],
  },
  run: async (ctx) => {
    const parts: Buffer[] = [];
    for (const f of ctx.inputFiles) parts.push(await ctx.readFile(f.file_id));
    return lossyUtf8(Buffer.concat(parts));
  },
};

export const swapFile: FunctionDefinition = {
  name: 'swap_file',
  kind: 'builtin',
  type: 'Multiparty',
  description: "Gives each of two owners the other's file, and everyone both files concatenated; returns the shared file's id",
  interface: {
    payload: 'none',
    arguments: [],
    inputs: [
      { name: 'file1', description: 'the first party’s file' },
      { name: 'file2', description: 'the second party’s file' },
    ],
    outputs: [
      { name: 'both', description: 'file1 ‖ file2', for: 'all_participants' },
      { name: 'file2_for_owner1', description: 'file2, for the owner of file1', for: 'file_owner' },
      { name: 'file1_for_owner2', description: 'file1, for the owner of file2', for: 'file_owner' },
    ],
  },
  run: async (ctx) => {
    const [f1, f2] = ctx.inputFiles;
    const [d1, d2] = [await ctx.readFile(f1.file_id), await ctx.readFile(f2.file_id)];
    const shared = await ctx.saveForAllParticipants(Buffer.concat([d1, d2]));
    await ctx.saveForFileOwner(d2, f1.file_id);
    await ctx.saveForFileOwner(d1, f2.file_id);
    return shared;
  },
};
