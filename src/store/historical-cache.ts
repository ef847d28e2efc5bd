// Historical state, cached across requests (CCF's historical state cache, src/node/historical_queries.h).
//
// As in CCF, the state of a past transaction is what that transaction wrote ("a Store containing the
// state written at the given seqno", include/ccf/historical_queries_interface.h), not the whole KV as of
// then. So one transaction's state is one row of the transaction log, fetched by its primary key: the
// cost of a historical read does not depend on the ledger's length. Decoded (and, for private tables,
// unsealed) write sets are kept per seqno, least recently used first out, within a byte budget, so
// repeated queries over the same transactions (a range paged by a client, the receipts of a batch) read
// the log once. Entries never go stale: the log is append-only and a committed transaction never changes.

/** One write of the transaction log as stored: in the clear (public tables), or sealed (private ones). */
export type LoggedWrite = { table: string; key: string; value: unknown } | { table: string; sealed: string };

/** A transaction's writes by table (as named in the log), each key to its value or null for a delete. */
export type WriteSet = Map<string, Map<string, unknown>>;

export interface HistoricalCacheOptions {
  /** The log row of one transaction, as JSON, or undefined if there is none (yet). */
  load(seqno: number): string | undefined;
  /** Opens a sealed write of transaction `seqno`. */
  unseal(seqno: number, write: { table: string; sealed: string }): { key: string; value: unknown };
  /**
   * The budget for cached write sets, in bytes of their log rows (CCF's historical_cache_soft_limit,
   * 512 MB by default there; smaller here, as the log row is read again cheaply on a miss).
   */
  maxBytes?: number;
}

export const DEFAULT_HISTORICAL_CACHE_BYTES = 64 * 1024 * 1024;

interface Entry {
  writes: WriteSet;
  bytes: number;
}

export class HistoricalCache {
  private readonly entries = new Map<number, Entry>();
  private bytes = 0;
  private readonly maxBytes: number;
  /** Hits and misses since start (tests and the benchmark read them). */
  readonly stats = { hits: 0, misses: 0, evictions: 0 };

  constructor(private readonly opts: HistoricalCacheOptions) {
    this.maxBytes = opts.maxBytes ?? DEFAULT_HISTORICAL_CACHE_BYTES;
  }

  /** What transaction `seqno` wrote; empty for a transaction that does not exist yet (not cached: it may appear). */
  writesAt(seqno: number): WriteSet {
    const hit = this.entries.get(seqno);
    if (hit) {
      this.stats.hits++;
      // Re-inserting moves it to the back of the Map's order: the front is the least recently used.
      this.entries.delete(seqno);
      this.entries.set(seqno, hit);
      return hit.writes;
    }
    this.stats.misses++;
    const row = this.opts.load(seqno);
    if (row === undefined) return new Map();
    const writes: WriteSet = new Map();
    for (const w of JSON.parse(row) as LoggedWrite[]) {
      const { key, value } = 'sealed' in w ? this.opts.unseal(seqno, w) : w;
      let table = writes.get(w.table);
      if (!table) writes.set(w.table, (table = new Map()));
      table.set(key, value);
    }
    this.insert(seqno, { writes, bytes: row.length * 2 });
    return writes;
  }

  private insert(seqno: number, entry: Entry): void {
    // A write set bigger than the whole budget is served but not kept.
    if (entry.bytes > this.maxBytes) return;
    this.entries.set(seqno, entry);
    this.bytes += entry.bytes;
    while (this.bytes > this.maxBytes) {
      const [oldest, e] = this.entries.entries().next().value!;
      this.entries.delete(oldest);
      this.bytes -= e.bytes;
      this.stats.evictions++;
    }
  }

  /** Transactions and bytes held now. */
  get size(): { transactions: number; bytes: number } {
    return { transactions: this.entries.size, bytes: this.bytes };
  }
}

/**
 * What transaction's write set gave `table`: its keys and values (deletes left out). A private table's writes
 * are logged under its stored name (a MAC) or, for entries written before rows were sealed, under its own.
 */
export function tableStateOf(writes: WriteSet, table: string, stored: string): Map<string, unknown> {
  const state = new Map<string, unknown>();
  for (const name of stored === table ? [table] : [table, stored]) {
    for (const [key, value] of writes.get(name) ?? []) {
      if (value !== null) state.set(key, value);
    }
  }
  return state;
}
