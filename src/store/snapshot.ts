import Database from 'better-sqlite3';
import { storedSchemaVersion } from './schema.js';

/**
 * A consistent copy of a store that may be in use (`tessera backup` while the node runs), made with SQLite's
 * online backup API on a read-only connection. The pages go over in one step, inside one read transaction,
 * so the copy is the store as of one commit; in several steps, a commit by the node between two of them
 * would make SQLite start over, and a busy node could keep it from ever finishing.
 */
export async function snapshotStore(source: string, dest: string, onProgress?: (pages: number, total: number) => void): Promise<{ schemaVersion: number; lastSeqno: number }> {
  const db = new Database(source, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const done = await db.backup(dest, {
      progress: ({ totalPages, remainingPages }) => {
        onProgress?.(totalPages - remainingPages, totalPages);
        return 0x7fffffff;
      },
    });
    onProgress?.(done.totalPages, done.totalPages);
  } finally {
    db.close();
  }
  const copy = new Database(dest, { fileMustExist: true });
  try {
    // One self-contained file, without -wal and -shm beside it; the node that opens it turns WAL on again.
    copy.pragma('journal_mode = DELETE');
    const hasLog = copy.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'txlog'").get();
    const lastSeqno = hasLog ? ((copy.prepare('SELECT max(seqno) AS s FROM txlog').get() as { s: number | null }).s ?? 0) : 0;
    return { schemaVersion: storedSchemaVersion(copy), lastSeqno };
  } finally {
    copy.close();
  }
}

/** SQLite's own check of a copied store's pages and indexes: `ok`, or the problems it found. */
export function checkStoreFile(path: string): string {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return (db.pragma('quick_check', { simple: true }) as string) ?? 'no answer';
  } finally {
    db.close();
  }
}
