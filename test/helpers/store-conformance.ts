import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { TesseraError } from '../../src/errors/index.js';
import type { Store } from '../../src/store/types.js';

// The behaviour every Store backend owes its callers, run against each (src/store/sqlite.test.ts,
// test/store/postgres.test.ts). A backend provides places: each an empty store location (a directory, a
// PostgreSQL schema) on which open() opens a handle, as often as asked; two handles on one place stand for
// the node and the CLI, or two nodes.

export interface StorePlace {
  open(): Store | Promise<Store>;
  cleanup(): void | Promise<void>;
}

export function storeConformance(name: string, newPlace: () => StorePlace | Promise<StorePlace>): void {
  describe(name, () => {
  let place: StorePlace;
  let store: Store;
  beforeEach(async () => {
    place = await newPlace();
    store = await place.open();
  });
  afterEach(async () => {
    store.close();
    await place.cleanup();
  });

  test('committed writes are read back, and each write transaction gets the next sequence number', () => {
    const a = store.transact((tx) => tx.put('t', 'k1', { n: 1 }));
    const b = store.transact((tx) => {
      tx.put('t', 'k2', { n: 2 });
      tx.put('u', 'k1', 'other table');
    });
    const readOnly = store.transact((tx) => tx.get('t', 'k1'));
    assert.equal(a.seqno, 1);
    assert.equal(b.seqno, 2);
    assert.equal(readOnly.seqno, null, 'a read-only transaction takes no sequence number');
    assert.deepEqual(readOnly.result, { n: 1 });
    assert.equal(store.read((tx) => tx.get('u', 'k1')), 'other table');
    assert.equal(store.lastSeqno(), 2);
    assert.deepEqual(
      store.entries(2, 10).map((e) => e.writes),
      [[{ table: 't', key: 'k2', value: { n: 2 } }, { table: 'u', key: 'k1', value: 'other table' }]],
    );
  });

  test('a transaction that throws writes nothing', () => {
    store.transact((tx) => tx.put('t', 'a', 1));
    assert.throws(() =>
      store.transact((tx) => {
        tx.put('t', 'a', 2);
        tx.put('t', 'b', 3);
        throw new Error('boom');
      }),
    );
    assert.equal(store.read((tx) => tx.get('t', 'a')), 1);
    assert.equal(store.read((tx) => tx.get('t', 'b')), undefined);
    assert.equal(store.lastSeqno(), 1);
  });

  test('a transaction sees its own writes and deletes', () => {
    store.transact((tx) => {
      tx.put('t', 'a', 1);
      tx.put('t', 'b', 2);
    });
    store.transact((tx) => {
      tx.delete('t', 'a');
      tx.put('t', 'c', 3);
      assert.equal(tx.get('t', 'a'), undefined);
      assert.deepEqual(tx.list('t'), [['b', 2], ['c', 3]]);
    });
    assert.deepEqual(store.read((tx) => tx.list('t')), [['b', 2], ['c', 3]]);
  });

  test('list by prefix returns only that range, in key order', () => {
    store.transact((tx) => {
      for (const k of ['bob\u0000t2', 'alice\u0000t1', 'alice\u0000t3', 'alicia\u0000t4']) tx.put('idx', k, true);
    });
    assert.deepEqual(store.read((tx) => tx.list('idx', 'alice\u0000').map(([k]) => k)), ['alice\u0000t1', 'alice\u0000t3']);
  });

  test('an optimistic transaction whose read changed underneath it is refused with a conflict, and writes nothing', () => {
    store.transact((tx) => tx.put('t', 'counter', 0));
    const slow = store.begin();
    const seen = slow.get<number>('t', 'counter')!;
    store.transact((tx) => tx.put('t', 'counter', 10));
    slow.put('t', 'counter', seen + 1);
    slow.put('t', 'side', 'effect');
    assert.throws(() => slow.commit(), (err) => err instanceof TesseraError && err.code === 'conflict');
    assert.equal(store.read((tx) => tx.get('t', 'counter')), 10);
    assert.equal(store.read((tx) => tx.get('t', 'side')), undefined);
  });

  test('a listed table that gains a row before commit is a conflict (no phantoms)', () => {
    const slow = store.begin();
    assert.deepEqual(slow.list('t'), []);
    store.transact((tx) => tx.put('t', 'new', 1));
    slow.put('summary', 'count', 0);
    assert.throws(() => slow.commit(), /changed before it committed/);
  });

  test('transact retries a conflicting transaction until it commits on fresh data', () => {
    store.transact((tx) => tx.put('t', 'n', 0));
    let runs = 0;
    const { result } = store.transact((tx) => {
      runs++;
      const n = tx.get<number>('t', 'n')!;
      // Another writer sneaks in during the first attempt only.
      if (runs === 1) store.transact((other) => other.put('t', 'n', n + 100));
      tx.put('t', 'n', n + 1);
      return n + 1;
    });
    assert.equal(runs, 2);
    assert.equal(result, 101);
    assert.equal(store.read((tx) => tx.get('t', 'n')), 101);
  });

  test('data and sequence numbers survive closing and reopening', async () => {
    store.transact((tx) => tx.put('t', 'k', { deep: [1, 2, 3] }));
    store.transact((tx) => tx.put('t', 'k2', 'v'));
    store.close();
    store = await place.open();
    assert.deepEqual(store.read((tx) => tx.get('t', 'k')), { deep: [1, 2, 3] });
    assert.equal(store.transact((tx) => tx.put('t', 'k3', 1)).seqno, 3);
  });

  test('two handles on one place (node and CLI, or two nodes) see each other\'s commits', async () => {
    const other = await place.open();
    try {
      assert.deepEqual(store.read((tx) => tx.list('t')), []);
      other.transact((tx) => tx.put('t', 'from-cli', true));
      assert.equal(store.read((tx) => tx.get('t', 'from-cli')), true);
      assert.deepEqual(store.read((tx) => tx.list('t')), [['from-cli', true]], 'a row another handle added is listed');
      assert.equal(store.transact((tx) => tx.put('t', 'from-node', true)).seqno, 2);
      other.transact((tx) => tx.delete('t', 'from-cli'));
      assert.deepEqual(store.read((tx) => tx.list('t')), [['from-node', true]], 'and one it removed is not');
      assert.deepEqual(other.read((tx) => tx.list('t')), [['from-node', true]]);
    } finally {
      other.close();
    }
  });
  });
}
