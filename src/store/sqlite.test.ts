import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { TesseraError } from '../errors/index.js';
import { storeConformance } from '../../test/helpers/store-conformance.js';
import { SqliteStore, type SqliteStoreOptions } from './sqlite.js';

// Every behaviour holds alike with private rows in the clear (a store without keys, as some tests use) and
// sealed (the node's): the second run checks that sealing changes how rows are kept, not what the store does.
for (const mode of ['rows in the clear', 'rows sealed'] as const) {
storeConformance(`${mode}: the Store's conformance`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-store-'));
  return { open: () => new SqliteStore(join(dir, 'store.sqlite'), mode === 'rows sealed' ? { rowKey: Buffer.alloc(32, 7) } : {}), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
});
describe(`${mode}: SQLite only`, () => {
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
