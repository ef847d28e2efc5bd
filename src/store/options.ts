import { type Static, Type } from '@sinclair/typebox';

// [ledger] of tessera.toml: the verifiable ledger the store keeps (composed into the whole schema by
// node/config-schema.ts).

export const LedgerOptions = Type.Object(
  {
    signature_interval_ms: Type.Integer({
      minimum: 10,
      default: 1000,
      description: 'How often the node signs the Merkle root (a transaction has a receipt once a signature covers it)',
    }),
  },
  {
    additionalProperties: false,
    default: {},
    description: 'The verifiable ledger: a Merkle tree over every committed transaction, its root signed by the node',
  },
);

export type LedgerOptions = Static<typeof LedgerOptions>;

// [store] of tessera.toml: which engine holds the node's state. SQLite in the data directory is the default
// and stays it; PostgreSQL lets several nodes share one state (docs/cluster.md).
export const StoreOptions = Type.Object(
  {
    backend: Type.Unsafe<'sqlite' | 'postgres'>({
      enum: ['sqlite', 'postgres'],
      default: 'sqlite',
      description: 'sqlite: DATA/store.sqlite, one node. postgres: the database at store.url, shared by every node of a cluster (docs/cluster.md)',
    }),
    url: Type.String({
      default: '',
      description: "With backend = \"postgres\": the connection string (postgres://user@host:port/db, or host=/socket/dir for a unix socket). It may hold a password: keep tessera.toml 0600, or set TESSERA_STORE_URL",
    }),
    schema: Type.String({ default: 'tessera', pattern: '^[a-z_][a-z0-9_]{0,62}$', description: 'With backend = "postgres": the schema the tables live in (created if missing)' }),
    timeout_ms: Type.Integer({ minimum: 100, default: 10000, description: 'With backend = "postgres": how long one store operation may wait for the database before it fails as unavailable' }),
  },
  { additionalProperties: false, default: {}, description: 'Where the node keeps its state: SQLite (one node) or PostgreSQL (a cluster)' },
);

export type StoreOptions = Static<typeof StoreOptions>;
