import { TesseraError } from '../../errors/index.js';
import type { FunctionDefinition } from '../registry.js';
import { rustTrim } from './common.js';

const U32_MAX = 4294967295;

/**
 * Parses `identity:amount` lines as MesaTEE v0.1 and Teaclave do, skipping lines they would skip. An
 * identity repeated within one file keeps its last amount, as their map inserts do.
 */
function parse(text: string): Map<string, number> {
  const totals = new Map<string, number>();
  for (const raw of text.split('\n')) {
    const line = rustTrim(raw);
    if (line.length < 3) continue;
    const parts = line.split(':');
    if (parts.length !== 2) continue;
    const amount = rustTrim(parts[1]);
    if (!/^\+?\d+$/.test(amount) || Number(amount) > U32_MAX) continue;
    const id = rustTrim(parts[0]);
    totals.set(id, Number(amount));
  }
  return totals;
}

/**
 * MesaTEE v0.1 private_join_and_compute: the identities present in every file, with their amounts
 * summed across files (within a file the last line for an identity counts). v0.1 emitted HashMap order; Tessera sorts by identity so every owner's copy is identical and
 * reproducible.
 */
export const privateJoinAndCompute: FunctionDefinition = {
  name: 'private_join_and_compute',
  kind: 'builtin',
  type: 'Multiparty',
  description: 'Sums amounts per identity over the identities that appear in every input; each owner gets the same result file',
  interface: {
    payload: 'none',
    arguments: [],
    inputs: [
      { name: 'first', description: 'lines "identity:amount" (amount a u32)' },
      { name: 'others', description: 'the other parties’ files, same format', variadic: true },
    ],
    outputs: [{ name: 'result', description: 'lines "{identity} : {sum}\\n", sorted by identity', for: 'file_owner' }],
  },
  run: async (ctx) => {
    const tables: Map<string, number>[] = [];
    for (const f of ctx.inputFiles) tables.push(parse((await ctx.readFile(f.file_id)).toString('utf8')));
    const common = [...tables[0].keys()].filter((id) => tables.every((t) => t.has(id))).sort();
    let out = '';
    for (const id of common) {
      const sum = tables.reduce((acc, t) => acc + t.get(id)!, 0);
      if (sum > U32_MAX) throw new TesseraError('invalid_input', `private_join_and_compute: the sum for '${id}' overflows a u32`);
      out += `${id} : ${sum}\n`;
    }
    // A saved buffer is handed over (see FunctionContext), so each owner's save gets its own.
    for (const f of ctx.inputFiles) await ctx.saveForFileOwner(Buffer.from(out), f.file_id);
    return 'Finished';
  },
};
