import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { HistoricalCache } from '../../src/store/historical-cache.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { tempDir } from '../helpers/cli.js';

// Historical state as CCF gives it: "a Store containing the state written at the given seqno"
// (include/ccf/historical_queries_interface.h), i.e. each transaction's own writes, not the KV as of
// then; and cached across requests (CCF's historical state cache, src/node/historical_queries.h).

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function open() {
  const dir = tempDir('tessera-historical-');
  dirs.push(dir);
  // With both keys, as the node runs: private tables are sealed in the log and named by MACs.
  return new SqliteStore(join(dir, 'store.sqlite'), { ledgerKey: Buffer.alloc(32, 1), rowKey: Buffer.alloc(32, 2) });
}

describe("stateAt gives a transaction's own writes", () => {
  for (const table of ['public:app:records', 'app:records']) {
    test(table, () => {
      const store = open();
      const s1 = store.transact((tx) => {
        tx.put(table, 'a', 'A1');
        tx.put(table, 'b', 'B1');
      }).seqno!;
      const s2 = store.transact((tx) => tx.put(table, 'a', 'A2')).seqno!;
      const s3 = store.transact((tx) => tx.delete(table, 'b')).seqno!;
      const s4 = store.transact((tx) => tx.put('public:app:other', 'x', 'X')).seqno!;
      assert.deepEqual([...store.stateAt(table, s1)], [['a', 'A1'], ['b', 'B1']]);
      // Before the fix this was the accumulated state, a: A2 and b: B1.
      assert.deepEqual([...store.stateAt(table, s2)], [['a', 'A2']]);
      assert.deepEqual([...store.stateAt(table, s3)], [], 'a delete leaves the key absent');
      assert.deepEqual([...store.stateAt(table, s4)], [], 'a transaction that did not write the table');
      assert.deepEqual([...store.stateAt(table, s4 + 100)], [], 'a transaction that does not exist yet');
      store.close();
    });
  }

  test('write sets are read from the log once, then served from the cache', () => {
    const store = open();
    const seqnos: number[] = [];
    for (let i = 0; i < 50; i++) seqnos.push(store.transact((tx) => tx.put('app:records', `k${i}`, i)).seqno!);
    for (const s of seqnos) store.stateAt('app:records', s);
    const cache = store.historicalCache!;
    assert.equal(cache.stats.misses, 50);
    for (const s of seqnos) assert.deepEqual([...store.stateAt('app:records', s)], [[`k${s - seqnos[0]}`, s - seqnos[0]]]);
    assert.equal(cache.stats.hits, 50);
    assert.equal(cache.stats.misses, 50);
    store.close();
  });

  test('a seqno not yet in the log is not cached as empty: once committed it is seen', () => {
    const store = open();
    const next = store.lastSeqno() + 1;
    assert.deepEqual([...store.stateAt('app:records', next)], []);
    store.transact((tx) => tx.put('app:records', 'late', 'v'));
    assert.deepEqual([...store.stateAt('app:records', next)], [['late', 'v']]);
    store.close();
  });
});

describe('the cache is bounded', () => {
  test('least recently used write sets go first once the byte budget is spent', () => {
    const rows = new Map<number, string>();
    for (let s = 1; s <= 10; s++) rows.set(s, JSON.stringify([{ table: 't', key: `k${s}`, value: 'x'.repeat(100) }]));
    const loads: number[] = [];
    const rowBytes = rows.get(1)!.length * 2;
    const cache = new HistoricalCache({ load: (s) => (loads.push(s), rows.get(s)), unseal: () => assert.fail('nothing is sealed'), maxBytes: rowBytes * 3 });
    for (const s of [1, 2, 3]) cache.writesAt(s);
    cache.writesAt(1); // 1 is now the most recently used
    cache.writesAt(4); // evicts 2, the least recently used
    assert.deepEqual(cache.size, { transactions: 3, bytes: rowBytes * 3 });
    assert.equal(cache.stats.evictions, 1);
    loads.length = 0;
    for (const s of [1, 3, 4]) cache.writesAt(s);
    assert.deepEqual(loads, [], '1, 3 and 4 are still cached');
    cache.writesAt(2);
    assert.deepEqual(loads, [2], '2 was evicted and is read again');
  });

  test('a write set larger than the whole budget is served but not kept', () => {
    const big = JSON.stringify([{ table: 't', key: 'k', value: 'x'.repeat(1000) }]);
    const cache = new HistoricalCache({ load: () => big, unseal: () => assert.fail(), maxBytes: 100 });
    assert.equal(cache.writesAt(1).get('t')!.get('k'), 'x'.repeat(1000));
    assert.deepEqual(cache.size, { transactions: 0, bytes: 0 });
  });
});
