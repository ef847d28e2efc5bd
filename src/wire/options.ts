import { type Static, Type } from '@sinclair/typebox';

// [wire] of tessera.toml: the MesaTEE listeners, their limits, and one table per listener
// (composed into the whole schema by node/config-schema.ts).

export const WIRE_LISTENERS = {
  tms_external: { port: 5554, title: 'TMS external (task management for users)', audience: 'user' },
  tms_internal: { port: 5555, title: 'TMS internal (task records for services)', audience: 'service' },
  fns: { port: 3444, title: 'FNS (function invocation for users)', audience: 'user' },
  kms: { port: 6016, title: 'KMS (key service for services)', audience: 'service' },
  tdfs_external: { port: 5065, title: 'TDFS external (file store for users)', audience: 'user' },
  tdfs_internal: { port: 5066, title: 'TDFS internal (file store for services)', audience: 'service' },
} as const;

export type WireListenerName = keyof typeof WIRE_LISTENERS;

const listener = (title: string, port: number, audience: string) =>
  Type.Object(
    {
      enabled: Type.Boolean({ default: true, description: 'Set false to not open this listener' }),
      host: Type.String({ default: '127.0.0.1', description: 'Address to bind; 0.0.0.0 for every interface' }),
      port: Type.Integer({ minimum: 0, maximum: 65535, default: port, description: 'TCP port (0 picks a free port)' }),
    },
    { additionalProperties: false, default: {}, description: `${title}: callers are ${audience}s` },
  );

type ListenerSchema = ReturnType<typeof listener>;
export type WireListenerConfig = Static<ListenerSchema>;

// One table per listener, in WIRE_LISTENERS' order; the cast only names the keys that map produces.
const listeners = Object.fromEntries(
  Object.entries(WIRE_LISTENERS).map(([key, l]) => [key, listener(l.title, l.port, l.audience)]),
) as { [K in WireListenerName]: ListenerSchema };

export const WireOptions = Type.Object(
  {
    mesatee_v01_file_dir: Type.String({
      default: '',
      description:
        "MesaTEE v0.1 compatibility, off when empty: an absolute path to an existing directory. TDFS Create over the wire then returns access_path <dir>/<file_id> instead of the https URL; an unmodified v0.1 client writes its ciphertext there, and the node takes it in on the file's first use (a task naming it, a Get, an Invoke), verified exactly as an HTTPS upload, and deletes it. Anyone who can write the directory can deny service but not forge content; make it 0700, owned by the operator running node and clients (docs/wire.md)",
    }),
    max_frame_bytes: Type.Integer({
      minimum: 64,
      maximum: 1073741824,
      default: 4194304,
      description: 'Largest frame accepted, in bytes; a longer declared length is refused before it is read',
    }),
    frame_timeout_ms: Type.Integer({
      minimum: 100,
      default: 30000,
      description: 'A frame that has begun must arrive whole within this time',
    }),
    idle_timeout_ms: Type.Integer({
      minimum: 100,
      default: 300000,
      description: 'A connection with no request for this long is closed',
    }),
    max_connections: Type.Integer({
      minimum: 1,
      default: 1024,
      description: 'Open connections allowed per listener',
    }),
    handshake_timeout_ms: Type.Integer({
      minimum: 100,
      default: 10000,
      description: 'A connection must finish its TLS handshake within this time',
    }),
    ...listeners,
  },
  {
    additionalProperties: false,
    default: {},
    description: 'The MesaTEE wire listeners: 8-byte big-endian length + JSON, over mutual TLS',
  },
);

export type WireOptions = Static<typeof WireOptions>;
