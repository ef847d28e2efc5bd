import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { TesseraError } from '../errors/index.js';
import type { AppService } from '../apps/service.js';
import type { FileService } from '../files/service.js';
import type { BuiltinWorkerPool } from '../functions/worker-pool.js';
import type { FunctionRegistry } from '../functions/registry.js';
import type { UserFunctions } from '../functions/user.js';
import type { FnService } from '../functions/process/service.js';
import type { GovernanceService } from '../governance/service.js';
import type { PrincipalService } from '../identity/principals.js';
import type { TlsMaterial } from '../identity/tls.js';
import type { KeyFiles } from '../kms/key-files.js';
import type { KeyService } from '../kms/service.js';
import type { MemoryBudget } from '../sandbox/memory-budget.js';
import type { JsEngine } from '../sandbox/js/engine.js';
import type { Membership } from '../cluster/membership.js';
import type { Ledger } from '../store/ledger.js';
import type { Store } from '../store/types.js';
import type { TaskService } from '../tasks/service.js';
import type { MessageHandler } from '../wire/dispatch.js';
import type { NatsConnection } from '@nats-io/transport-node';
import type { WorkQueue } from '../cluster/work-queue.js';
import type { WorkflowRuntime } from '../workflows/runtime.js';
import type { WorkflowService } from '../workflows/service.js';
import type { Readiness } from '../http/routes/node.js';
import type { TesseraConfig, WireListenerName } from './config-schema.js';
import type { dataDirPaths } from './datadir.js';

// A capability is one thing the node offers (files, tasks, apps, workflows, …): the services it builds, the
// HTTP routes it adds (a Fastify plugin), the MesaTEE wire handlers it answers, and what it does on the way
// down. The composition root (node.ts) starts the core every capability shares, then loops over the list in
// capabilities/index.ts and names none of them, as Miniflare does with its plugins.

/** Every service a capability may build, by name; each is set once, by the capability that owns it. */
export interface Services {
  keys: KeyService;
  files: FileService;
  builtinWorkers: BuiltinWorkerPool;
  functions: FunctionRegistry;
  registered: UserFunctions;
  apps: AppService;
  runtime: WorkflowRuntime;
  workflows: WorkflowService;
  fns: FnService;
  governance: GovernanceService;
  tasks: TaskService;
  /** A cluster's work queue (capabilities/work.ts); absent on one node, so read it as `ctx.services.work`. */
  work: WorkQueue;
  /** A cluster's queue of delayed casts (capabilities/work.ts); absent on one node. */
  delays: WorkQueue;
  /** The work queue's NATS connection, for what else a cluster's nodes share through NATS; absent on one node. */
  nats: NatsConnection;
}

/** What the node has built before any capability starts, and what capabilities share. */
export interface NodeContext {
  config: TesseraConfig;
  paths: ReturnType<typeof dataDirPaths>;
  logger: Logger;
  version: string;
  masterKey: Buffer;
  keyFiles: KeyFiles;
  tls: TlsMaterial;
  store: Store;
  ledger: Ledger;
  principals: PrincipalService;
  budget: MemoryBudget;
  engine: JsEngine;
  readiness: Readiness;
  /** On a node of a cluster (store.backend = postgres): its liveness lock and the nodes recorded; null on one node. */
  membership: Membership | null;
  /** Bound addresses by listener name, filled in as the listeners open. */
  addresses: Record<string, { host: string; port: number }>;
  services: Partial<Services>;
  /** A service another capability built; a capability that needs one started earlier in the list. */
  need<K extends keyof Services>(name: K): Services[K];
}

export interface Capability {
  /** For logs and errors. */
  name: string;
  /** Its routes are served by worker nodes too (node.role = "worker" serves only these, and no wire listener). */
  onWorkers?: boolean;
  /** Builds this capability's services into `ctx.services`. */
  start?(ctx: NodeContext): Promise<void> | void;
  /** Adds its routes to the HTTPS listener (a Fastify plugin, registered in the listener's own scope). */
  routes?(app: FastifyInstance, ctx: NodeContext): Promise<void> | void;
  /** The MesaTEE wire listeners it answers. */
  wire?(ctx: NodeContext): Partial<Record<WireListenerName, MessageHandler>>;
  /**
   * Runs once the listeners are open, for work that comes back while requests are served (workflows); the
   * node is ready when every capability's promise has settled.
   */
  opened?(ctx: NodeContext): Promise<void> | void;
  /** At the start of shutdown: stop taking work and end what runs. Awaited together with the listeners' close. */
  stop?(ctx: NodeContext): Promise<void> | void;
  /** Once the listeners have closed: release what is left. Called in the reverse order of the list. */
  close?(ctx: NodeContext): Promise<void> | void;
}

export function servicesOf(services: Partial<Services>): NodeContext['need'] {
  return (name) => {
    const service = services[name];
    if (!service) throw new TesseraError('internal', `the ${name} service is used before the capability that builds it has started (check the order in src/node/capabilities/index.ts)`);
    return service as Services[typeof name];
  };
}
