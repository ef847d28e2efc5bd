import { TesseraError } from '../../errors/index.js';
import type { FunctionDefinition } from '../registry.js';
import { jsonArguments, lines } from './common.js';

const RECORD = 32;

function records(fn: string, data: Buffer, which: string): Buffer[] {
  if (data.length % RECORD !== 0) {
    throw new TesseraError('invalid_input', `${fn}: ${which} is ${data.length} bytes, not a whole number of ${RECORD}-byte records`);
  }
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += RECORD) out.push(data.subarray(i, i + RECORD));
  return out;
}

function assertSorted<T>(fn: string, items: T[], which: string, cmp: (a: T, b: T) => number) {
  for (let i = 1; i < items.length; i++) {
    if (cmp(items[i - 1], items[i]) > 0) throw new TesseraError('invalid_input', `${fn}: ${which} is not sorted (entry ${i + 1} comes before entry ${i})`);
  }
}

function contains(sorted: Buffer[], record: Buffer): boolean {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const c = Buffer.compare(sorted[mid], record);
    if (c === 0) return true;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/** MesaTEE v0.1 psi: 32-byte records; the second file sorted ascending; one 0/1 byte per own record to each owner. */
export const psi: FunctionDefinition = {
  name: 'psi',
  kind: 'builtin',
  type: 'Multiparty',
  description: 'Private set intersection over 32-byte records: each owner learns, per own record, whether the other file has it',
  interface: {
    payload: 'none',
    arguments: [],
    inputs: [
      { name: 'file1', description: '32-byte binary records, in any order' },
      { name: 'file2', description: '32-byte binary records, sorted ascending bytewise' },
    ],
    outputs: [
      { name: 'result1', description: 'one byte 0x00/0x01 per record of file1', for: 'file_owner' },
      { name: 'result2', description: 'one byte 0x00/0x01 per record of file2', for: 'file_owner' },
    ],
  },
  run: async (ctx) => {
    const [f1, f2] = ctx.inputFiles;
    const r1 = records('psi', await ctx.readFile(f1.file_id), 'file 1');
    const r2 = records('psi', await ctx.readFile(f2.file_id), 'file 2');
    assertSorted('psi', r2, 'file 2 (the second party’s)', Buffer.compare);
    const sorted1 = [...r1].sort(Buffer.compare);
    await ctx.saveForFileOwner(Buffer.from(r1.map((r) => (contains(r2, r) ? 1 : 0))), f1.file_id);
    await ctx.saveForFileOwner(Buffer.from(r2.map((r) => (contains(sorted1, r) ? 1 : 0))), f2.file_id);
    return 'Finished';
  },
};

/** Teaclave builtin-ordered-set-intersect: sorted hex lines; ASCII 0/1 per line, no separator. */
export const orderedSetIntersect: FunctionDefinition = {
  name: 'ordered_set_intersect',
  kind: 'builtin',
  type: 'Multiparty',
  description: 'Intersects two sorted lists of hex hashes; each owner gets an ASCII 0/1 per own line',
  interface: {
    payload: 'optional-json',
    arguments: [{ name: 'order', description: '"ascending" (default) or "desending" (sic, as in Teaclave)', required: false }],
    inputs: [
      { name: 'input_data1', description: 'one hex hash per line, sorted' },
      { name: 'input_data2', description: 'one hex hash per line, sorted' },
    ],
    outputs: [
      { name: 'output_result1', description: "'0'/'1' per line of input_data1", for: 'file_owner' },
      { name: 'output_result2', description: "'0'/'1' per line of input_data2", for: 'file_owner' },
    ],
  },
  run: async (ctx) => {
    const { order } = jsonArguments<{ order: 'ascending' | 'desending' }>(
      'ordered_set_intersect',
      ctx.payload,
      { type: 'object', additionalProperties: false, properties: { order: { enum: ['ascending', 'desending'], default: 'ascending' } } },
      true,
    );
    const parse = async (fileId: string, which: string) => {
      const items = lines((await ctx.readFile(fileId)).toString('utf8')).map((l) => l.trim().toLowerCase());
      items.forEach((h, i) => {
        if (!/^[0-9a-f]+$/.test(h)) throw new TesseraError('invalid_input', `ordered_set_intersect: line ${i + 1} of ${which} is not hex`);
      });
      const cmp = order === 'ascending' ? (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0) : (a: string, b: string) => (a > b ? -1 : a < b ? 1 : 0);
      assertSorted('ordered_set_intersect', items, which, cmp);
      return items;
    };
    const [f1, f2] = ctx.inputFiles;
    const a = await parse(f1.file_id, 'input_data1');
    const b = await parse(f2.file_id, 'input_data2');
    const inB = new Set(b);
    const inA = new Set(a);
    const r1 = a.map((h) => (inB.has(h) ? '1' : '0')).join('');
    const r2 = b.map((h) => (inA.has(h) ? '1' : '0')).join('');
    await ctx.saveForFileOwner(Buffer.from(r1), f1.file_id);
    await ctx.saveForFileOwner(Buffer.from(r2), f2.file_id);
    return `${[...r1].filter((c) => c === '1').length} common items`;
  },
};
