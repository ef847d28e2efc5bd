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
  /**
   * The state `table` was given by transaction `seqno`, as CCF's historical queries see it: the keys that
   * transaction wrote, with their values (a key it deleted is absent); empty for a transaction not (yet) committed.
   */
  stateAt(table: string, seqno: number): Map<string, unknown>;
  close(): void;
}

/** One leaf of the ledger's Merkle tree as stored: its components (merkle.ts LeafComponents) and the leaf hash. */
export interface StoredLeaf {
  seqno: number;
  write_set_digest: string;
  commit_evidence: string;
  claims_digest: string;
  leaf: Buffer;
}

/** A signature over the Merkle root of the first `seqno` leaves. */
export interface StoredSignature {
  seqno: number;
  root: Buffer;
  /** DER-encoded ECDSA P-256 over the root (receipt.ts signRoot). */
  signature: Buffer;
  /** The signing node's certificate, PEM: on a shared database, not necessarily this node's. */
  cert: string;
  signedAt: number;
}

/** A transaction as the log keeps it: its write set's JSON (the bytes the write-set digest is over) and its claims digest. */
export interface LoggedTx {
  seqno: number;
  writes: string;
  claims: string | null;
}

/**
 * What the ledger (ledger.ts) needs from a Store backend: the transaction log as stored, and the tables of
 * leaves and signatures beside it. On a database several nodes share, every method sees every node's rows:
 * the leaves are those of every committed transaction in seqno order, whoever committed it.
 */
export interface LedgerBackend {
  /** Stored leaves with seqno > `after`, in seqno order, at most `limit`. */
  leaves(after: number, limit: number): Array<{ seqno: number; leaf: Buffer }>;
  /** One stored leaf's components. */
  leafAt(seqno: number): StoredLeaf | undefined;
  /**
   * Stores leaves (consecutive, each the next after those stored). Returns true if every one was stored as
   * given; false if another node had stored some of them first (theirs are kept: the caller reloads).
   */
  appendLeaves(leaves: StoredLeaf[]): boolean;
  /** Logged transactions with seqno > `after`, in seqno order, at most `limit`. */
  logged(after: number, limit: number): LoggedTx[];
  /** Bytes of the write sets and claims of transactions `from`..`to` (inclusive), as stored. */
  loggedBytes(from: number, to: number): number;
  /** Stores a signature; false if one at that seqno was there already (another signer's, over the same leaves). */
  appendSignature(sig: StoredSignature): boolean;
  /** The latest signature's seqno and root, or null before the first. */
  lastSignature(): { seqno: number; root: Buffer } | null;
  /** The seqno the latest signature covers, 0 before the first. */
  lastSigned(): number;
  /** The first signature covering transaction `seqno` (its seqno ≥ `seqno`), or null while none does. */
  signatureCovering(seqno: number): StoredSignature | null;
}

/** A Store with the ledger's tables: what `Ledger` takes (SqliteStore and PostgresStore are both). */
export interface LedgerStore extends Store {
  readonly ledgerTables: LedgerBackend;
}
