import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import Database from 'better-sqlite3';
import { TesseraError } from '../errors/index.js';
import { SqliteStore } from './sqlite.js';

// Private rows at rest (issue 16 #6): what store.sqlite shows without the key, how a store written in the
// clear is sealed, and what happens to rows altered outside the node.

let dir: string;
const rowKey = Buffer.alloc(32, 1);
const ledgerKey = Buffer.alloc(32, 3);
const path = () => join(dir, 'store.sqlite');
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-sealed-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Every byte of every file of the store (database, WAL, shared memory). */
const storeBytes = () => Buffer.concat(readdirSync(dir).map((f) => readFileSync(join(dir, f))));
const SECRETS = ['secret-table-name', 'alice-salary-key', 'the synced secret 4242', 'payroll.csv'];
const plant = (store: SqliteStore) =>
  store.transact((tx) => {
    tx.put('secret-table-name', 'alice-salary-key', { note: 'the synced secret 4242' });
    tx.put('files.records', 'f1', { file_name: 'payroll.csv' });
    tx.put('public:visible', 'k', { shown: 'in the clear' });
  });
const leaked = (bytes: Buffer) => SECRETS.filter((s) => bytes.includes(Buffer.from(s)) || bytes.includes(Buffer.from(s, 'utf16le')));

test('a private table leaves no name, key or value in the files, committed or in the log; a public one is as it was', () => {
  const store = new SqliteStore(path(), { rowKey, ledgerKey });
  plant(store);
  assert.deepEqual(leaked(storeBytes()), [], 'in the WAL before a checkpoint');
  assert.deepEqual(store.read((tx) => tx.get('secret-table-name', 'alice-salary-key')), { note: 'the synced secret 4242' });
  store.close();
  assert.deepEqual(leaked(storeBytes()), [], 'in the database after the checkpoint');
  assert.ok(storeBytes().includes(Buffer.from('in the clear')), 'public tables stay readable, as in CCF');
});

test('a store written in the clear is sealed when first opened with the key, and its old plaintext is gone from the file', () => {
  // As a node wrote before rows were sealed: the ledger sealed, the rows in the clear.
  const clear = new SqliteStore(path(), { ledgerKey });
  plant(clear);
  clear.transact((tx) => tx.put('files.records', 'f2', { file_name: 'other' }));
  clear.close();
  assert.deepEqual(leaked(storeBytes()).sort(), [...SECRETS].sort(), 'the test plants what it looks for');

  const store = new SqliteStore(path(), { rowKey, ledgerKey });
  // The ledger's entries are never rewritten (their digests are signed), so those written before keep
  // the names of the tables they wrote, sealed or not; nothing else remains.
  assert.deepEqual(leaked(storeBytes()), ['secret-table-name']);
  assert.deepEqual(store.read((tx) => tx.list('files.records')), [['f1', { file_name: 'payroll.csv' }], ['f2', { file_name: 'other' }]]);
  assert.equal(store.transact((tx) => tx.put('files.records', 'f3', 1)).seqno, 3, 'sequence numbers go on');
  store.close();
  const again = new SqliteStore(path(), { rowKey, ledgerKey });
  assert.equal(again.read((tx) => tx.list('files.records')).length, 3, 'sealed once, not twice');
  again.close();
});

test('a row altered, or moved to another key, outside the node fails its integrity check instead of being read', () => {
  const store = new SqliteStore(path(), { rowKey, ledgerKey });
  store.transact((tx) => {
    tx.put('functions.registered', 'mine', { code: 'a' });
    tx.put('functions.registered', 'theirs', { code: 'b' });
  });
  const db = new Database(path());
  const rows = db.prepare("SELECT key, value FROM kv WHERE tbl LIKE '#%'").all() as Array<{ key: string; value: Buffer }>;
  assert.equal(rows.length, 2);
  // Swap the two sealed values: each is intact, but bound to the other's place.
  const swap = db.prepare('UPDATE kv SET value = ? WHERE key = ?');
  swap.run(rows[1].value, rows[0].key);
  swap.run(rows[0].value, rows[1].key);
  db.close();
  const integrity = (err: unknown) => err instanceof TesseraError && err.code === 'internal' && /failed its integrity check: store.sqlite was altered outside the node/.test(err.message);
  assert.throws(() => store.read((tx) => tx.get('functions.registered', 'mine')), integrity);
  assert.throws(() => store.read((tx) => tx.get('functions.registered', 'theirs')), integrity);
  store.close();
  const otherKey = new SqliteStore(path(), { rowKey: Buffer.alloc(32, 2), ledgerKey });
  assert.equal(otherKey.read((tx) => tx.get('functions.registered', 'mine')), undefined, 'under another key the rows are not even found');
  otherKey.close();
});

test('listing a private table matches a plain map through random writes by two handles', () => {
  const node = new SqliteStore(path(), { rowKey, ledgerKey });
  const cli = new SqliteStore(path(), { rowKey, ledgerKey });
  const model = new Map<string, number>();
  let seed = 42;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  try {
    for (let i = 0; i < 400; i++) {
      const who = rand(3) === 0 ? cli : node;
      const key = `${['a', 'ab', 'b', 'a\u0000x'][rand(4)]}${rand(20)}`;
      if (rand(3) === 0) {
        who.transact((tx) => tx.delete('t', key));
        model.delete(key);
      } else {
        who.transact((tx) => tx.put('t', key, i));
        model.set(key, i);
      }
      if (i % 7 === 0) {
        const prefix = ['', 'a', 'ab', 'b', 'a\u0000'][rand(5)];
        const want = [...model].filter(([k]) => k.startsWith(prefix)).sort(([x], [y]) => (x < y ? -1 : 1));
        for (const reader of [node, cli]) assert.deepEqual(reader.read((tx) => tx.list('t', prefix || undefined)), want, `step ${i}, prefix ${JSON.stringify(prefix)}`);
      }
    }
  } finally {
    node.close();
    cli.close();
  }
});
