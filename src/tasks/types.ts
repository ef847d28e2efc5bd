import type { FunctionType, TaskFileRef } from '../functions/registry.js';

export type TaskStatus = 'Created' | 'Ready' | 'Running' | 'Finished' | 'Failed';

export interface Collaborator {
  user_id: string;
  approved: boolean;
}

/** A task as stored: MesaTEE's TMS record plus when and why it changed. */
export interface TaskRecord {
  task_id: string;
  /** The creator. */
  user_id: string;
  function_name: string;
  function_type: FunctionType;
  /**
   * For a registered function: its function hash, the SHA-256 of a canonical JSON of its code, interface
   * (payload, arguments, inputs, outputs with each `for` and `owner_of`), kind, type, entry and limits.
   * Collaborators approve it, and only a function with this hash may run. Null for built-ins.
   */
  function_hash?: string | null;
  status: TaskStatus;
  ip: string;
  port: number;
  task_token: string;
  collaborator_list: Collaborator[];
  approved_user_number: number;
  input_files: TaskFileRef[];
  output_files: TaskFileRef[];
  task_result_file_id: string | null;
  created_at: string;
  updated_at: string;
  failure_reason: string | null;
  /** The node a Running task runs on: after a restart a node fails only its own interrupted tasks (a cluster shares the store). */
  running_on?: string;
  /**
   * In a cluster: the delivery of the task's work message whose node runs it now (1, 2, … as JetStream
   * redelivers). A node records its end only if this is still its own delivery, so a run that was replaced
   * records nothing.
   */
  run_attempt?: number;
}

/**
 * How a cluster hands a claimed task to the node that runs it (src/cluster/work-queue.ts, JetStream); one
 * node runs its tasks itself and has none.
 */
/**
 * Thrown by a queued task's run that was taken over by another node's later delivery of the same message:
 * the queue neither acknowledges nor hands back this delivery (that would end the other one's).
 */
export class WorkSuperseded extends Error {
  /** What the work queue looks for (src/cluster/work-queue.ts), which does not import tasks. */
  readonly leaveDelivery = true;
  constructor() {
    super('taken over by a later delivery');
  }
}

export interface TaskQueue {
  /** `dedupe` (default `id`) names the message for JetStream's duplicate window. */
  publish(kind: string, id: string, body: Buffer, dedupe?: string): Promise<void>;
  /** Whether the work waits in the queue, published and not yet acknowledged. */
  pending(kind: string, id: string): Promise<boolean>;
  notify(kind: string, id: string): void;
  waitFor(kind: string, id: string, settled: () => boolean, timeoutMs: number): Promise<boolean>;
}

/** What tasks need of the file store. */
export interface TaskFiles {
  /** Whether the file exists with content, and whether `user` may read it (TDFS check_permission). */
  check(fileId: string, user: string): 'allowed' | 'denied' | 'missing';
  readPlaintext(fileId: string): Promise<Buffer>;
  storeOutput(spec: { owner: string; taskId: string; collaborators: string[]; allowPolicy: 0 | 1 | 2 }, data: Buffer): Promise<string>;
  discard(fileIds: string[]): Promise<void>;
}
