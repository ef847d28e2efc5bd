import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { TesseraError } from '../errors/index.js';
import { tempDir } from '../../test/helpers/cli.js';
import { MIGRATIONS, SCHEMA_VERSION, migrate, storedSchemaVersion } from './schema.js';
import { SqliteStore } from './sqlite.js';

const versionOf = (path: string) => {
  const db = new Database(path, { readonly: true });
  try {
    return storedSchemaVersion(db);
  } finally {
    db.close();
  }
};

test('migrations are numbered 1, 2, 3 … with no gap, and the current version is the last', () => {
  assert.deepEqual(
    MIGRATIONS.map((m) => m.to),
    MIGRATIONS.map((_, i) => i + 1),
  );
  assert.equal(SCHEMA_VERSION, MIGRATIONS.length);
});

test('a new store is written at the current schema version', () => {
  const path = join(tempDir(), 'store.sqlite');
  const store = new SqliteStore(path);
  assert.deepEqual(store.migrated, { from: 0, to: SCHEMA_VERSION });
  store.close();
  assert.equal(versionOf(path), SCHEMA_VERSION);
});

test('a store from before schema versions (version 0) migrates to the current version and keeps its rows', () => {
  const path = join(tempDir(), 'store.sqlite');
  // The layout of a store written before issue 20: no version row, and (older still) no ledger_signatures.
  const old = new Database(path);
  old.exec(`
CREATE TABLE kv (tbl TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (tbl, key)) WITHOUT ROWID;
CREATE TABLE table_versions (tbl TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE txlog (seqno INTEGER PRIMARY KEY, committed_at INTEGER NOT NULL, writes TEXT NOT NULL, claims TEXT);
CREATE TABLE ledger_leaves (seqno INTEGER PRIMARY KEY, write_set_digest TEXT NOT NULL, commit_evidence TEXT NOT NULL, claims_digest TEXT NOT NULL, leaf BLOB NOT NULL);
INSERT INTO kv VALUES ('public:old', 'k', '"kept"', 1);
INSERT INTO table_versions VALUES ('public:old', 1);`);
  old.close();
  assert.equal(versionOf(path), 0);
  const store = new SqliteStore(path);
  assert.deepEqual(store.migrated, { from: 0, to: SCHEMA_VERSION });
  assert.equal(store.read((tx) => tx.get('public:old', 'k')), 'kept');
  assert.equal(store.transact((tx) => tx.put('public:new', 'k', 1)).seqno, 1, 'and takes writes');
  store.close();
  assert.equal(versionOf(path), SCHEMA_VERSION);
  // Opening again runs nothing.
  const again = new SqliteStore(path);
  assert.deepEqual(again.migrated, { from: SCHEMA_VERSION, to: SCHEMA_VERSION });
  again.close();
});

test('migrations run in order, one transaction each: a failing one leaves the store at the version before it', () => {
  const path = join(tempDir(), 'store.sqlite');
  const db = new Database(path);
  const ran: number[] = [];
  const registry = [
    { to: 1, what: 'a', up: (d: Database.Database) => (ran.push(1), d.exec('CREATE TABLE a (x)')) },
    { to: 2, what: 'b', up: (d: Database.Database) => (ran.push(2), d.exec('CREATE TABLE b (x)')) },
    {
      to: 3,
      what: 'c fails half-way',
      up: (d: Database.Database) => {
        ran.push(3);
        d.exec('CREATE TABLE c (x)');
        throw new Error('boom');
      },
    },
  ];
  assert.throws(() => migrate(db, path, registry), /boom/);
  assert.deepEqual(ran, [1, 2, 3]);
  assert.equal(storedSchemaVersion(db), 2);
  assert.equal((db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'c'").get() as { n: number }).n, 0, 'the failed migration left nothing');
  // Fixed and run again: only the missing one runs.
  ran.length = 0;
  registry[2].up = (d) => (ran.push(3), d.exec('CREATE TABLE c (x)'));
  assert.deepEqual(migrate(db, path, registry), { from: 2, to: 3 });
  assert.deepEqual(ran, [3]);
  db.close();
});

test('a store marked with a newer schema version is refused, with a clear message, and left untouched', () => {
  const path = join(tempDir(), 'store.sqlite');
  new SqliteStore(path).close();
  const db = new Database(path);
  db.prepare("UPDATE store_meta SET value = '99' WHERE name = 'schema version'").run();
  db.close();
  const before = createHash('sha256').update(readFileSync(path)).digest('hex');
  assert.throws(
    () => new SqliteStore(path),
    (err: unknown) => err instanceof TesseraError && err.code === 'invalid_input' && /schema version 99, but this Tessera knows versions up to \d+: it was written by a newer Tessera/.test(err.message) && !err.message.includes('\n'),
  );
  assert.equal(createHash('sha256').update(readFileSync(path)).digest('hex'), before);
  assert.equal(versionOf(path), 99);
});
