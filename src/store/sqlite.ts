import { closeSync, fsync, fsyncSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { TesseraError, diskFullError, isDiskFull } from '../errors/index.js';
import { seal, unseal } from '../crypto/aead.js';
import type { CommittedWrite, LedgerEntry, PendingTx, ReadTx, Store, Tx } from './types.js';

const SCHEMA = `
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
CREATE TABLE IF NOT EXISTS ledger_signatures (
  seqno INTEGER PRIMARY KEY, root BLOB NOT NULL, signature BLOB NOT NULL, cert TEXT NOT NULL, signed_at INTEGER NOT NULL
);
`;

/** Tables named `public:…` are in the clear in the ledger, as in CCF; every other table's writes are sealed there. */
export const isPublicTable = (table: string) => table.startsWith('public:');

const MAX_RETRIES = 16;

/** The WAL, opened once for fsync; its directory is synced too, so that the file's own entry is on disk. */
function openWal(path: string): number {
  const fd = openSync(path, 'r');
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
  return fd;
}
const rowKey = (table: string, key: string) => `${table}\u0000${key}`;

class ConflictError extends TesseraError {
  constructor() {
    super('conflict', 'the transaction read data that changed before it committed; retry the request');
  }
}

/**
 * SQLite in WAL mode with synchronous=NORMAL plus group commit: a commit appends to the WAL without
 * waiting for the disk, and `durable()` fsyncs the WAL once for every commit made before it started, on
 * libuv's thread pool. Replies wait for `durable()`, so an acknowledged write survives power loss as
 * with synchronous=FULL, while concurrent requests share one fsync and the event loop never blocks on
 * one. (A checkpoint syncs the WAL itself before copying it into the database, as NORMAL does.)
 */
export interface SqliteStoreOptions {
  /** Seals private tables' writes in the ledger (txlog). Without it they are stored in the clear: tests only. */
  ledgerKey?: Buffer;
  /**
   * 'group' (the node): commits return at once and `durable()` fsyncs for all of them. 'each': every commit
   * waits for its own fsync (synchronous=FULL), for the CLI, which writes once and exits without replies.
   */
  commit?: 'group' | 'each';
}

export class SqliteStore implements Store {
  private localCommits = 0;
  private readonly db: Database.Database;
  private readonly stmts;
  private readonly applyTx: Database.Transaction<SqliteStore['apply']>;
  private readonly readTx: Database.Transaction<(fn: (tx: ReadTx) => unknown) => unknown>;
  private readonly ledgerKey: Buffer | undefined;
  private readonly walPath: string;
  private readonly dbPath: string;
  private walFd: number | null = null;
  /** Commits made, and commits known to be on disk, counted by this connection. */
  private committed = 0;
  private synced = 0;
  private syncing = false;
  /** fsyncs of the WAL so far (tests check that concurrent callers share them). */
  readonly stats = { fsyncs: 0 };
  private waiters: Array<{ upTo: number; resolve: () => void; reject: (err: Error) => void }> = [];

  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.ledgerKey = options.ledgerKey;
    this.walPath = `${path}-wal`;
    this.dbPath = path;
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(options.commit === 'each' ? 'synchronous = FULL' : 'synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('foreign_keys = ON');
    this.db.exec(SCHEMA);
    this.stmts = {
      get: this.db.prepare<[string, string], { value: string; version: number }>(
        'SELECT value, version FROM kv WHERE tbl = ? AND key = ?',
      ),
      version: this.db.prepare<[string, string], { version: number }>('SELECT version FROM kv WHERE tbl = ? AND key = ?'),
      listAll: this.db.prepare<[string], { key: string; value: string; version: number }>(
        'SELECT key, value, version FROM kv WHERE tbl = ? ORDER BY key',
      ),
      listPrefix: this.db.prepare<[string, string, string], { key: string; value: string; version: number }>(
        'SELECT key, value, version FROM kv WHERE tbl = ? AND key >= ? AND key < ? ORDER BY key',
      ),
      tableVersion: this.db.prepare<[string], { version: number }>('SELECT version FROM table_versions WHERE tbl = ?'),
      bumpTable: this.db.prepare(
        'INSERT INTO table_versions (tbl, version) VALUES (?, ?) ON CONFLICT(tbl) DO UPDATE SET version = excluded.version',
      ),
      upsert: this.db.prepare(
        'INSERT INTO kv (tbl, key, value, version) VALUES (?, ?, ?, ?) ON CONFLICT(tbl, key) DO UPDATE SET value = excluded.value, version = excluded.version',
      ),
      remove: this.db.prepare('DELETE FROM kv WHERE tbl = ? AND key = ?'),
      maxSeqno: this.db.prepare<[], { s: number | null }>('SELECT max(seqno) AS s FROM txlog'),
      dataVersion: this.db.prepare<[], number>('PRAGMA data_version').pluck(),
      append: this.db.prepare('INSERT INTO txlog (seqno, committed_at, writes, claims) VALUES (?, ?, ?, ?)'),
      entries: this.db.prepare<[number, number], { seqno: number; committed_at: number; writes: string }>(
        'SELECT seqno, committed_at, writes FROM txlog WHERE seqno >= ? ORDER BY seqno LIMIT ?',
      ),
    };
    this.applyTx = this.db.transaction(this.apply.bind(this));
    this.readTx = this.db.transaction((fn: (tx: ReadTx) => unknown) => fn(new SqliteTx(this)));
  }

  begin(): PendingTx {
    return new SqliteTx(this);
  }

  transact<T>(fn: (tx: Tx) => T): { result: T; seqno: number | null } {
    for (let attempt = 0; ; attempt++) {
      const tx = new SqliteTx(this);
      const result = fn(tx);
      try {
        return { result, seqno: tx.commit() };
      } catch (err) {
        if (!(err instanceof ConflictError) || attempt >= MAX_RETRIES) throw err;
      }
    }
  }

  read<T>(fn: (tx: ReadTx) => T): T {
    return this.readTx(fn) as T;
  }

  /**
   * Changes whenever anything commits: this connection (counted here) or another one, such as
   * `tessera user add` on the same data directory (SQLite's data_version). Caches of rows check it.
   */
  version(): string {
    return `${this.localCommits}.${this.stmts.dataVersion.get()}`;
  }

  lastSeqno(): number {
    return this.stmts.maxSeqno.get()?.s ?? 0;
  }

  entries(fromSeqno: number, limit: number): LedgerEntry[] {
    return this.stmts.entries.all(fromSeqno, limit).map((row) => ({
      seqno: row.seqno,
      committedAt: row.committed_at,
      writes: JSON.parse(row.writes) as CommittedWrite[],
    }));
  }

  /** @internal Counts a write made on this connection outside commitTx (the ledger's signatures), for durable(). */
  wrote(): void {
    this.committed++;
  }

  durable(): Promise<void> {
    if (this.synced >= this.committed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ upTo: this.committed, resolve, reject });
      this.syncWal();
    });
  }

  /** One fsync at a time; each covers every commit made before it began, and wakes whoever waited for those. */
  private syncWal(): void {
    if (this.syncing || this.waiters.length === 0) return;
    const upTo = this.committed;
    let fd: number;
    try {
      fd = this.walFd ??= openWal(this.walPath);
    } catch (err) {
      this.settle(upTo, err as Error);
      return;
    }
    this.syncing = true;
    this.stats.fsyncs++;
    fsync(fd, (err) => {
      this.syncing = false;
      if (!err) this.synced = Math.max(this.synced, upTo);
      this.settle(upTo, err ? (isDiskFull(err) ? diskFullError(err, dirname(this.walPath), 'the store could not sync its log') : new TesseraError('internal', `the write-ahead log could not be synced to disk: ${err.message}`)) : null);
      this.syncWal();
    });
  }

  private settle(upTo: number, err: Error | null): void {
    const done = this.waiters.filter((w) => w.upTo <= upTo);
    this.waiters = this.waiters.filter((w) => w.upTo > upTo);
    for (const w of done) {
      if (err) w.reject(err);
      else w.resolve();
    }
  }

  close(): void {
    if (!this.db.open) return;
    // The checkpoint syncs the WAL and the database; anyone still waiting is then on disk.
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.close();
    this.synced = this.committed;
    this.settle(this.committed, null);
    if (this.walFd !== null) closeSync(this.walFd);
    this.walFd = null;
  }

  /** A write as the ledger keeps it: private tables sealed, bound to the table and sequence number. */
  private forLedger(w: CommittedWrite, seqno: number): CommittedWrite | { table: string; sealed: string } {
    if (!this.ledgerKey || isPublicTable(w.table)) return w;
    return { table: w.table, sealed: seal(this.ledgerKey, Buffer.from(JSON.stringify({ key: w.key, value: w.value })), Buffer.from(`${seqno}\0${w.table}`)).toString('base64') };
  }

  /**
   * The contents of `table` as of transaction `seqno`, rebuilt from the transaction log (private tables
   * unsealed). Linear in the log's length: historical reads are rare and the log is the source of truth.
   */
  stateAt(table: string, seqno: number): Map<string, unknown> {
    const state = new Map<string, unknown>();
    const rows = this.db.prepare('SELECT seqno, writes FROM txlog WHERE seqno <= ? ORDER BY seqno').iterate(seqno) as Iterable<{ seqno: number; writes: string }>;
    for (const row of rows) {
      for (const w of JSON.parse(row.writes) as Array<CommittedWrite | { table: string; sealed: string }>) {
        if (w.table !== table) continue;
        let write: { key: string; value: unknown };
        if ('sealed' in w) {
          if (!this.ledgerKey) throw new TesseraError('internal', 'the ledger key is needed to read private tables historically');
          write = JSON.parse(unseal(this.ledgerKey, Buffer.from(w.sealed, 'base64'), Buffer.from(`${row.seqno}\0${w.table}`)).toString('utf8'));
        } else write = w;
        if (write.value === null) state.delete(write.key);
        else state.set(write.key, write.value);
      }
    }
    return state;
  }

  /** @internal The ledger reads and extends its own tables on the same connection. */
  get database(): Database.Database {
    return this.db;
  }

  /** @internal */
  rawGet(table: string, key: string) {
    return this.stmts.get.get(table, key);
  }
  /** @internal */
  rawList(table: string, prefix?: string) {
    return prefix === undefined
      ? this.stmts.listAll.all(table)
      : this.stmts.listPrefix.all(table, prefix, prefix + '\uffff');
  }
  /** @internal */
  rawTableVersion(table: string): number {
    return this.stmts.tableVersion.get(table)?.version ?? 0;
  }

  /** @internal Validates the read set and applies the write set in one IMMEDIATE SQLite transaction. */
  commitTx(reads: Map<string, number>, tableReads: Map<string, number>, writes: Map<string, CommittedWrite>, claims: string | null = null): number {
    let seqno: number;
    try {
      seqno = this.applyTx.immediate(reads, tableReads, writes, claims) as number;
    } catch (err) {
      // SQLITE_FULL: the write is rolled back; the caller hears 507, not 500 (errors/index.ts).
      if (isDiskFull(err)) throw diskFullError(err, dirname(this.dbPath), 'the store could not take the change, which was not made');
      throw err;
    }
    this.localCommits++;
    this.wrote();
    return seqno;
  }

  /** Validates the read set and applies the write set; made once, as better-sqlite3's wrappers are not free to make. */
  private apply(reads: Map<string, number>, tableReads: Map<string, number>, writes: Map<string, CommittedWrite>, claims: string | null): number {
    for (const [rk, seen] of reads) {
      // Split at the first NUL only: keys may hold NULs themselves (files.by_owner is owner\0file_id).
      const cut = rk.indexOf('\u0000');
      const table = rk.slice(0, cut);
      const key = rk.slice(cut + 1);
      if ((this.stmts.version.get(table, key)?.version ?? 0) !== seen) throw new ConflictError();
    }
    for (const [table, seen] of tableReads) {
      if (this.rawTableVersion(table) !== seen) throw new ConflictError();
    }
    const seqno = (this.stmts.maxSeqno.get()?.s ?? 0) + 1;
    const touched = new Set<string>();
    for (const w of writes.values()) {
      if (w.value === null) {
        if (this.stmts.remove.run(w.table, w.key).changes > 0) touched.add(w.table);
      } else {
        const existed = this.stmts.version.get(w.table, w.key) !== undefined;
        this.stmts.upsert.run(w.table, w.key, JSON.stringify(w.value), seqno);
        if (!existed) touched.add(w.table);
      }
    }
    for (const table of touched) this.stmts.bumpTable.run(table, seqno);
    this.stmts.append.run(seqno, Date.now(), JSON.stringify([...writes.values()].map((w) => this.forLedger(w, seqno))), claims);
    return seqno;
  }
}

class SqliteTx implements PendingTx {
  private readonly reads = new Map<string, number>();
  private readonly tableReads = new Map<string, number>();
  private readonly writes = new Map<string, CommittedWrite>();
  private done = false;
  private claims: string | null = null;

  constructor(private readonly store: SqliteStore) {}

  setClaimsDigest(hex: string): void {
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new TypeError('a claims digest is 32 bytes');
    this.claims = hex;
  }

  get<T>(table: string, key: string): T | undefined {
    const rk = rowKey(table, key);
    const pending = this.writes.get(rk);
    if (pending) return pending.value === null ? undefined : (structuredClone(pending.value) as T);
    const row = this.store.rawGet(table, key);
    if (!this.reads.has(rk)) this.reads.set(rk, row?.version ?? 0);
    return row ? (JSON.parse(row.value) as T) : undefined;
  }

  versionOf(table: string, key: string): number | undefined {
    const row = this.store.rawGet(table, key);
    const rk = rowKey(table, key);
    if (!this.reads.has(rk)) this.reads.set(rk, row?.version ?? 0);
    return row?.version;
  }

  list<T>(table: string, prefix?: string): Array<[string, T]> {
    if (!this.tableReads.has(table)) this.tableReads.set(table, this.store.rawTableVersion(table));
    const merged = new Map<string, T>();
    for (const row of this.store.rawList(table, prefix)) {
      const rk = rowKey(table, row.key);
      if (!this.reads.has(rk)) this.reads.set(rk, row.version);
      merged.set(row.key, JSON.parse(row.value) as T);
    }
    for (const w of this.writes.values()) {
      if (w.table !== table || (prefix !== undefined && !w.key.startsWith(prefix))) continue;
      if (w.value === null) merged.delete(w.key);
      else merged.set(w.key, structuredClone(w.value) as T);
    }
    return [...merged.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  put<T>(table: string, key: string, value: T): void {
    this.assertOpen();
    if (value === null || value === undefined) throw new TypeError('a stored value may not be null; use delete');
    this.writes.set(rowKey(table, key), { table, key, value: structuredClone(value) });
  }

  delete(table: string, key: string): void {
    this.assertOpen();
    this.writes.set(rowKey(table, key), { table, key, value: null });
  }

  savepoint(): () => void {
    const snapshot = new Map(this.writes);
    return () => {
      this.writes.clear();
      for (const [k, v] of snapshot) this.writes.set(k, v);
    };
  }

  commit(): number | null {
    this.assertOpen();
    this.done = true;
    if (this.writes.size === 0) return null;
    return this.store.commitTx(this.reads, this.tableReads, this.writes, this.claims);
  }

  private assertOpen() {
    if (this.done) throw new Error('transaction already committed');
  }
}
