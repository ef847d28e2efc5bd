import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { TesseraError } from '../errors/index.js';

// The store's schema version and its forward migrations (docs/upgrades.md). The version is a row of
// store_meta, a plain SQLite table outside the kv rows and the ledger: it is public metadata, like the
// table layout it describes, so it is readable without the sealing key (a backup's manifest and a refusal
// name it before anything is unsealed).

export interface Migration {
  /** The version this migration brings the store to: 1, 2, 3 … with no gap. */
  to: number;
  /** What it changes, for the log and docs/upgrades.md. */
  what: string;
  /** Runs inside an IMMEDIATE transaction together with the version bump: all of it happens, or none. */
  up(db: Database.Database): void;
}

/**
 * Version 1 is the layout every store had before versions were recorded (version 0: no row). Its tables
 * were created with IF NOT EXISTS at every start, which is how tables added since then (store_meta,
 * ledger_signatures) reached older stores; this migration does the same, once, and records it.
 */
const BASELINE = `
CREATE TABLE IF NOT EXISTS kv (
  tbl TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, version INTEGER NOT NULL,
  PRIMARY KEY (tbl, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS table_versions (tbl TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS txlog (
  seqno INTEGER PRIMARY KEY, committed_at INTEGER NOT NULL, writes TEXT NOT NULL, claims TEXT
);
CREATE TABLE IF NOT EXISTS ledger_leaves (
  seqno INTEGER PRIMARY KEY, write_set_digest TEXT NOT NULL, commit_evidence TEXT NOT NULL, claims_digest TEXT NOT NULL, leaf BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS store_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger_signatures (
  seqno INTEGER PRIMARY KEY, root BLOB NOT NULL, signature BLOB NOT NULL, cert TEXT NOT NULL, signed_at INTEGER NOT NULL
);
`;

/** Every migration, in order. A new one is appended here with the next number, never inserted or changed. */
export const MIGRATIONS: readonly Migration[] = [{ to: 1, what: 'the baseline tables: kv, table_versions, txlog, ledger_leaves, ledger_signatures, store_meta', up: (db) => db.exec(BASELINE) }];

/** The schema version this code writes and reads. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].to;

const VERSION_ROW = 'schema version';

/** The store's recorded schema version: 0 for a store written before versions were recorded, or a new file. */
export function storedSchemaVersion(db: Database.Database): number {
  const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'store_meta'").get();
  if (!table) return 0;
  const row = db.prepare<[string], { value: string }>('SELECT value FROM store_meta WHERE name = ?').get(VERSION_ROW);
  if (!row) return 0;
  const n = Number(row.value);
  if (!Number.isInteger(n) || n < 0) throw new TesseraError('internal', `the store's schema version '${row.value}' is not a whole number: the file was altered outside Tessera`);
  return n;
}

/** Refuses a store written by a newer Tessera, before anything writes to it. */
export function refuseNewer(db: Database.Database, path: string, known = SCHEMA_VERSION): void {
  const found = storedSchemaVersion(db);
  if (found > known) {
    throw new TesseraError(
      'invalid_input',
      `${path} has store schema version ${found}, but this Tessera knows versions up to ${known}: it was written by a newer Tessera; run that version (or restore a backup made before the upgrade, docs/upgrades.md). The store was not changed.`,
    );
  }
}

/** The same refusal on a store file, read-only, for a caller that must refuse before it touches anything else (the node's start). */
export function refuseNewerFile(path: string): void {
  if (!existsSync(path)) return;
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    refuseNewer(db, path);
  } finally {
    db.close();
  }
}

/**
 * Brings the store up to the last of `migrations`, one migration per transaction. The version is read again
 * inside each transaction, so that two processes opening the same store (the node and `tessera user add`)
 * never run a migration twice. Returns the versions before and after.
 */
export function migrate(db: Database.Database, path: string, migrations: readonly Migration[] = MIGRATIONS): { from: number; to: number } {
  const target = migrations.length ? migrations[migrations.length - 1].to : 0;
  refuseNewer(db, path, target);
  const from = storedSchemaVersion(db);
  for (const m of migrations) {
    db.transaction(() => {
      if (storedSchemaVersion(db) >= m.to) return;
      m.up(db);
      db.exec('CREATE TABLE IF NOT EXISTS store_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID');
      db.prepare('INSERT INTO store_meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value').run(VERSION_ROW, String(m.to));
    }).immediate();
  }
  return { from, to: Math.max(from, target) };
}
