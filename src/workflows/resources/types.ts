import type { Logger } from 'pino';
import type { CallRet } from '../instance.js';
import type { EventMetadata, EventSource, ResourceTarget } from '../runtime.js';

export type { EventMetadata, EventSource };

// EDGELESS resources (edgeless_node/src/resources/): one module per class, each exporting a ResourceClass.
// The workflow service loops over the classes in index.ts and names none of them.

/** What the operator lets resources do (tessera.toml [workflows] and [workflows.resources]). */
export interface ResourceSettings {
  /** Hosts (host or host:port) that resources reaching out over HTTP may reach (http-egress, http-poster, serverless). */
  egressHosts: string[];
  fileLog: { enabled: boolean; maxFileBytes: number };
  redis: { allowedUrls: string[] };
  sqlx: { enabled: boolean; maxDatabaseBytes: number; queryTimeLimitMs: number };
  filePusher: { directory: string };
  serverless: Array<{ class_type: string; version: string; function_url: string }>;
  kafkaEgress: { brokers: string[] };
}

export interface ResourceContext {
  /** This run of the workflow (EDGELESS's workflow_id: redis's add-workflow-id prefix, sqlx's $1). */
  workflowId: string;
  /** The owner's principal id. */
  owner: string;
  workflowName: string;
  /** The resource's name in the workflow, for error messages and logs. */
  name: string;
  classType: string;
  configurations: Record<string, string>;
  settings: ResourceSettings;
  logger: Logger;
  /**
   * The folder this workflow's resources keep files in, under the data directory, per owner and workflow
   * name (so it outlives a restart, like state); created on first use. Resources write nowhere else.
   */
  folder(): string;
  /** A 32-byte key sealing what this resource writes at rest, bound to the owner, the workflow name and `purpose`. */
  sealingKey(purpose: string): Buffer;
  /**
   * Casts to what the resource's output `channel` is mapped to; unmapped, the event is dropped and logged.
   * `meta`: the EventMetadata of the event this one answers (forward what cast/call received); left out,
   * the event starts a new trace (a trigger of the resource's own, like file-pusher's timer).
   */
  emit(channel: string, payload: string, meta?: EventMetadata): void;
}

/** A started resource: what an alias mapped to it receives (cast, call, with the sender), and stop. */
export type ResourceInstance = ResourceTarget;

export interface ResourceClass {
  /** EDGELESS's class_type. */
  classType: string;
  /** null when this node offers the class, else why not (which tessera.toml setting would offer it). */
  unavailable(settings: ResourceSettings): string | null;
  /**
   * Checks the configuration and starts the resource. A bad configuration throws a TesseraError
   * ('invalid_input') naming the resource and the key, before the workflow's functions run.
   */
  start(ctx: ResourceContext): Promise<ResourceInstance>;
}

export const NO_REPLY: CallRet = { type: 0, data: null };
export const ERR: CallRet = { type: 2, data: null };
export function reply(text: string): CallRet {
  const b = Buffer.from(text, 'utf8');
  return { type: 1, data: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer };
}
