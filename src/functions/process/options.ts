import { type Static, Type } from '@sinclair/typebox';

// [fn] of tessera.toml: process functions over the Fn http-stream protocol (composed into the whole schema
// by node/config-schema.ts).

const CONFINEMENTS = ['bubblewrap', 'none'] as const;

export const FnOptions = Type.Object(
  {
    allow_direct_deploy: Type.Boolean({
      default: false,
      description:
        "Let users register process functions with 'tessera fn deploy' directly; otherwise only a governance proposal (set_node_function kind process) can",
    }),
    max_processes_per_function: Type.Integer({ minimum: 1, default: 4, description: 'Hot processes per function under load' }),
    start_timeout_ms: Type.Integer({
      minimum: 100,
      default: 5000,
      description: "A process must announce its socket within this (Fn's FN_HOT_START_TIMEOUT_MSECS)",
    }),
    max_response_bytes: Type.Integer({ minimum: 1024, default: 10485760, description: 'Largest function response; larger is 502' }),
    open_files: Type.Integer({ minimum: 16, default: 350, description: "Open-file limit of each process (Fn's FN_MAX_OPEN_FILES)" }),
    // A plain `enum` rather than TypeBox's Union of Literals (an anyOf), so that the schema and its
    // validation message stay what they were.
    confinement: Type.Unsafe<(typeof CONFINEMENTS)[number]>({
      enum: [...CONFINEMENTS],
      default: 'bubblewrap',
      description:
        "How function processes are confined: bubblewrap (namespaces, an unprivileged uid, a read-only root, cgroups), or none (as the node's user: only where bubblewrap cannot run, and the node warns)",
    }),
    allow_egress: Type.Boolean({
      default: false,
      description:
        'Let functions that declare the annotation tessera.io/egress reach the network; otherwise every function has a network namespace of its own with only loopback',
    }),
    max_package_bytes: Type.Integer({
      minimum: 1024,
      default: 134217728,
      description: 'Largest function package (the archive tessera fn deploy uploads)',
    }),
    max_unused_packages: Type.Integer({
      minimum: 1,
      default: 16,
      description: 'Uploaded packages that no function uses one uploader may hold (429 beyond)',
    }),
    max_functions_per_user: Type.Integer({
      minimum: 1,
      default: 100,
      description:
        "Process functions one user may own through 'tessera fn deploy' (the consortium's are not counted); past it, a deploy of a new function is refused",
    }),
    unused_package_ttl_s: Type.Integer({
      minimum: 1,
      default: 86400,
      description: 'An uploaded package no function uses is removed this long after its upload (a proposal naming it must pass before)',
    }),
    max_pids: Type.Integer({
      minimum: 4,
      default: 50,
      description: "Processes and threads per function process, through its cgroup (Fn's FN_MAX_PIDS)",
    }),
    cpus: Type.Number({ minimum: 0.01, default: 1, description: 'CPU time per function process, in cores, through its cgroup' }),
    uid: Type.Integer({ minimum: 1, default: 65534, description: 'The uid function processes run as when the node runs as root' }),
    gid: Type.Integer({ minimum: 1, default: 65534, description: 'The gid function processes run as when the node runs as root' }),
    cache_dir: Type.String({
      default: '',
      description:
        "Where approved packages are unpacked to run (outside the data directory, plaintext code); default: a directory under the system's temporary directory named after the data directory",
    }),
  },
  {
    additionalProperties: false,
    default: {},
    description: 'Functions in any language as hot processes over the Fn http-stream protocol',
  },
);

export type FnOptions = Static<typeof FnOptions>;
