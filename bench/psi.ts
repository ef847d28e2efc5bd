// PSI benchmark: the psi and ordered_set_intersect built-ins over N × N records with a known
// overlap, timed from the moment the plaintext inputs are in memory to the moment both results are
// handed back. Upload, encryption and approval are outside the timing: they are the files benchmark.
import { createHash, randomBytes } from 'node:crypto';
import type { FunctionContext } from '../src/functions/registry.js';
import { sortedOrder } from '../src/functions/builtins/record-set.js';
import { orderedSetIntersect, psi } from '../src/functions/builtins/set-intersection.js';
import { median } from './stats.js';

const SIZES = (process.env.BENCH_PSI_LOG2 ?? '20,24').split(',').map(Number);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const RECORD = 32;

/** Side A: n random records; side B: half of A's plus fresh ones, sorted. */
function records(n: number) {
  const a = randomBytes(n * RECORD);
  const b = Buffer.alloc(n * RECORD);
  a.copy(b, 0, 0, (n / 2) * RECORD);
  randomBytes((n / 2) * RECORD).copy(b, (n / 2) * RECORD);
  // Sorting 2^24 Buffer views with a comparator takes minutes; psi re-checks this order itself.
  const order = sortedOrder(b);
  const sorted = Buffer.alloc(b.length);
  order.forEach((from, to) => b.copy(sorted, to * RECORD, from * RECORD, (from + 1) * RECORD));
  return { a, b: sorted };
}

function context(files: Record<string, Buffer>, results: Buffer[]): FunctionContext {
  return {
    taskId: 'bench',
    creator: 'a',
    payload: null,
    inputFiles: [
      { user_id: 'a', file_id: 'f1' },
      { user_id: 'b', file_id: 'f2' },
    ],
    collaborators: ['b'],
    signal: new AbortController().signal,
    readFile: async (id) => files[id],
    saveForCreator: async () => 'x',
    saveForFileOwner: async (data) => (results.push(data), 'x'),
    saveForAllParticipants: async () => 'x',
  };
}

async function time(run: () => Promise<unknown>) {
  const t = performance.now();
  await run();
  return (performance.now() - t) / 1000;
}

const report: Record<string, unknown>[] = [];
for (const log2 of SIZES) {
  const n = 2 ** log2;
  process.stderr.write(`  psi 2^${log2}: generating ${n} × ${n} records\n`);
  const { a, b } = records(n);
  const psiTimes: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const results: Buffer[] = [];
    psiTimes.push(await time(async () => psi.run(context({ f1: a, f2: b }, results))));
    const common = results[0].reduce((s, x) => s + x, 0);
    if (common !== n / 2) throw new Error(`psi found ${common} common records, expected ${n / 2}`);
    process.stderr.write(`  psi 2^${log2} round ${r + 1}/${ROUNDS}: ${psiTimes[r].toFixed(2)} s\n`);
  }
  const row: Record<string, unknown> = { records_per_side: `2^${log2}`, psi_s: { median: median(psiTimes), min: Math.min(...psiTimes), max: Math.max(...psiTimes) } };
  // ordered_set_intersect reads hex text; 2^24 lines of 64 hex digits exceed V8's maximum string length.
  if (log2 <= 22) {
    const hex = (buf: Buffer) => Buffer.from(Array.from({ length: n }, (_, i) => createHash('sha256').update(buf.subarray(i * RECORD, (i + 1) * RECORD)).digest('hex')).sort().join('\n'));
    const ha = hex(a);
    const hb = hex(b);
    const osiTimes: number[] = [];
    for (let r = 0; r < ROUNDS; r++) osiTimes.push(await time(async () => orderedSetIntersect.run(context({ f1: ha, f2: hb }, []))));
    row.ordered_set_intersect_s = { median: median(osiTimes), min: Math.min(...osiTimes), max: Math.max(...osiTimes) };
  }
  report.push(row);
}
console.log(JSON.stringify({ benchmark: 'PSI built-ins, compute only', rounds: ROUNDS, mesatee_published_2_24_s: 105, targets_s: { '2^20': 2, '2^24': 60 }, results: report }, null, 2));
