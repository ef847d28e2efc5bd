import { type Static, type TProperties, Type } from '@sinclair/typebox';

// [workflows] and [workflows.resources.*] of tessera.toml: EDGELESS-style workflows and the resources this
// node offers them (composed into the whole schema by node/config-schema.ts).

// A resource's table: no description of its own (the template names it by its header alone).
const table = <T extends TProperties>(properties: T) =>
  Type.Object(properties, { additionalProperties: false, default: {} });

const ResourcesOptions = Type.Object(
  {
    file_log: table({
      enabled: Type.Boolean({
        default: true,
        description: "Offer file-log: lines appended to a file in the workflow's own folder under the data directory, sealed at rest",
      }),
      max_file_bytes: Type.Integer({
        minimum: 1024,
        default: 67108864,
        description: 'Largest a file-log file may grow on disk; further lines are dropped with a warning',
      }),
    }),
    redis: table({
      allowed_urls: Type.Array(Type.String(), {
        default: [],
        description:
          "Redis servers workflows may use, as redis://host:port (a resource's url must name one of them); empty: redis is not offered",
      }),
    }),
    sqlx: table({
      enabled: Type.Boolean({
        default: true,
        description: "Offer sqlx: an SQLite database in the workflow's own folder, sealed at rest",
      }),
      max_database_bytes: Type.Integer({ minimum: 65536, default: 67108864, description: 'Largest an sqlx database may grow' }),
      query_time_limit_ms: Type.Integer({
        minimum: 10,
        default: 1000,
        description:
          "Time one message's SQL may run; past it the query is stopped (its thread terminated), changes nothing, and the caller gets an error reply",
      }),
    }),
    file_pusher: table({
      directory: Type.String({
        default: '',
        description: 'The folder whose files file-pusher casts, round-robin; empty: file-pusher is not offered',
      }),
    }),
    serverless: Type.Array(
      // class_type and function_url have no default, so config-schema.ts keeps them in `required`.
      Type.Object(
        {
          class_type: Type.String({ minLength: 1 }),
          version: Type.String({ default: '0.1' }),
          function_url: Type.String({ minLength: 1 }),
        },
        { additionalProperties: false },
      ),
      {
        default: [],
        description:
          'Serverless resource classes (EDGELESS [[resources.serverless_provider]]): each a class_type whose casts are POSTed to function_url (which must be in workflows.egress_hosts)',
      },
    ),
    kafka_egress: table({
      brokers: Type.Array(Type.String(), {
        default: [],
        description: 'Kafka brokers (host:port) kafka-egress may send to; empty: kafka-egress is not offered',
      }),
    }),
  },
  {
    additionalProperties: false,
    default: {},
    description:
      'EDGELESS resources this node offers to workflows, and what they may reach (http-ingress and http-egress are always offered; http-egress, http-poster and serverless reach only workflows.egress_hosts)',
  },
);

export const WorkflowsOptions = Type.Object(
  {
    event_timeout_ms: Type.Integer({
      minimum: 0,
      default: 60000,
      description:
        "Time one event may take in an instance, including the calls it makes, unless its function's event-timeout-ms annotation says otherwise; 0 for no limit (EDGELESS's behaviour)",
    }),
    max_event_timeout_ms: Type.Integer({
      minimum: 0,
      default: 600000,
      description: "The longest event-timeout-ms a function's annotation may ask for; 0 lets a function ask for 'none' (no limit)",
    }),
    threads: Type.Integer({
      minimum: 0,
      default: 0,
      description:
        'Workflow events running at once across all instances, each on its own isolate thread; 0 for the larger of 16 and 4 per core: more threads than cores, so that a few long events never hold them all while short ones wait, and the operating system shares the cores among them',
    }),
    call_timeout_ms: Type.Integer({
      minimum: 10,
      default: 5000,
      description: 'A call not answered in this time returns Err to the caller (EDGELESS has no timeout)',
    }),
    heap_mib: Type.Integer({
      minimum: 8,
      default: 64,
      description:
        'Heap of each instance’s own isolate, MiB; its WebAssembly memory, and what the host holds for it (queued events, delayed casts), may each reach as much again',
    }),
    max_restarts_per_minute: Type.Integer({
      minimum: 0,
      default: 5,
      description: 'Restarts after traps allowed per instance per minute; beyond it the instance is stopped',
    }),
    egress_hosts: Type.Array(Type.String(), { default: [], description: 'Hosts (host or host:port) that http-egress may reach' }),
    max_workflows_per_user: Type.Integer({
      minimum: 1,
      default: 100,
      description: 'Workflows one user may run at once; past it, a start is refused',
    }),
    resources: ResourcesOptions,
    labels: Type.Array(Type.String(), {
      default: [],
      description:
        "This node's labels (EDGELESS [user_node_capabilities] labels, e.g. 'region=eu'), which label_match_all annotations must all find",
    }),
  },
  { additionalProperties: false, default: {}, description: 'EDGELESS-style stateful functions and workflows' },
);

export type WorkflowsOptions = Static<typeof WorkflowsOptions>;
