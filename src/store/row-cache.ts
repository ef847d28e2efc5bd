import type { Store } from './types.js';

/**
 * Rows read on every request (the caller's principal, a function's record), kept until anything commits.
 * The store's version changes with every commit, this process's or another's, so a cached row is never
 * older than the last commit; only rows that exist are kept, so a row added elsewhere is found at once.
 */
export class RowCache<T> {
  private version = '';
  private readonly rows = new Map<string, T>();

  constructor(
    private readonly store: Store,
    private readonly maxRows = 10000,
  ) {}

  get(key: string, load: () => T | undefined): T | undefined {
    const version = this.store.version();
    if (version !== this.version) {
      this.rows.clear();
      this.version = version;
    }
    const hit = this.rows.get(key);
    if (hit !== undefined) return hit;
    const row = load();
    if (row !== undefined && this.rows.size < this.maxRows) this.rows.set(key, row);
    return row;
  }
}
