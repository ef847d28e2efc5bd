// What sealing private rows at rest (issue 16 #6) costs the store: point reads, single-row commits and
// prefix listings against the same store keeping rows in the clear, in the same process, rounds alternating.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteStore } from '../src/store/sqlite.js';
import { tempDir } from '../test/helpers/cli.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 10_000);
const ROUNDS = 5;
const value = (i: number) => ({ owner: `user${i % 100}`, file_name: `file-${i}.csv`, sha256: 'ab'.repeat(32), size: i });
const key = (i: number) => `user${i % 100}\u0000${String(i).padStart(8, '0')}`;

function open(sealed: boolean) {
  const dir = tempDir('tessera-bench-rows-');
  const store = new SqliteStore(join(dir, 'store.sqlite'), { ledgerKey: Buffer.alloc(32, 1), ...(sealed ? { rowKey: Buffer.alloc(32, 2) } : {}) });
  store.transact((tx) => {
    for (let i = 0; i < ROWS; i++) tx.put('files.records', key(i), value(i));
  });
  return { store, dir };
}

/** Operations per second of `op`, run for about `ms`. */
function rate(op: (i: number) => void, ms = 400): number {
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < ms) for (let k = 0; k < 100; k++) op(n++);
  return n / ((performance.now() - start) / 1000);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const stores = { clear: open(false), sealed: open(true) };
const results: Record<'clear' | 'sealed', { get: number[]; put: number[]; list: number[] }> = { clear: { get: [], put: [], list: [] }, sealed: { get: [], put: [], list: [] } };
for (let round = 0; round < ROUNDS; round++) {
  process.stderr.write(`  round ${round + 1}/${ROUNDS}\n`);
  for (const mode of ['clear', 'sealed'] as const) {
    const { store } = stores[mode];
    results[mode].get.push(rate((i) => store.read((tx) => tx.get('files.records', key((i * 7919) % ROWS)))));
    results[mode].put.push(rate((i) => store.transact((tx) => tx.put('files.records', key((i * 7919) % ROWS), value(i))), 300));
    results[mode].list.push(rate((i) => store.read((tx) => tx.list('files.records', `user${i % 100}\u0000`)), 300));
  }
}
for (const { store, dir } of Object.values(stores)) {
  store.close();
  rmSync(dir, { recursive: true, force: true });
}
const summary = (mode: 'clear' | 'sealed') => ({ get_per_s: Math.round(median(results[mode].get)), put_per_s: Math.round(median(results[mode].put)), list_100_per_s: Math.round(median(results[mode].list)) });
console.log(JSON.stringify({ benchmark: 'sealed private rows vs rows in the clear', rows: ROWS, rounds: ROUNDS, sealed: summary('sealed'), clear: summary('clear') }, null, 2));
