import { type Static, Type } from '@sinclair/typebox';

// [kms] of tessera.toml: the key service (composed into the whole schema by node/config-schema.ts).

export const KmsOptions = Type.Object(
  {
    sealing_key_file: Type.String({
      default: '',
      description:
        'The key that seals master.key.sealed, kept outside the data directory; empty means $TESSERA_SEALING_KEY_FILE, else ~/.config/tessera/sealing.key',
    }),
  },
  { additionalProperties: false, default: {}, description: 'The key service (KMS)' },
);

export type KmsOptions = Static<typeof KmsOptions>;
