import { TesseraError } from '../errors/index.js';
import { storeKeysOf } from '../kms/master-key.js';
import { PostgresStore } from '../store/postgres.js';
import { SqliteStore } from '../store/sqlite.js';
import type { TesseraConfig } from './config-schema.js';
import type { dataDirPaths } from './datadir.js';

// The Store is a capability chosen by config (store.backend): SQLite in the data directory, one node, the
// default; or PostgreSQL, shared by the nodes of a cluster (docs/cluster.md). Both seal private rows and
// ledger entries with keys derived from the master key, so the database alone reveals nothing.

export type NodeStore = SqliteStore | PostgresStore;

/**
 * Opens the store `config` names. `commit: 'each'` (the CLI's offline writes, which get no reply to wait
 * on) makes each SQLite commit wait for its own fsync; PostgreSQL's commits are durable when they return.
 */
export function openStore(config: TesseraConfig, paths: ReturnType<typeof dataDirPaths>, masterKey: Buffer, opts: { commit?: 'each' } = {}): NodeStore {
  const keys = storeKeysOf(masterKey);
  // (SqliteStore refuses a store from a newer Tessera before it writes anything.)
  if (config.store.backend === 'sqlite') return new SqliteStore(paths.store, { ...keys, commit: opts.commit });
  if (!config.store.url) throw new TesseraError('invalid_input', 'store.backend = "postgres" needs store.url (postgres://user@host:port/database, or TESSERA_STORE_URL)');
  return new PostgresStore({ connection: config.store.url, schema: config.store.schema, timeoutMs: config.store.timeout_ms, ...keys });
}

/** For logs: where the state is, without the connection string's credentials. */
export function describeStore(config: TesseraConfig, paths: ReturnType<typeof dataDirPaths>): string {
  if (config.store.backend === 'sqlite') return paths.store;
  try {
    const url = new URL(config.store.url);
    return `postgres://${url.host}${url.pathname} (schema ${config.store.schema})`;
  } catch {
    return `postgres (schema ${config.store.schema})`;
  }
}
