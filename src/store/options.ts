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
