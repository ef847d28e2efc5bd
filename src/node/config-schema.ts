// The node's settings, declared once: this schema validates tessera.toml, fills in defaults,
// and is the source of the commented template that `tessera init` writes.

const port = (value: number, what: string) => ({
  type: 'integer',
  minimum: 0,
  maximum: 65535,
  default: value,
  description: `${what} (0 picks a free port)`,
});

const wireListener = (name: string, portNo: number, audience: string) => ({
  type: 'object',
  additionalProperties: false,
  default: {},
  description: `${name}: ${audience}`,
  properties: {
    enabled: { type: 'boolean', default: true, description: 'Set false to not open this listener' },
    host: { type: 'string', default: '127.0.0.1', description: 'Address to bind; 0.0.0.0 for every interface' },
    port: port(portNo, 'TCP port'),
  },
});

export const WIRE_LISTENERS = {
  tms_external: { port: 5554, title: 'TMS external (task management for users)', audience: 'user' },
  tms_internal: { port: 5555, title: 'TMS internal (task records for services)', audience: 'service' },
  fns: { port: 3444, title: 'FNS (function invocation for users)', audience: 'user' },
  kms: { port: 6016, title: 'KMS (key service for services)', audience: 'service' },
  tdfs_external: { port: 5065, title: 'TDFS external (file store for users)', audience: 'user' },
  tdfs_internal: { port: 5066, title: 'TDFS internal (file store for services)', audience: 'service' },
} as const;

export type WireListenerName = keyof typeof WIRE_LISTENERS;

export const CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    node: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The node itself',
      properties: {
        advertise_ip: {
          type: 'string',
          default: '127.0.0.1',
          description: 'The IP address that task replies tell clients to reach FNS on (MesaTEE `ip`)',
        },
        advertise_fns_port: {
          type: 'integer',
          minimum: 0,
          maximum: 65535,
          default: 0,
          description: 'The FNS port that task replies name (MesaTEE `port`); 0 means the port FNS is bound to',
        },
        shutdown_grace_ms: {
          type: 'integer',
          minimum: 0,
          default: 10000,
          description: 'On SIGINT/SIGTERM, how long in-flight requests get to finish before connections are cut',
        },
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Structured logs (pino, on stdout: one JSON line per event, or pretty lines on a terminal)',
      properties: {
        level: {
          enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
          default: 'info',
          description: 'fatal, error, warn, info, debug, trace or silent',
        },
        format: {
          enum: ['auto', 'json', 'pretty'],
          default: 'auto',
          description: 'auto (pretty on a terminal, JSON otherwise), json, or pretty (coloured, one readable line per event)',
        },
      },
    },
    http: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The HTTPS API: /v1 (described at /v1/api, browsable at /v1/docs), /app, /gov, /node (readiness: /node/state), /metrics (Prometheus, for members)',
      properties: {
        enabled: { type: 'boolean', default: true, description: 'Set false to not open the HTTPS listener' },
        host: { type: 'string', default: '127.0.0.1', description: 'Address to bind; 0.0.0.0 for every interface' },
        port: port(8000, 'TCP port'),
        max_body_bytes: {
          type: 'integer',
          minimum: 1024,
          default: 4194304,
          description: 'Largest JSON request body accepted, in bytes',
        },
        handshake_timeout_ms: {
          type: 'integer',
          minimum: 100,
          default: 10000,
          description: 'A connection must finish its TLS handshake within this time (against slow or silent clients)',
        },
        headers_timeout_ms: {
          type: 'integer',
          minimum: 100,
          default: 10000,
          description: "A request's headers must arrive whole within this time (against slowloris)",
        },
        max_connections: {
          type: 'integer',
          minimum: 1,
          default: 16384,
          description: 'Open connections allowed; more are refused at accept',
        },
      },
    },
    wire: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The MesaTEE wire listeners: 8-byte big-endian length + JSON, over mutual TLS',
      properties: {
        mesatee_v01_file_dir: {
          type: 'string',
          default: '',
          description:
            "MesaTEE v0.1 compatibility, off when empty: an absolute path to an existing directory. TDFS Create over the wire then returns access_path <dir>/<file_id> instead of the https URL; an unmodified v0.1 client writes its ciphertext there, and the node takes it in on the file's first use (a task naming it, a Get, an Invoke), verified exactly as an HTTPS upload, and deletes it. Anyone who can write the directory can deny service but not forge content; make it 0700, owned by the operator running node and clients (docs/wire.md)",
        },
        max_frame_bytes: {
          type: 'integer',
          minimum: 64,
          maximum: 1073741824,
          default: 4194304,
          description: 'Largest frame accepted, in bytes; a longer declared length is refused before it is read',
        },
        frame_timeout_ms: {
          type: 'integer',
          minimum: 100,
          default: 30000,
          description: 'A frame that has begun must arrive whole within this time',
        },
        idle_timeout_ms: {
          type: 'integer',
          minimum: 100,
          default: 300000,
          description: 'A connection with no request for this long is closed',
        },
        max_connections: {
          type: 'integer',
          minimum: 1,
          default: 1024,
          description: 'Open connections allowed per listener',
        },
        handshake_timeout_ms: {
          type: 'integer',
          minimum: 100,
          default: 10000,
          description: 'A connection must finish its TLS handshake within this time',
        },
        ...Object.fromEntries(
          Object.entries(WIRE_LISTENERS).map(([key, l]) => [key, wireListener(l.title, l.port, `callers are ${l.audience}s`)]),
        ),
      },
    },
    limits: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Admission: how much the listeners take on before refusing, and how often one caller may ask',
      properties: {
        max_requests_in_flight: {
          type: 'integer',
          minimum: 1,
          default: 512,
          description: 'HTTPS requests handled at once; past it a request gets 503 with retry-after instead of waiting in a queue',
        },
        max_connections_per_address: {
          type: 'integer',
          minimum: 1,
          default: 256,
          description: 'Connections one remote address may hold on each listener, counted from TCP accept, before TLS; past it a new one is closed at once (so one address cannot fill http.max_connections or wire.max_connections)',
        },
        max_handshaking_connections: {
          type: 'integer',
          minimum: 1,
          default: 256,
          description: 'Connections on each listener that have not finished their TLS handshake, never more: when full, a new one is let in and the oldest handshaking connection of the address holding the most is closed, so addresses that never finish cannot fill the listener or keep anyone else out',
        },
        max_anonymous_requests_in_flight: {
          type: 'integer',
          minimum: 1,
          default: 32,
          description: 'HTTPS requests at once from callers without a current identity (the public routes: health, API documents, CCF apps); their own budget, so they cannot take the slots identified callers use',
        },
        anonymous_request_timeout_ms: {
          type: 'integer',
          minimum: 100,
          default: 10000,
          description: 'A request from a caller without a current identity must be answered within this, body included; past it its connection is closed',
        },
        user_requests_per_second: {
          type: 'number',
          minimum: 0,
          default: 0,
          description: 'Requests a second each identity may make, over HTTPS and the wire listeners; past it, 429 (or a wire Error) with retry-after. 0: no limit',
        },
        user_burst: {
          type: 'integer',
          minimum: 1,
          default: 50,
          description: 'Requests an identity may make at once before user_requests_per_second applies',
        },
      },
    },
    sandbox: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'What all sandboxed code together may use',
      properties: {
        memory_budget_mib: {
          type: 'integer',
          minimum: 0,
          default: 0,
          description: "Memory all isolates together may reach, MiB: a running call reserves its heap and WebAssembly allowance, a workflow instance for its life; over it a call waits up to 2 s, then gets 503; 0 for three quarters of the machine's memory",
        },
      },
    },
    tasks: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Task execution',
      properties: {
        function_timeout_ms: {
          type: 'integer',
          minimum: 10,
          default: 60000,
          description: 'A function still running after this long fails its task (a built-in has its worker thread ended)',
        },
        max_function_heap_mib: { type: 'integer', minimum: 8, default: 512, description: 'The largest heap (heapMiB) a registered js or wasm function may ask for; a registration over it is refused' },
        max_function_cpu_ms: { type: 'integer', minimum: 10, default: 60000, description: 'The longest time limit (cpuMs) a registered js or wasm function may ask for; a registration over it is refused' },
        max_function_memory_pages: { type: 'integer', minimum: 1, default: 16384, description: 'The most WebAssembly memory (memoryPages, 64 KiB each) a registered wasm function may ask for' },
        python_memory_mib: { type: 'integer', minimum: 16, maximum: 65536, default: 256, description: 'What Python code (mesapy_from_buffer, kind "python" functions) may allocate beyond the interpreter itself; past it the task fails (docs/python.md)' },
        max_tasks_per_user: { type: 'integer', minimum: 1, default: 100000, description: 'Tasks one user may create (tasks are kept); past it, Create is refused' },
        max_functions_per_user: { type: 'integer', minimum: 1, default: 1000, description: 'Registered js and wasm functions one user may own; past it, a registration is refused' },
        builtin_workers: {
          type: 'integer',
          minimum: 1,
          maximum: 256,
          default: 2,
          description: 'Worker threads, started with the node, that run built-in functions; more tasks at once wait for a free one',
        },
      },
    },
    files: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The encrypted file store (TDFS)',
      properties: {
        max_file_bytes: {
          type: 'integer',
          minimum: 1,
          maximum: 4294967295,
          default: 4294967295,
          description: 'Largest file accepted, in plaintext bytes (MesaTEE file_size is a u32, so at most 4 GiB - 1)',
        },
        max_function_input_bytes: {
          type: 'integer',
          minimum: 1,
          default: 268435456,
          description: 'Largest file a built-in function reads into memory, in bytes',
        },
        max_image_pixels: {
          type: 'integer',
          minimum: 1,
          default: 268402689,
          description: 'Largest image (width × height) an image built-in (image_resize) decodes or produces; a larger one fails its task',
        },
        pending_ttl_s: {
          type: 'integer',
          minimum: 1,
          default: 3600,
          description: 'A file created but never uploaded is removed this long after its creation',
        },
        max_files_per_user: {
          type: 'integer',
          minimum: 1,
          default: 100000,
          description: 'Files one user may own (pending, uploading or available); past it, Create is refused',
        },
        max_bytes_per_user: {
          type: 'integer',
          minimum: 1,
          default: 1099511627776,
          description: 'Declared plaintext bytes of the files one user owns (1 TiB by default); past it, Create is refused',
        },
      },
    },
    kms: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The key service (KMS)',
      properties: {
        sealing_key_file: {
          type: 'string',
          default: '',
          description:
            'The key that seals master.key.sealed, kept outside the data directory; empty means $TESSERA_SEALING_KEY_FILE, else ~/.config/tessera/sealing.key',
        },
      },
    },
    app: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The CCF JavaScript app runtime (/app)',
      properties: {
        max_execution_time_ms: { type: 'integer', minimum: 10, default: 5000, description: "A handler running longer gets CCF's 500 'Operation took too long to complete.'" },
        max_heap_mib: { type: 'integer', minimum: 8, default: 100, description: 'Heap limit of a handler, MiB' },
        return_exception_details: { type: 'boolean', default: false, description: 'Include the exception and its trace in error replies (CCF return_exception_details)' },
        interpreters_per_key: { type: 'integer', minimum: 0, maximum: 64, default: 0, description: 'Kept interpreters per interpreter_reuse key, each serving one request at a time (CCF 7 keeps one per key and locks it: set 1 for that); 0 for as many as isolated-vm runs at once (cores + 1), at most 4' },
      },
    },
    workflows: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'EDGELESS-style stateful functions and workflows',
      properties: {
        event_timeout_ms: { type: 'integer', minimum: 0, default: 60000, description: "Time one event may take in an instance, including the calls it makes, unless its function's event-timeout-ms annotation says otherwise; 0 for no limit (EDGELESS's behaviour)" },
        max_event_timeout_ms: { type: 'integer', minimum: 0, default: 600000, description: "The longest event-timeout-ms a function's annotation may ask for; 0 lets a function ask for 'none' (no limit)" },
        threads: { type: 'integer', minimum: 0, default: 0, description: 'Workflow events running at once across all instances, each on its own isolate thread; 0 for the larger of 16 and 4 per core: more threads than cores, so that a few long events never hold them all while short ones wait, and the operating system shares the cores among them' },
        call_timeout_ms: { type: 'integer', minimum: 10, default: 5000, description: 'A call not answered in this time returns Err to the caller (EDGELESS has no timeout)' },
        heap_mib: { type: 'integer', minimum: 8, default: 64, description: 'Heap of each instance’s own isolate, MiB; its WebAssembly memory, and what the host holds for it (queued events, delayed casts), may each reach as much again' },
        max_restarts_per_minute: { type: 'integer', minimum: 0, default: 5, description: 'Restarts after traps allowed per instance per minute; beyond it the instance is stopped' },
        egress_hosts: { type: 'array', items: { type: 'string' }, default: [], description: 'Hosts (host or host:port) that http-egress may reach' },
        max_workflows_per_user: { type: 'integer', minimum: 1, default: 100, description: 'Workflows one user may run at once; past it, a start is refused' },
        resources: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: "EDGELESS resources this node offers to workflows, and what they may reach (http-ingress and http-egress are always offered; http-egress, http-poster and serverless reach only workflows.egress_hosts)",
          properties: {
            file_log: {
              type: 'object',
              additionalProperties: false,
              default: {},
              properties: {
                enabled: { type: 'boolean', default: true, description: "Offer file-log: lines appended to a file in the workflow's own folder under the data directory, sealed at rest" },
                max_file_bytes: { type: 'integer', minimum: 1024, default: 67108864, description: 'Largest a file-log file may grow on disk; further lines are dropped with a warning' },
              },
            },
            redis: {
              type: 'object',
              additionalProperties: false,
              default: {},
              properties: {
                allowed_urls: { type: 'array', items: { type: 'string' }, default: [], description: "Redis servers workflows may use, as redis://host:port (a resource's url must name one of them); empty: redis is not offered" },
              },
            },
            sqlx: {
              type: 'object',
              additionalProperties: false,
              default: {},
              properties: {
                enabled: { type: 'boolean', default: true, description: "Offer sqlx: an SQLite database in the workflow's own folder, sealed at rest" },
                max_database_bytes: { type: 'integer', minimum: 65536, default: 67108864, description: 'Largest an sqlx database may grow' },
                query_time_limit_ms: { type: 'integer', minimum: 10, default: 1000, description: "Time one message's SQL may run; past it the query is stopped (its thread terminated), changes nothing, and the caller gets an error reply" },
              },
            },
            file_pusher: {
              type: 'object',
              additionalProperties: false,
              default: {},
              properties: {
                directory: { type: 'string', default: '', description: 'The folder whose files file-pusher casts, round-robin; empty: file-pusher is not offered' },
              },
            },
            serverless: {
              type: 'array',
              default: [],
              description: 'Serverless resource classes (EDGELESS [[resources.serverless_provider]]): each a class_type whose casts are POSTed to function_url (which must be in workflows.egress_hosts)',
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['class_type', 'function_url'],
                properties: { class_type: { type: 'string', minLength: 1 }, version: { type: 'string', default: '0.1' }, function_url: { type: 'string', minLength: 1 } },
              },
            },
            kafka_egress: {
              type: 'object',
              additionalProperties: false,
              default: {},
              properties: {
                brokers: { type: 'array', items: { type: 'string' }, default: [], description: 'Kafka brokers (host:port) kafka-egress may send to; empty: kafka-egress is not offered' },
              },
            },
          },
        },
        labels: { type: 'array', items: { type: 'string' }, default: [], description: "This node's labels (EDGELESS [user_node_capabilities] labels, e.g. 'region=eu'), which label_match_all annotations must all find" },
      },
    },
    fn: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Functions in any language as hot processes over the Fn http-stream protocol',
      properties: {
        allow_direct_deploy: { type: 'boolean', default: false, description: "Let users register process functions with 'tessera fn deploy' directly; otherwise only a governance proposal (set_node_function kind process) can" },
        max_processes_per_function: { type: 'integer', minimum: 1, default: 4, description: 'Hot processes per function under load' },
        start_timeout_ms: { type: 'integer', minimum: 100, default: 5000, description: "A process must announce its socket within this (Fn's FN_HOT_START_TIMEOUT_MSECS)" },
        max_response_bytes: { type: 'integer', minimum: 1024, default: 10485760, description: 'Largest function response; larger is 502' },
        open_files: { type: 'integer', minimum: 16, default: 350, description: "Open-file limit of each process (Fn's FN_MAX_OPEN_FILES)" },
        confinement: { enum: ['bubblewrap', 'none'], default: 'bubblewrap', description: 'How function processes are confined: bubblewrap (namespaces, an unprivileged uid, a read-only root, cgroups), or none (as the node\'s user: only where bubblewrap cannot run, and the node warns)' },
        allow_egress: { type: 'boolean', default: false, description: 'Let functions that declare the annotation tessera.io/egress reach the network; otherwise every function has a network namespace of its own with only loopback' },
        max_package_bytes: { type: 'integer', minimum: 1024, default: 134217728, description: 'Largest function package (the archive tessera fn deploy uploads)' },
        max_unused_packages: { type: 'integer', minimum: 1, default: 16, description: 'Uploaded packages that no function uses one uploader may hold (429 beyond)' },
        max_functions_per_user: { type: 'integer', minimum: 1, default: 100, description: "Process functions one user may own through 'tessera fn deploy' (the consortium's are not counted); past it, a deploy of a new function is refused" },
        unused_package_ttl_s: { type: 'integer', minimum: 1, default: 86400, description: 'An uploaded package no function uses is removed this long after its upload (a proposal naming it must pass before)' },
        max_pids: { type: 'integer', minimum: 4, default: 50, description: "Processes and threads per function process, through its cgroup (Fn's FN_MAX_PIDS)" },
        cpus: { type: 'number', minimum: 0.01, default: 1, description: 'CPU time per function process, in cores, through its cgroup' },
        uid: { type: 'integer', minimum: 1, default: 65534, description: 'The uid function processes run as when the node runs as root' },
        gid: { type: 'integer', minimum: 1, default: 65534, description: 'The gid function processes run as when the node runs as root' },
        cache_dir: { type: 'string', default: '', description: "Where approved packages are unpacked to run (outside the data directory, plaintext code); default: a directory under the system's temporary directory named after the data directory" },
      },
    },
    governance: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Member governance (CCF /gov)',
      properties: {
        max_clock_skew_s: {
          type: 'integer',
          minimum: 0,
          default: 300,
          description: "How far ahead of the node's clock a signed proposal's or ballot's created_at may be; further is refused (InvalidCreatedAt), so no member can move the median of recent proposals into the future",
        },
      },
    },
    ledger: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The verifiable ledger: a Merkle tree over every committed transaction, its root signed by the node',
      properties: {
        signature_interval_ms: {
          type: 'integer',
          minimum: 10,
          default: 1000,
          description: 'How often the node signs the Merkle root (a transaction has a receipt once a signature covers it)',
        },
      },
    },
    attestation: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Attested TLS: evidence about the node in its certificate',
      properties: {
        provider: {
          enum: ['software', 'sev-snp', 'tdx'],
          default: 'software',
          description: 'software (no hardware guarantee: for development), sev-snp or tdx (through Linux configfs-tsm)',
        },
        evidence_max_age_s: {
          type: 'integer',
          minimum: 10,
          default: 86400,
          description: 'Evidence validity; the certificate carrying it is re-issued at half this',
        },
        tsm_dir: {
          type: 'string',
          default: '/sys/kernel/config/tsm/report',
          description: 'Where configfs-tsm is mounted (sev-snp and tdx)',
        },
        sev_snp_cert_chain: {
          type: 'string',
          default: '',
          description: 'PEM file with the VCEK, ASK and ARK, when the kernel does not return them (sev-snp)',
        },
      },
    },
    security: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Credentials',
      properties: {
        scrypt_n: {
          type: 'integer',
          minimum: 1024,
          default: 16384,
          description: 'scrypt cost N for stored token hashes (a power of two); higher is slower to check and to crack',
        },
      },
    },
  },
} as const;

export interface WireListenerConfig {
  enabled: boolean;
  host: string;
  port: number;
}

export interface TesseraConfig {
  node: { advertise_ip: string; advertise_fns_port: number; shutdown_grace_ms: number };
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'; format: 'auto' | 'json' | 'pretty' };
  http: { enabled: boolean; host: string; port: number; max_body_bytes: number; handshake_timeout_ms: number; headers_timeout_ms: number; max_connections: number };
  wire: {
    max_frame_bytes: number;
    frame_timeout_ms: number;
    idle_timeout_ms: number;
    max_connections: number;
    handshake_timeout_ms: number;
    mesatee_v01_file_dir: string;
  } & Record<WireListenerName, WireListenerConfig>;
  limits: { max_requests_in_flight: number; max_connections_per_address: number; max_handshaking_connections: number; max_anonymous_requests_in_flight: number; anonymous_request_timeout_ms: number; user_requests_per_second: number; user_burst: number };
  sandbox: { memory_budget_mib: number };
  tasks: { function_timeout_ms: number; builtin_workers: number; max_function_heap_mib: number; max_function_cpu_ms: number; max_function_memory_pages: number; python_memory_mib: number; max_tasks_per_user: number; max_functions_per_user: number };
  files: { max_file_bytes: number; max_function_input_bytes: number; max_image_pixels: number; pending_ttl_s: number; max_files_per_user: number; max_bytes_per_user: number };
  kms: { sealing_key_file: string };
  governance: { max_clock_skew_s: number };
  ledger: { signature_interval_ms: number };
  fn: {
    allow_direct_deploy: boolean;
    max_processes_per_function: number;
    start_timeout_ms: number;
    max_response_bytes: number;
    open_files: number;
    confinement: 'bubblewrap' | 'none';
    allow_egress: boolean;
    max_package_bytes: number;
    max_unused_packages: number;
    unused_package_ttl_s: number;
    max_functions_per_user: number;
    max_pids: number;
    cpus: number;
    uid: number;
    gid: number;
    cache_dir: string;
  };
  workflows: { event_timeout_ms: number; max_event_timeout_ms: number; threads: number; call_timeout_ms: number; heap_mib: number; max_restarts_per_minute: number; egress_hosts: string[]; max_workflows_per_user: number;
    resources: {
      file_log: { enabled: boolean; max_file_bytes: number };
      redis: { allowed_urls: string[] };
      sqlx: { enabled: boolean; max_database_bytes: number; query_time_limit_ms: number };
      file_pusher: { directory: string };
      serverless: Array<{ class_type: string; version: string; function_url: string }>;
      kafka_egress: { brokers: string[] };
    };
    labels: string[];
  };
  app: { max_execution_time_ms: number; max_heap_mib: number; return_exception_details: boolean; interpreters_per_key: number };
  attestation: { provider: 'software' | 'sev-snp' | 'tdx'; evidence_max_age_s: number; tsm_dir: string; sev_snp_cert_chain: string };
  security: { scrypt_n: number };
}
