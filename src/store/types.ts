// The Store: named tables of JSON values, changed only through transactions. A transaction
// records what it read (with each row's version) and buffers what it writes; commit checks
// that nothing it read has changed since, then applies every write atomically and durably,
// and gives the transaction the next sequence number. The ledger hangs off those numbers.

export interface ReadTx {
  get<T>(table: string, key: string): T | undefined;
  /** The sequence number of the last committed write to this key, if any. */
  versionOf(table: string, key: string): number | undefined;
  /** Rows whose key starts with `prefix`, in key order. */
  list<T>(table: string, prefix?: string): Array<[string, T]>;
}

export interface Tx extends ReadTx {
  put<T>(table: string, key: string, value: T): void;
  delete(table: string, key: string): void;
  /** Marks the write set; the returned function undoes every write made after it. */
  savepoint(): () => void;
}

export interface PendingTx extends Tx {
  /** The claims digest (32 bytes, hex) the ledger leaf of this transaction commits to (ccf.rpc.setClaimsDigest). */
  setClaimsDigest(hex: string): void;
  /** Applies the write set if the read set is unchanged; returns the sequence number, or null for a read-only tx. */
  commit(): number | null;
}

export interface CommittedWrite {
  table: string;
  key: string;
  /** null for a delete. */
  value: unknown;
}

export interface LedgerEntry {
  seqno: number;
  committedAt: number;
  writes: CommittedWrite[];
}

export interface Store {
  /** Starts an optimistic transaction, for work that awaits between its reads and its commit. */
  begin(): PendingTx;
  /** Runs `fn` in a transaction and commits it, retrying on a conflict. */
  transact<T>(fn: (tx: Tx) => T): { result: T; seqno: number | null };
  /** A consistent read of the latest committed state. */
  read<T>(fn: (tx: ReadTx) => T): T;
  lastSeqno(): number;
  /** An opaque value that changes whenever any transaction commits, from any process: for caches of rows. */
  version(): string;
  entries(fromSeqno: number, limit: number): LedgerEntry[];
  /**
   * Resolves once every transaction committed so far is on disk. Commits return before their fsync;
   * whatever acknowledges a write to a caller awaits this first, and concurrent callers share one fsync.
   */
  durable(): Promise<void>;
  close(): void;
}
