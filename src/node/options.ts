import { type Static, Type } from '@sinclair/typebox';

// The settings of the node as a whole: [node], [log] and [security] of tessera.toml. Each capability
// declares its own section beside its code (src/*/options.ts); config-schema.ts composes them.

/** What a node of a cluster does: everything, only answer requests, or only run work (docs/cluster.md). */
export const NODE_ROLES = ['all', 'api', 'worker'] as const;

export const NodeOptions = Type.Object(
  {
    advertise_ip: Type.String({
      default: '127.0.0.1',
      description: 'The IP address that task replies tell clients to reach FNS on (MesaTEE `ip`)',
    }),
    advertise_fns_port: Type.Integer({
      minimum: 0,
      maximum: 65535,
      default: 0,
      description: 'The FNS port that task replies name (MesaTEE `port`); 0 means the port FNS is bound to',
    }),
    role: Type.Unsafe<(typeof NODE_ROLES)[number]>({
      enum: [...NODE_ROLES],
      default: 'all',
      description:
        "In a cluster: 'all' answers requests and runs work; 'api' answers requests (CCF app endpoints and synchronous Fn calls run where they arrive) and leaves queued work (tasks, detached Fn calls) and workflow instances to other nodes; 'worker' runs work and answers only /node and /v1/health (docs/cluster.md). One node on SQLite is always 'all'",
    }),
    shutdown_grace_ms: Type.Integer({
      minimum: 0,
      default: 10000,
      description: 'On SIGINT/SIGTERM, how long in-flight requests get to finish before connections are cut',
    }),
  },
  { additionalProperties: false, default: {}, description: 'The node itself' },
);

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;

export const LogOptions = Type.Object(
  {
    // A plain `enum` rather than TypeBox's Union of Literals (an anyOf), so that the schema and its
    // validation message ("must be equal to one of the allowed values") stay what they were.
    level: Type.Unsafe<(typeof LOG_LEVELS)[number]>({
      enum: [...LOG_LEVELS],
      default: 'info',
      description: 'fatal, error, warn, info, debug, trace or silent',
    }),
    format: Type.Unsafe<(typeof LOG_FORMATS)[number]>({
      enum: [...LOG_FORMATS],
      default: 'auto',
      description: 'auto (pretty on a terminal, JSON otherwise), json, or pretty (coloured, one readable line per event)',
    }),
  },
  {
    additionalProperties: false,
    default: {},
    description: 'Structured logs (pino, on stdout: one JSON line per event, or pretty lines on a terminal)',
  },
);

export const SecurityOptions = Type.Object(
  {
    scrypt_n: Type.Integer({
      minimum: 1024,
      default: 16384,
      description: 'scrypt cost N for stored token hashes (a power of two); higher is slower to check and to crack',
    }),
  },
  { additionalProperties: false, default: {}, description: 'Credentials' },
);

export type NodeOptions = Static<typeof NodeOptions>;
export type LogOptions = Static<typeof LogOptions>;
export type SecurityOptions = Static<typeof SecurityOptions>;
