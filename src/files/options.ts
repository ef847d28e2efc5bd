import { type Static, Type } from '@sinclair/typebox';

// [files] of tessera.toml: the encrypted file store and its per-user quotas (composed into the whole
// schema by node/config-schema.ts).

export const FilesOptions = Type.Object(
  {
    max_file_bytes: Type.Integer({
      minimum: 1,
      maximum: 4294967295,
      default: 4294967295,
      description: 'Largest file accepted, in plaintext bytes (MesaTEE file_size is a u32, so at most 4 GiB - 1)',
    }),
    max_function_input_bytes: Type.Integer({
      minimum: 1,
      default: 268435456,
      description: 'Largest file a built-in function reads into memory, in bytes',
    }),
    max_image_pixels: Type.Integer({
      minimum: 1,
      default: 268402689,
      description: 'Largest image (width × height) an image built-in (image_resize) decodes or produces; a larger one fails its task',
    }),
    blob_store: Type.Unsafe<'local' | 'nats'>({
      enum: ['local', 'nats'],
      default: 'local',
      description: "Where ciphertexts are kept: local (DATA/blobs) or nats (the JetStream object store at nats.url, shared by every node of a cluster; docs/cluster.md)",
    }),
    pending_ttl_s: Type.Integer({
      minimum: 1,
      default: 3600,
      description: 'A file created but never uploaded is removed this long after its creation',
    }),
    max_files_per_user: Type.Integer({
      minimum: 1,
      default: 100000,
      description: 'Files one user may own (pending, uploading or available); past it, Create is refused',
    }),
    max_bytes_per_user: Type.Integer({
      minimum: 1,
      default: 1099511627776,
      description: 'Declared plaintext bytes of the files one user owns (1 TiB by default); past it, Create is refused',
    }),
  },
  { additionalProperties: false, default: {}, description: 'The encrypted file store (TDFS)' },
);

export type FilesOptions = Static<typeof FilesOptions>;
