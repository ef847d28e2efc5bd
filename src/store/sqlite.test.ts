import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { TesseraError } from '../errors/index.js';
import { SqliteStore, type SqliteStoreOptions } from './sqlite.js';

// Every behaviour holds alike with private rows in the clear (a store without keys, as some tests use) and
// sealed (the node's): the second run checks that sealing changes how rows are kept, not what the store does.
for (const mode of ['rows in the clear', 'rows sealed'] as const) {
describe(mode, () => {
let dir: string;
let store: SqliteStore;
const keys: SqliteStoreOptions = mode === 'rows sealed' ? { rowKey: Buffer.alloc(32, 7) } : {};
const open = (options: SqliteStoreOptions = {}) => new SqliteStore(join(dir, 'store.sqlite'), { ...keys, ...options });
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-store-'));
  store = open();
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
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

test('data and sequence numbers survive closing and reopening', () => {
  store.transact((tx) => tx.put('t', 'k', { deep: [1, 2, 3] }));
  store.transact((tx) => tx.put('t', 'k2', 'v'));
  store.close();
  store = open();
  assert.deepEqual(store.read((tx) => tx.get('t', 'k')), { deep: [1, 2, 3] });
  assert.equal(store.transact((tx) => tx.put('t', 'k3', 1)).seqno, 3);
});

test('two handles on one file (node and CLI) see each other\'s commits', () => {
  const other = open();
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

test("commit: 'each' (the CLI's writes, which get no reply to wait on) makes every commit wait for its own fsync", () => {
  const other = open({ commit: 'each' });
  try {
    const db = (other as unknown as { db: { pragma(s: string, o: object): unknown } }).db;
    assert.equal(db.pragma('synchronous', { simple: true }), 2);
  } finally {
    other.close();
  }
});

test('group commit: WAL with synchronous=NORMAL, and durable() fsyncs once for every commit made before it began', async () => {
  const db = (store as unknown as { db: { pragma(s: string, o: object): unknown } }).db;
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(db.pragma('synchronous', { simple: true }), 1);
  await store.durable();
  const before = store.stats.fsyncs;
  await store.durable();
  assert.equal(store.stats.fsyncs, before, 'nothing new committed: no fsync');

  for (let i = 0; i < 20; i++) store.transact((tx) => tx.put('group', `k${i}`, i));
  await Promise.all(Array.from({ length: 20 }, () => store.durable()));
  assert.equal(store.stats.fsyncs, before + 1, 'twenty waiting callers shared one fsync');

  store.transact((tx) => tx.put('group', 'a', 1));
  const first = store.durable();
  store.transact((tx) => tx.put('group', 'b', 2)); // committed while the first fsync is under way
  const second = store.durable();
  await Promise.all([first, second]);
  assert.equal(store.stats.fsyncs, before + 3, 'a commit made during an fsync waits for the next one');
});

test('a write the database has no room for (SQLITE_FULL) is insufficient_storage (507), not internal, and is not made', () => {
  store.transact((tx) => tx.put('t', 'small', 1));
  // Cap the database at its current size: the next write that needs a page fails as on a full disk.
  const pages = store.database.pragma('page_count', { simple: true }) as number;
  store.database.pragma(`max_page_count = ${pages}`);
  assert.throws(
    () => store.transact((tx) => tx.put('t', 'big', 'x'.repeat(1_000_000))),
    (err: unknown) => err instanceof TesseraError && err.code === 'insufficient_storage' && err.httpStatus === 507 && err.ccfCode === 'InsufficientStorage' && /disk is full/.test(err.message),
  );
  assert.equal(store.read((tx) => tx.get('t', 'big')), undefined, 'nothing of the write was made');
  assert.equal(store.read((tx) => tx.get('t', 'small')), 1, 'the store still reads');
});
});
}
