import { TesseraError } from '../errors/index.js';
import type { CommittedWrite, PendingTx, Tx } from './types.js';

// The optimistic transaction every Store backend hands out (sqlite.ts, postgres.ts): reads are recorded with
// the version they saw (rows, and whole tables for listings, so that a phantom insert is a conflict), writes
// are buffered, and commit hands both to the backend, which checks the reads and applies the writes atomically.

/** What a backend gives a transaction: rows as JSON with their versions, and an atomic checked commit. */
export interface TxBackend {
  rawGet(table: string, key: string): { value: string; version: number } | undefined;
  rawVersion(table: string, key: string): number | undefined;
  /** Rows in key order. */
  rawList(table: string, prefix?: string): Array<{ key: string; value: string; version: number }>;
  rawTableVersion(table: string): number;
  /** Throws ConflictError if any read version changed; else applies `writes` and returns their sequence number. */
  commitTx(reads: Map<string, number>, tableReads: Map<string, number>, writes: Map<string, CommittedWrite>, claims: string | null): number;
}

export const rowKey = (table: string, key: string) => `${table}\u0000${key}`;

export class ConflictError extends TesseraError {
  constructor() {
    super('conflict', 'the transaction read data that changed before it committed; retry the request');
  }
}

const MAX_RETRIES = 16;

/** Runs `fn` in a fresh transaction and commits it, again on a conflict, up to MAX_RETRIES times. */
export function transactWithRetry<T>(begin: () => PendingTx, fn: (tx: Tx) => T): { result: T; seqno: number | null } {
  for (let attempt = 0; ; attempt++) {
    const tx = begin();
    const result = fn(tx);
    try {
      return { result, seqno: tx.commit() };
    } catch (err) {
      if (!(err instanceof ConflictError) || attempt >= MAX_RETRIES) throw err;
    }
  }
}

export class OptimisticTx implements PendingTx {
  private readonly reads = new Map<string, number>();
  private readonly tableReads = new Map<string, number>();
  private readonly writes = new Map<string, CommittedWrite>();
  private done = false;
  private claims: string | null = null;

  constructor(private readonly store: TxBackend) {}

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
    const version = this.store.rawVersion(table, key);
    const rk = rowKey(table, key);
    if (!this.reads.has(rk)) this.reads.set(rk, version ?? 0);
    return version;
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
