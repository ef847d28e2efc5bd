// What a historical query costs as the ledger grows (issue 17, "historical state cached"): the state one
// past transaction wrote, read through the store's historical cache (src/store/historical-cache.ts), at
// 1,000, 10,000 and 50,000 transactions, in one process. "cold" is the first query of a seqno on a fresh
// connection (one log row read by primary key and unsealed), "warm" the same seqnos again (cache hits).
// For contrast, "rebuild" replays the log from its start up to the queried seqno, which is what each
// historical query did before: linear in the ledger's length.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { unseal } from '../src/crypto/aead.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { tempDir } from '../test/helpers/cli.js';

const SIZES = (process.env.BENCH_HISTORICAL_SIZES ?? '1000,10000,50000').split(',').map(Number);
const QUERIES = 1000;
const REBUILDS = 5;
const TABLE = 'app:records';
const keys = { ledgerKey: Buffer.alloc(32, 1), rowKey: Buffer.alloc(32, 2) };
const dir = tempDir('tessera-bench-historical-');
const path = join(dir, 'store.sqlite');

/** Distinct seqnos spread over the whole ledger, deterministic (7919 is prime, so the stride visits each once). */
const sample = (n: number, upTo: number) => Array.from({ length: Math.min(n, upTo) }, (_, i) => 1 + ((i * 7919 + 13) % upTo));

/** The old way: replay every log row up to `seqno` (private writes unsealed), keeping the table's latest values. */
function rebuild(store: SqliteStore, seqno: number): number {
  const db = store.database;
  let n = 0;
  for (const row of db.prepare('SELECT seqno, writes FROM txlog WHERE seqno <= ? ORDER BY seqno').iterate(seqno) as Iterable<{ seqno: number; writes: string }>) {
    for (const w of JSON.parse(row.writes) as Array<{ table: string; sealed?: string }>) {
      if (w.sealed) {
        unseal(keys.ledgerKey, Buffer.from(w.sealed, 'base64'), Buffer.from(`${row.seqno}\0${w.table}`));
        n++;
      }
    }
  }
  return n;
}

let store = new SqliteStore(path, keys);
let written = 0;
const results: Array<{ transactions: number; cold_us: number; warm_us: number; rebuild_ms: number }> = [];
for (const size of SIZES) {
  process.stderr.write(`  writing up to ${size} transactions\n`);
  for (; written < size; written++) {
    const i = written;
    store.transact((tx) => {
      tx.put(TABLE, `k${i % 1000}`, { msg: `message ${i}`, n: i });
      tx.put('public:app:index', `k${i % 1000}`, i);
    });
  }
  store.close();
  if (results.length === 0) {
    // Warms the JIT on the same code paths once, on a connection of its own, so the first size is not charged for it.
    const warmup = new SqliteStore(path, keys);
    for (const s of sample(QUERIES, warmup.lastSeqno())) warmup.stateAt(TABLE, s);
    for (const s of sample(QUERIES, warmup.lastSeqno())) warmup.stateAt(TABLE, s);
    warmup.close();
  }
  // Cold: the best of three fresh connections (an empty cache each, so every query is a miss); the machine
  // is shared, and one slow round should not stand for the cost.
  const seqnos = sample(QUERIES, written);
  let cold = Infinity;
  let t = 0;
  for (let round = 0; round < 3; round++) {
    store.close();
    store = new SqliteStore(path, keys);
    t = performance.now();
    for (const s of seqnos) store.stateAt(TABLE, s);
    cold = Math.min(cold, ((performance.now() - t) * 1000) / seqnos.length);
  }
  // Warm: the best of three rounds over the same seqnos, all cache hits.
  let warm = Infinity;
  for (let round = 0; round < 3; round++) {
    t = performance.now();
    for (const s of seqnos) store.stateAt(TABLE, s);
    warm = Math.min(warm, ((performance.now() - t) * 1000) / seqnos.length);
  }
  t = performance.now();
  for (const s of sample(REBUILDS, store.lastSeqno())) rebuild(store, s);
  const rebuildMs = (performance.now() - t) / REBUILDS;
  results.push({ transactions: store.lastSeqno(), cold_us: Number(cold.toFixed(2)), warm_us: Number(warm.toFixed(2)), rebuild_ms: Number(rebuildMs.toFixed(1)) });
}
store.close();
rmSync(dir, { recursive: true, force: true });
const first = results[0];
const lastResult = results[results.length - 1];
console.log(
  JSON.stringify(
    {
      benchmark: 'historical query cost against ledger length',
      queries_per_size: QUERIES,
      sizes: results,
      // Queries per second at the largest ledger over those at the smallest: about 1 when the cost does not grow.
      cold_ratio_largest_vs_first: Number((first.cold_us / lastResult.cold_us).toFixed(3)),
      warm_ratio_largest_vs_first: Number((first.warm_us / lastResult.warm_us).toFixed(3)),
      rebuild_ratio_largest_vs_first: Number((first.rebuild_ms / lastResult.rebuild_ms).toFixed(3)),
      first,
      largest: lastResult,
    },
    null,
    2,
  ),
);
