import { closeSync, fsync, fsyncSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { TesseraError, diskFullError, isDiskFull } from '../errors/index.js';
import { HistoricalCache, tableStateOf } from './historical-cache.js';
import { sealLedgerWrite, unsealLedgerWrite } from './ledger-seal.js';
import { migrate, refuseNewer } from './schema.js';
import { RowSealer, SEALED_TABLE_PREFIX, isPublicTable } from './sealed-rows.js';
import { ConflictError, OptimisticTx, transactWithRetry } from './optimistic-tx.js';
import type { CommittedWrite, LedgerBackend, LedgerEntry, LedgerStore, LoggedTx, PendingTx, ReadTx, StoredLeaf, StoredSignature, Tx } from './types.js';

/** Tables named `public:…` are in the clear, in the ledger and in the rows, as in CCF; every other table's are sealed. */
export { isPublicTable };

/** store_meta's record that every private row is sealed (sealed-rows.ts); absent in a store written before. */
const ROWS_SEALED = 'rows sealed v1';

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
  /** Seals private tables' rows (sealed-rows.ts). Without it they are stored in the clear: tests only. */
  rowKey?: Buffer;
  /**
   * 'group' (the node): commits return at once and `durable()` fsyncs for all of them. 'each': every commit
   * waits for its own fsync (synchronous=FULL), for the CLI, which writes once and exits without replies.
   */
  commit?: 'group' | 'each';
}

export class SqliteStore implements LedgerStore {
  private localCommits = 0;
  private readonly db: Database.Database;
  private readonly stmts;
  private readonly applyTx: Database.Transaction<SqliteStore['apply']>;
  private readonly readTx: Database.Transaction<(fn: (tx: ReadTx) => unknown) => unknown>;
  private readonly ledgerKey: Buffer | undefined;
  private readonly sealer: RowSealer | undefined;
  /**
   * The real keys of each listed private table, sorted, as of the table's version (which changes whenever a
   * row is added or removed, by any connection). Stored keys are MACs, so SQLite cannot list by prefix.
   */
  private readonly keyIndexes = new Map<string, { version: number; keys: string[] }>();
  /** Key additions and removals of the commit in progress, applied to keyIndexes once it has committed. */
  private indexUpdates: Array<{ table: string; from: number; to: number; added: string[]; removed: string[] }> = [];
  private readonly walPath: string;
  private readonly dbPath: string;
  private walFd: number | null = null;
  /** Commits made, and commits known to be on disk, counted by this connection. */
  private committed = 0;
  private synced = 0;
  private syncing = false;
  /** fsyncs of the WAL so far (tests check that concurrent callers share them), and transactions committed by this connection (the node's metrics). */
  readonly stats = { fsyncs: 0, commits: 0 };
  /** The schema versions before and after this connection's migrations (equal when there were none). */
  readonly migrated: { from: number; to: number };
  private waiters: Array<{ upTo: number; resolve: () => void; reject: (err: Error) => void }> = [];

  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.ledgerKey = options.ledgerKey;
    this.sealer = options.rowKey ? new RowSealer(options.rowKey) : undefined;
    this.walPath = `${path}-wal`;
    this.dbPath = path;
    this.db = new Database(path);
    this.db.pragma('busy_timeout = 5000');
    try {
      // A store written by a newer Tessera is refused before this connection writes anything to it.
      refuseNewer(this.db, path);
    } catch (err) {
      this.db.close();
      throw err;
    }
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(options.commit === 'each' ? 'synchronous = FULL' : 'synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    // Forward migrations (schema.ts), in order, each in its own transaction; a current store has none to run.
    this.migrated = migrate(this.db, path);
    this.stmts = {
      get: this.db.prepare<[string, string], { value: string | Buffer; version: number }>(
        'SELECT value, version FROM kv WHERE tbl = ? AND key = ?',
      ),
      version: this.db.prepare<[string, string], { version: number }>('SELECT version FROM kv WHERE tbl = ? AND key = ?'),
      listAll: this.db.prepare<[string], { key: string; value: string | Buffer; version: number }>(
        'SELECT key, value, version FROM kv WHERE tbl = ? ORDER BY key',
      ),
      listPrefix: this.db.prepare<[string, string, string], { key: string; value: string | Buffer; version: number }>(
        'SELECT key, value, version FROM kv WHERE tbl = ? AND key >= ? AND key < ? ORDER BY key',
      ),
      /** Rows of one table by a JSON array of keys: a sealed table's listing fetches its matches in one statement. */
      getMany: this.db.prepare<[string, string], { key: string; value: Buffer; version: number }>(
        'SELECT key, value, version FROM kv WHERE tbl = ? AND key IN (SELECT value FROM json_each(?))',
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
    this.readTx = this.db.transaction((fn: (tx: ReadTx) => unknown) => fn(new OptimisticTx(this)));
    if (this.sealer) this.sealPlaintextRows();
  }

  /**
   * A store written before rows were sealed (or by a test without a key) has private rows in the clear:
   * they are sealed once, in one transaction, and the file is then rebuilt (VACUUM) and the WAL emptied,
   * so that no free page or log frame keeps the old plaintext.
   */
  private sealPlaintextRows(): void {
    const sealer = this.sealer!;
    const migrated = this.db.transaction(() => {
      if (this.db.prepare('SELECT 1 FROM store_meta WHERE name = ?').get(ROWS_SEALED)) return 0;
      const rows = this.db.prepare("SELECT tbl, key, value, version FROM kv WHERE substr(tbl, 1, 7) <> 'public:'").all() as Array<{ tbl: string; key: string; value: string; version: number }>;
      const versions = this.db.prepare("SELECT tbl, version FROM table_versions WHERE substr(tbl, 1, 7) <> 'public:'").all() as Array<{ tbl: string; version: number }>;
      const insert = this.db.prepare('INSERT INTO kv (tbl, key, value, version) VALUES (?, ?, ?, ?)');
      for (const row of rows) {
        if (row.tbl.startsWith(SEALED_TABLE_PREFIX) && Buffer.isBuffer(row.value)) continue;
        const st = sealer.table(row.tbl);
        const sk = sealer.key(row.tbl, row.key);
        this.stmts.remove.run(row.tbl, row.key);
        insert.run(st, sk, sealer.seal(st, sk, row.key, row.value), row.version);
      }
      for (const v of versions) {
        if (v.tbl.startsWith(SEALED_TABLE_PREFIX)) continue;
        this.db.prepare('DELETE FROM table_versions WHERE tbl = ?').run(v.tbl);
        this.stmts.bumpTable.run(sealer.table(v.tbl), v.version);
      }
      this.db.prepare('INSERT INTO store_meta (name, value) VALUES (?, ?)').run(ROWS_SEALED, new Date().toISOString());
      return rows.length;
    }).immediate();
    if (migrated > 0) {
      this.db.exec('VACUUM');
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    }
  }

  begin(): PendingTx {
    return new OptimisticTx(this);
  }

  transact<T>(fn: (tx: Tx) => T): { result: T; seqno: number | null } {
    return transactWithRetry(() => new OptimisticTx(this), fn);
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

  /**
   * A write as the ledger keeps it: a private table's sealed, bound to the sequence number and to the table
   * under its stored name (a MAC, as in the rows: entries written before rows were sealed show the name).
   */
  private forLedger(w: CommittedWrite, seqno: number): CommittedWrite | { table: string; sealed: string } {
    if (!this.ledgerKey || isPublicTable(w.table)) return w;
    return sealLedgerWrite(this.ledgerKey, seqno, this.sealer ? this.sealer.table(w.table) : w.table, w);
  }

  /** Write sets of past transactions, cached across requests (historical-cache.ts); made on first use. */
  private historical: HistoricalCache | undefined;

  /**
   * The state `table` was given by transaction `seqno`, as CCF's historical queries see it: the keys that
   * transaction wrote, with their values (a key it deleted is absent). Private tables' writes are unsealed;
   * in the log they are under their stored name (a MAC) or, for entries written before rows were sealed,
   * under their own. One log row by primary key per transaction not yet cached: the cost does not grow
   * with the log's length.
   */
  stateAt(table: string, seqno: number): Map<string, unknown> {
    const cache = (this.historical ??= new HistoricalCache({
      load: ((row) => (n: number) => row.get(n))(this.db.prepare<[number], string>('SELECT writes FROM txlog WHERE seqno = ?').pluck()),
      unseal: (n, w) => unsealLedgerWrite(this.ledgerKey, n, w),
    }));
    return tableStateOf(cache.writesAt(seqno), table, this.sealer ? this.sealer.table(table) : table);
  }

  /** Cached historical write sets (tests and the benchmark). */
  get historicalCache(): HistoricalCache | undefined {
    return this.historical;
  }

  private ledgerBackend: LedgerBackend | undefined;

  /**
   * The ledger's tables (ledger_leaves, ledger_signatures) and the txlog, on this connection: what ledger.ts
   * read and wrote on the handle itself before it took a backend, same tables and columns, prepared on first use.
   */
  get ledgerTables(): LedgerBackend {
    return (this.ledgerBackend ??= sqliteLedgerTables(this.db, () => this.wrote()));
  }

  /** @internal Direct access to the file (tests that fill the disk). */
  get database(): Database.Database {
    return this.db;
  }

  /** Where a row is stored: its own table and key if public (or unsealed), else their MACs. */
  private locate(table: string, key: string): [string, string] {
    return this.sealer && !isPublicTable(table) ? [this.sealer.table(table), this.sealer.key(table, key)] : [table, key];
  }

  /** @internal A row's JSON and version, unsealed. */
  rawGet(table: string, key: string): { value: string; version: number } | undefined {
    const [st, sk] = this.locate(table, key);
    const row = this.stmts.get.get(st, sk);
    if (!row || st === table) return row as { value: string; version: number } | undefined;
    return { value: this.sealer!.openAs(table, st, sk, row.value, row.version, key), version: row.version };
  }
  /** @internal */
  rawVersion(table: string, key: string): number | undefined {
    const [st, sk] = this.locate(table, key);
    return this.stmts.version.get(st, sk)?.version;
  }
  /** @internal Rows in key order, unsealed; a private table's keys come from its in-memory index. */
  rawList(table: string, prefix?: string): Array<{ key: string; value: string; version: number }> {
    if (!this.sealer || isPublicTable(table)) {
      return (prefix === undefined ? this.stmts.listAll.all(table) : this.stmts.listPrefix.all(table, prefix, prefix + '\uffff')) as Array<{ key: string; value: string; version: number }>;
    }
    const sealer = this.sealer;
    const keys = this.keysOf(table);
    const st = sealer.table(table);
    const wanted: string[] = [];
    for (let i = prefix === undefined ? 0 : lowerBound(keys, prefix); i < keys.length; i++) {
      if (prefix !== undefined && !keys[i].startsWith(prefix)) break;
      wanted.push(keys[i]);
    }
    const stored = wanted.map((key) => sealer.key(table, key));
    const rows = new Map(this.stmts.getMany.all(st, JSON.stringify(stored)).map((row) => [row.key, row]));
    const out: Array<{ key: string; value: string; version: number }> = [];
    for (const [i, key] of wanted.entries()) {
      // A row another connection removed since the index was read is skipped, as a fresh read would.
      const row = rows.get(stored[i]);
      if (!row) continue;
      out.push({ key, value: sealer.openAs(table, st, stored[i], row.value, row.version, key), version: row.version });
    }
    return out;
  }
  /** @internal */
  rawTableVersion(table: string): number {
    return this.stmts.tableVersion.get(this.sealer ? this.sealer.table(table) : table)?.version ?? 0;
  }

  /** The sorted real keys of a private table, rebuilt by unsealing every row when another commit changed its key set. */
  private keysOf(table: string): string[] {
    // The version is read before the rows: a commit in between makes the index newer than its version says,
    // which only costs a rebuild next time, never a missing key.
    const version = this.rawTableVersion(table);
    const cached = this.keyIndexes.get(table);
    if (cached && cached.version === version) return cached.keys;
    const st = this.sealer!.table(table);
    const keys = this.stmts.listAll.all(st).map((row) => this.sealer!.open(table, st, row.key, row.value, row.version).key);
    keys.sort(compareKeys);
    this.keyIndexes.set(table, { version, keys });
    return keys;
  }

  /** Brings the key indexes up to a commit of this connection, or drops one another connection changed first. */
  private updateIndexes(updates: SqliteStore['indexUpdates']): void {
    for (const u of updates) {
      const index = this.keyIndexes.get(u.table);
      if (!index) continue;
      if (index.version !== u.from) {
        this.keyIndexes.delete(u.table);
        continue;
      }
      for (const key of u.removed) {
        const i = lowerBound(index.keys, key);
        if (index.keys[i] === key) index.keys.splice(i, 1);
      }
      for (const key of u.added) {
        const i = lowerBound(index.keys, key);
        if (index.keys[i] !== key) index.keys.splice(i, 0, key);
      }
      index.version = u.to;
    }
  }

  /** @internal Validates the read set and applies the write set in one IMMEDIATE SQLite transaction. */
  commitTx(reads: Map<string, number>, tableReads: Map<string, number>, writes: Map<string, CommittedWrite>, claims: string | null = null): number {
    let seqno: number;
    try {
      this.indexUpdates = [];
      seqno = this.applyTx.immediate(reads, tableReads, writes, claims) as number;
      this.updateIndexes(this.indexUpdates);
    } catch (err) {
      this.indexUpdates = [];
      // SQLITE_FULL: the write is rolled back; the caller hears 507, not 500 (errors/index.ts).
      if (isDiskFull(err)) throw diskFullError(err, dirname(this.dbPath), 'the store could not take the change, which was not made');
      throw err;
    }
    this.localCommits++;
    this.stats.commits++;
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
      if ((this.rawVersion(table, key) ?? 0) !== seen) throw new ConflictError();
    }
    for (const [table, seen] of tableReads) {
      if (this.rawTableVersion(table) !== seen) throw new ConflictError();
    }
    const seqno = (this.stmts.maxSeqno.get()?.s ?? 0) + 1;
    // Tables whose key set changes, by stored name, with the keys added and removed (for keyIndexes).
    const touched = new Map<string, { table: string; added: string[]; removed: string[] }>();
    const touch = (table: string, st: string) => touched.get(st) ?? touched.set(st, { table, added: [], removed: [] }).get(st)!;
    for (const w of writes.values()) {
      const [st, sk] = this.locate(w.table, w.key);
      if (w.value === null) {
        if (this.stmts.remove.run(st, sk).changes > 0) touch(w.table, st).removed.push(w.key);
      } else {
        const existed = this.stmts.version.get(st, sk) !== undefined;
        const json = JSON.stringify(w.value);
        this.stmts.upsert.run(st, sk, st === w.table ? json : this.sealer!.seal(st, sk, w.key, json), seqno);
        if (!existed) touch(w.table, st).added.push(w.key);
      }
    }
    for (const [st, t] of touched) {
      if (st !== t.table) this.indexUpdates.push({ table: t.table, from: this.stmts.tableVersion.get(st)?.version ?? 0, to: seqno, added: t.added, removed: t.removed });
      this.stmts.bumpTable.run(st, seqno);
    }
    this.stmts.append.run(seqno, Date.now(), JSON.stringify([...writes.values()].map((w) => this.forLedger(w, seqno))), claims);
    return seqno;
  }
}

const compareKeys = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The first index in sorted `keys` whose key is not below `key`. */
function lowerBound(keys: string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** ledger.ts's SQL on ledger_leaves, ledger_signatures and txlog (schema.ts), behind LedgerBackend. */
function sqliteLedgerTables(db: Database.Database, wrote: () => void): LedgerBackend {
  const leaves = db.prepare<[number, number], { seqno: number; leaf: Buffer }>('SELECT seqno, leaf FROM ledger_leaves WHERE seqno > ? ORDER BY seqno LIMIT ?');
  const leafAt = db.prepare<[number], StoredLeaf>('SELECT seqno, write_set_digest, commit_evidence, claims_digest, leaf FROM ledger_leaves WHERE seqno = ?');
  const insertLeaf = db.prepare('INSERT INTO ledger_leaves (seqno, write_set_digest, commit_evidence, claims_digest, leaf) VALUES (?, ?, ?, ?, ?)');
  const appendLeaves = db.transaction((rows: StoredLeaf[]) => {
    for (const l of rows) insertLeaf.run(l.seqno, l.write_set_digest, l.commit_evidence, l.claims_digest, l.leaf);
  });
  const logged = db.prepare<[number, number], LoggedTx>('SELECT seqno, writes, claims FROM txlog WHERE seqno > ? ORDER BY seqno LIMIT ?');
  const loggedBytes = db.prepare<[number, number], { b: number }>('SELECT coalesce(sum(length(CAST(writes AS BLOB)) + coalesce(length(CAST(claims AS BLOB)), 0)), 0) AS b FROM txlog WHERE seqno >= ? AND seqno <= ?');
  const insertSig = db.prepare('INSERT INTO ledger_signatures (seqno, root, signature, cert, signed_at) VALUES (?, ?, ?, ?, ?)');
  const lastSig = db.prepare<[], { seqno: number; root: Buffer }>('SELECT seqno, root FROM ledger_signatures ORDER BY seqno DESC LIMIT 1');
  // Prepared once: every app request reads the last signed seqno, and preparing the statement each time cost
  // more than running it (a tenth of an app request's node CPU).
  const lastSigned = db.prepare<[], { s: number | null }>('SELECT max(seqno) AS s FROM ledger_signatures');
  const covering = db.prepare<[number], { seqno: number; root: Buffer; signature: Buffer; cert: string; signed_at: number }>(
    'SELECT seqno, root, signature, cert, signed_at FROM ledger_signatures WHERE seqno >= ? ORDER BY seqno LIMIT 1',
  );
  return {
    leaves: (after, limit) => leaves.all(after, limit),
    leafAt: (seqno) => leafAt.get(seqno),
    appendLeaves: (rows) => {
      // One ledger per file: a conflict here is a fault, and fails as it did when ledger.ts ran this itself.
      appendLeaves(rows);
      return true;
    },
    logged: (after, limit) => logged.all(after, limit),
    loggedBytes: (from, to) => loggedBytes.get(from, to)!.b,
    appendSignature: (s: StoredSignature) => {
      insertSig.run(s.seqno, s.root, s.signature, s.cert, s.signedAt);
      // Counted for durable(): a reply that names this signature waits for its fsync too.
      wrote();
      return true;
    },
    lastSignature: () => {
      const row = lastSig.get();
      return row ? { seqno: row.seqno, root: Buffer.from(row.root) } : null;
    },
    lastSigned: () => lastSigned.get()!.s ?? 0,
    signatureCovering: (seqno) => {
      const row = covering.get(seqno);
      return row ? { seqno: row.seqno, root: row.root, signature: row.signature, cert: row.cert, signedAt: row.signed_at } : null;
    },
  };
}
