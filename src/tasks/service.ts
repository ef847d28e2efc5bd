import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { type ErrorCode, TesseraError, asTesseraError } from '../errors/index.js';
import { newUuid } from '../crypto/random.js';
import { WorkSuperseded } from './types.js';
import { type FunctionContext, type FunctionDefinition, FunctionRegistry, type TaskFileRef } from '../functions/registry.js';
import type { ReadTx, Store, Tx } from '../store/types.js';
import type { TaskFiles, TaskQueue, TaskRecord, TaskStatus } from './types.js';

const TASKS = 'tasks.records';
/** `${user_id}\u0000${task_id}`: the tasks each participant can see. */
const BY_PARTICIPANT = 'tasks.by_participant';
/** user_id → how many tasks that user has created (tasks are never deleted); counted from BY_PARTICIPANT when absent. */
const CREATED_COUNT = 'tasks.created_count';
/** task_id → Invocation: a queued task's payload, from its claim until its end is recorded (a cluster). */
const INVOCATIONS = 'tasks.invocations';
/** task_id → Outcome: a queued task's result or error, for its invoker; pruned 10–20 s later (a cluster). */
const OUTCOMES = 'tasks.outcomes';

interface Invocation {
  payload: string | null;
  /**
   * This claim's own id, part of the work message's id: JetStream drops a re-publish of the same claim as a
   * duplicate, never the message of a later claim of the same task (after one that could not be queued).
   */
  claim?: string;
  /** How many times a node has taken the task (each one stopped before it ended, but the last). */
  takes?: number;
}

type Outcome = { ok: true; result: string } | { ok: false; code: ErrorCode; message: string };

export interface TaskServiceOptions {
  /** This node's id: recorded on the tasks it runs, so that it recovers only its own after a restart. */
  nodeId?: string;
  store: Store;
  functions: FunctionRegistry;
  files: TaskFiles;
  /** Where clients reach FNS; read at create time, so it can follow an ephemeral port. */
  fnsAddress: () => { ip: string; port: number };
  functionTimeoutMs: number;
  logger: Logger;
  /**
   * Key of the task tokens: a task's token is HMAC-SHA-256(key, task id), worked out when needed and
   * never stored, so the store holds no credential that opens a task.
   */
  tokenKey: Buffer;
  /** Tasks one user may create (tasks.max_tasks_per_user); no bound when left out. */
  maxTasksPerUser?: number;
  /** A cluster's work queue: invocations go through it to whichever node runs them. None on one node. */
  queue?: TaskQueue;
  /** Deliveries of one queued task before it is recorded Failed (nats.work_max_attempts). */
  maxAttempts?: number;
}

export interface InternalUpdate {
  task_id: string;
  task_result_file_id: string | null;
  output_files: TaskFileRef[];
  status: TaskStatus | null;
}

interface Outputs {
  files: TaskFileRef[];
  shared: string | null;
  /** Every file the run created, to remove if it fails. */
  created: string[];
}

/**
 * The function a task runs must be the one its function_hash names, the hash collaborators approve. Built-ins
 * have no hash (null on both sides). A task recorded before the hash covered the interface holds the old
 * code-only hash, which no function has any more: it is refused, and is to be created again.
 */
function assertApprovedFunction(fn: FunctionDefinition, task: TaskRecord) {
  if ((fn.functionHash ?? null) !== (task.function_hash ?? null)) {
    throw new TesseraError(
      'permission_denied',
      `${task.function_name} is not the function this task was created and approved with: its function_hash (code, interface with each output's recipient, type, entry, limits) is ${fn.functionHash ?? 'none'}, the task's ${task.function_hash ?? 'none'}; create the task again`,
    );
  }
}

/**
 * When a user is removed, its place in tasks moves to `archiveId` (an id no principal can have), in the
 * caller's transaction: as creator, collaborator (with its approval), owner of input and output files,
 * its BY_PARTICIPANT rows and its created-task count. A user added later under the same name is no
 * participant of them. Returns how many tasks were changed.
 */
export function archiveTasksOf(tx: Tx, name: string, archiveId: string): number {
  const swap = (user: string) => (user === name ? archiveId : user);
  let moved = 0;
  for (const [key] of tx.list<boolean>(BY_PARTICIPANT, `${name}\u0000`)) {
    const taskId = key.slice(name.length + 1);
    tx.delete(BY_PARTICIPANT, key);
    tx.put(BY_PARTICIPANT, `${archiveId}\u0000${taskId}`, true);
    const task = tx.get<TaskRecord>(TASKS, taskId);
    if (!task) continue;
    tx.put(TASKS, taskId, {
      ...task,
      user_id: swap(task.user_id),
      collaborator_list: task.collaborator_list.map((c) => ({ ...c, user_id: swap(c.user_id) })),
      input_files: task.input_files.map((f) => ({ ...f, user_id: swap(f.user_id) })),
      output_files: task.output_files.map((f) => ({ ...f, user_id: swap(f.user_id) })),
    });
    moved++;
  }
  const created = tx.get<number>(CREATED_COUNT, name);
  if (created !== undefined) {
    tx.delete(CREATED_COUNT, name);
    tx.put(CREATED_COUNT, archiveId, created);
  }
  return moved;
}

const participants = (t: TaskRecord) => [t.user_id, ...t.collaborator_list.map((c) => c.user_id)];
const tokensEqual = (a: string, b: string) =>
  a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/**
 * MesaTEE's task management and invocation (TMS + FNS) over the Store. Every state change is
 * one transaction, so a task is never half-updated, and Ready → Running is a compare-and-set
 * that only one invocation can win.
 */
/** Not found, said so that an empty id (a client that sent none) reads as what it is. */
const noTask = (taskId: string) => (taskId ? `no task ${taskId}` : 'no task: the task_id is empty; give the id Create returned');

export class TaskService {
  constructor(private readonly opts: TaskServiceOptions) {}

  create(input: { creator: string; function_name: string; collaborator_list: string[]; files: string[] }): TaskRecord {
    const fn = this.opts.functions.mustGet(input.function_name);
    const refused = fn.refuseCreator?.(input.creator);
    if (refused) throw new TesseraError('permission_denied', refused);
    const collaborators = input.collaborator_list;
    if (fn.type === 'Multiparty' && (collaborators.length === 0 || input.files.length === 0)) {
      throw new TesseraError('missing_value', `${fn.name} is multi-party: name at least one collaborator and one of your files`);
    }
    const dup = collaborators.find((c, i) => collaborators.indexOf(c) !== i || c === input.creator);
    if (dup !== undefined) {
      throw new TesseraError('invalid_input', `collaborator '${dup}' is listed twice or is the creator`);
    }
    for (const fileId of input.files) this.assertReadable(fileId, input.creator);
    const now = new Date().toISOString();
    const { ip, port } = this.opts.fnsAddress();
    const task: TaskRecord = {
      task_id: newUuid(),
      user_id: input.creator,
      function_name: fn.name,
      function_type: fn.type,
      function_hash: fn.functionHash ?? null,
      status: fn.type === 'Single' ? 'Ready' : 'Created',
      ip,
      port,
      task_token: '',
      collaborator_list: collaborators.map((user_id) => ({ user_id, approved: false })),
      approved_user_number: 0,
      input_files: input.files.map((file_id) => ({ user_id: input.creator, file_id })),
      output_files: [],
      task_result_file_id: null,
      created_at: now,
      updated_at: now,
      failure_reason: null,
    };
    this.opts.store.transact((tx) => {
      const created = this.createdBy(tx, input.creator);
      const quota = this.opts.maxTasksPerUser;
      if (quota !== undefined && created >= quota) {
        throw new TesseraError('too_large', `'${input.creator}' has created ${created} tasks, the quota (tasks.max_tasks_per_user)`);
      }
      tx.put(CREATED_COUNT, input.creator, created + 1);
      this.save(tx, task);
      for (const user of participants(task)) tx.put(BY_PARTICIPANT, `${user}\u0000${task.task_id}`, true);
    });
    return task;
  }

  /** How many tasks `user` has created: the counter, or (for tasks stored before it) a count of their own. */
  private createdBy(tx: ReadTx, user: string): number {
    const counted = tx.get<number>(CREATED_COUNT, user);
    if (counted !== undefined) return counted;
    return tx.list<boolean>(BY_PARTICIPANT, `${user}\u0000`).filter(([key]) => this.load(tx, key.slice(user.length + 1))?.user_id === user).length;
  }

  /** The task, if `user` is its creator or a collaborator. */
  getForUser(taskId: string, user: string): TaskRecord {
    const task = this.opts.store.read((tx) => this.load(tx, taskId));
    if (!task) throw new TesseraError('not_found', noTask(taskId));
    if (!participants(task).includes(user)) {
      throw new TesseraError('permission_denied', `task ${taskId} is not yours: '${user}' is neither its creator nor a collaborator`);
    }
    return task;
  }

  /** Ids of the tasks `user` created or collaborates on, oldest first. */
  listForUser(user: string): string[] {
    const tasks = this.opts.store.read((tx) =>
      tx.list<boolean>(BY_PARTICIPANT, `${user}\u0000`).map(([key]) => this.load(tx, key.split('\u0000')[1])!),
    );
    return tasks.sort((a, b) => a.created_at.localeCompare(b.created_at)).map((t) => t.task_id);
  }

  /**
   * A collaborator's approval, contributing their files (TMS external Update, REST approve). With
   * `function_hash` (REST only: the hash the collaborator reviewed), the approval is refused (409) and
   * nothing recorded unless the task's function has exactly that hash now.
   */
  approve(input: { task_id: string; files: string[]; user: string; function_hash?: string }): TaskRecord {
    if (input.files.length === 0) throw new TesseraError('missing_value', 'approving a task needs at least one of your files');
    // An approval consents to the task's function_hash: refuse it if the function no longer has that hash
    // (a record changed in the store, or a task recorded before the hash covered the interface).
    const recorded = this.opts.store.read((tx) => this.load(tx, input.task_id));
    if (recorded?.function_hash && participants(recorded).includes(input.user) && recorded.status === 'Created') {
      assertApprovedFunction(this.opts.functions.mustGet(recorded.function_name), recorded);
    }
    return this.opts.store.transact((tx) => {
      const task = this.load(tx, input.task_id);
      if (!task) throw new TesseraError('permission_denied', `no task ${input.task_id} that you can approve`);
      if (task.function_type !== 'Multiparty') {
        throw new TesseraError('permission_denied', `task ${input.task_id} runs ${task.function_name}, a single-party function: there is nothing to approve`);
      }
      if (task.status !== 'Created') {
        throw new TesseraError('permission_denied', `task ${input.task_id} is ${task.status}; only a Created task takes approvals`);
      }
      const me = task.collaborator_list.find((c) => c.user_id === input.user);
      if (!me) throw new TesseraError('permission_denied', `'${input.user}' is not a collaborator on task ${input.task_id}`);
      if (me.approved) throw new TesseraError('permission_denied', `'${input.user}' has already approved task ${input.task_id}`);
      if (input.function_hash !== undefined) this.assertReviewedHash(task, input.function_hash);
      for (const fileId of input.files) this.assertReadable(fileId, input.user);
      me.approved = true;
      task.approved_user_number += 1;
      if (task.approved_user_number === task.collaborator_list.length) task.status = 'Ready';
      task.input_files.push(...input.files.map((file_id) => ({ user_id: input.user, file_id })));
      return this.save(tx, task);
    }).result;
  }

  /**
   * The check behind `approve --function-hash`, made by the node and not only by the client: the hash the
   * collaborator reviewed must be the one the task's function has now (built-ins have none). Asked only of
   * a collaborator of the task, so it tells nobody else which function a task runs.
   */
  private assertReviewedHash(task: TaskRecord, reviewed: string) {
    const actual = this.opts.functions.mustGet(task.function_name).functionHash ?? null;
    const given = reviewed.trim().toLowerCase();
    if (given !== actual) {
      throw new TesseraError(
        'conflict',
        `not approved: task ${task.task_id} runs ${task.function_name} with function_hash ${actual ?? "none (a built-in function, part of the node's measured code)"}, not the ${given} you gave; nothing was recorded. See what it does with \`tessera task show ${task.task_id}\``,
      );
    }
  }

  /** TMS internal Get: the whole record, for services. */
  getInternal(taskId: string): TaskRecord {
    const task = this.opts.store.read((tx) => this.load(tx, taskId));
    if (!task) throw new TesseraError('not_found', noTask(taskId));
    return task;
  }

  /** TMS internal Update: MesaTEE semantics (non-null fields overwrite, output_files append); false for an unknown task. */
  updateInternal(update: InternalUpdate): boolean {
    return this.opts.store.transact((tx) => {
      const task = this.load(tx, update.task_id);
      if (!task) return false;
      if (update.task_result_file_id !== null) task.task_result_file_id = update.task_result_file_id;
      task.output_files.push(...update.output_files);
      if (update.status !== null) task.status = update.status;
      this.save(tx, task);
      return true;
    }).result;
  }

  /**
   * FNS Invoke. Unlike MesaTEE v0.1 the invoker must be a participant, and the task always
   * ends Finished or Failed (with the reason recorded) however the function ends. One node runs the task
   * itself; a cluster's node hands it to the work queue and waits for whichever node runs it.
   */
  async invoke(input: { task_id: string; function_name: string; task_token: string; payload: string | null; user: string }): Promise<string> {
    const queue = this.opts.queue;
    const { task, claim } = this.claim(input, queue !== undefined);
    if (!queue) return this.execute(task, input.payload);
    try {
      await queue.publish('task', task.task_id, Buffer.alloc(0), claim);
    } catch (err) {
      // Not queued: the task goes back to Ready, as if it had not been invoked, so it can be invoked again.
      this.unclaim(task.task_id);
      throw err;
    }
    const limit = this.opts.functionTimeoutMs * this.maxAttempts + 30_000;
    // A Store that is away for a moment is waited out: the task runs on meanwhile, elsewhere.
    let outcome: Outcome | undefined;
    const settled = () => {
      try {
        outcome = this.outcome(task.task_id);
      } catch {
        // The Store away for a moment: waited out.
      }
      return outcome !== undefined;
    };
    const ended = await queue.waitFor('task', task.task_id, settled, limit);
    if (!ended || !outcome) {
      throw new TesseraError('timeout', `task ${task.task_id} has not ended within ${limit} ms: it is still queued or running on another node, and get_task will show how it ends`);
    }
    if (outcome.ok) return outcome.result;
    throw new TesseraError(outcome.code, outcome.message);
  }

  private get maxAttempts(): number {
    return this.opts.maxAttempts ?? 3;
  }

  /**
   * The checks of an invocation, and Ready → Running: one compare-and-set that only one invocation wins, on
   * any node. Queued (a cluster), the payload waits in the Store, sealed, for the node that takes the task.
   */
  private claim(input: { task_id: string; function_name: string; task_token: string; payload: string | null; user: string }, queued: boolean): { task: TaskRecord; claim: string } {
    const claim = newUuid();
    const task = this.opts.store.transact((tx) => {
      const t = this.load(tx, input.task_id);
      // One answer for "no such task" and "wrong token", so task ids cannot be probed.
      if (!t || !tokensEqual(t.task_token, input.task_token)) {
        throw new TesseraError('permission_denied', `no task ${input.task_id} with that task_token`);
      }
      if (!participants(t).includes(input.user)) {
        throw new TesseraError('permission_denied', `'${input.user}' is not a participant of task ${input.task_id}`);
      }
      if (t.function_name !== input.function_name) {
        throw new TesseraError('permission_denied', `task ${input.task_id} runs '${t.function_name}', not '${input.function_name}'`);
      }
      if (t.status !== 'Ready') {
        const why = t.status === 'Created' ? 'it still awaits approvals' : 'a task runs only once';
        throw new TesseraError('permission_denied', `task ${input.task_id} is ${t.status}, not Ready: ${why}`);
      }
      t.status = 'Running';
      if (queued) {
        delete t.running_on;
        delete t.run_attempt;
        tx.put(INVOCATIONS, t.task_id, { payload: input.payload, claim } satisfies Invocation);
      } else if (this.opts.nodeId) t.running_on = this.opts.nodeId;
      return this.save(tx, t);
    }).result;
    return { task, claim };
  }

  /** A claim whose work could not be queued: back to Ready, unless a node has taken it meanwhile. */
  private unclaim(taskId: string) {
    try {
      this.opts.store.transact((tx) => {
        const t = this.load(tx, taskId);
        if (!t || t.status !== 'Running' || t.run_attempt !== undefined) return;
        t.status = 'Ready';
        tx.delete(INVOCATIONS, taskId);
        this.save(tx, t);
      });
    } catch (err) {
      // The Store is away too: the invocation row stays, and requeueLost() queues it once NATS is back.
      this.opts.logger.warn({ taskId, err: asTesseraError(err).message }, 'a task that could not be queued stays Running; it is queued again once NATS is back');
    }
  }

  /** The recorded end of a queued task, for its invoker; undefined while it runs. */
  private outcome(taskId: string): Outcome | undefined {
    return this.opts.store.read((tx) => tx.get<Outcome>(OUTCOMES, taskId));
  }

  /**
   * Removes the recorded ends that were there at the previous sweep too (10 to 20 s old): their invokers
   * have read them. One commit per sweep, rather than one more per task.
   */
  pruneOutcomes(seenBefore: Set<string>): Set<string> {
    const now = this.opts.store.read((tx) => tx.list<Outcome>(OUTCOMES).map(([id]) => id));
    const old = now.filter((id) => seenBefore.has(id));
    if (old.length) this.opts.store.transact((tx) => old.forEach((id) => tx.delete(OUTCOMES, id)));
    return new Set(now.filter((id) => !seenBefore.has(id)));
  }

  /**
   * A cluster node's share of the work queue: runs a queued task for delivery `delivery` of its message.
   * Taking it is a compare-and-set on run_attempt, so a duplicate message (count not above the recorded
   * attempt) does nothing, and a redelivery after its node died takes the task over. Resolves once the end
   * is recorded (the message is then acknowledged); throws only if the Store cannot be reached.
   */
  async runQueued(taskId: string, delivery: { count: number }): Promise<void> {
    const taken = this.opts.store.transact((tx) => {
      const t = this.load(tx, taskId);
      if (!t || t.status !== 'Running' || (t.run_attempt ?? 0) >= delivery.count) return null;
      const invocation = tx.get<Invocation>(INVOCATIONS, taskId);
      // Takes, not deliveries, are counted: a delivery handed back because the Store was away took nothing.
      const takes = (invocation?.takes ?? 0) + 1;
      if (takes > this.maxAttempts || !invocation) {
        t.status = 'Failed';
        t.failure_reason = invocation
          ? `the task was taken ${this.maxAttempts} times (nats.work_max_attempts) by nodes that each stopped before it ended`
          : 'the task\'s invocation was lost';
        tx.delete(INVOCATIONS, taskId);
        tx.put(OUTCOMES, taskId, { ok: false, code: 'unavailable', message: t.failure_reason } satisfies Outcome);
        this.save(tx, t);
        return null;
      }
      if (this.opts.nodeId) t.running_on = this.opts.nodeId;
      t.run_attempt = delivery.count;
      tx.put(INVOCATIONS, taskId, { ...invocation, takes } satisfies Invocation);
      return { task: this.save(tx, t), payload: invocation.payload };
    }).result;
    if (taken) {
      if (delivery.count > 1) this.opts.logger.warn({ taskId, delivery: delivery.count }, 'took over a task whose node stopped while running it');
      let recorded: boolean | undefined;
      await this.execute(taken.task, taken.payload, delivery.count, (r) => (recorded = r)).catch(() => undefined);
      // Another node's later delivery of this message runs the task now: acknowledging this one would take
      // the message from under it, so it is left to that delivery.
      if (recorded === false) throw new WorkSuperseded();
      // The end could not be recorded (the Store went away): the message is handed back, not acknowledged,
      // so that a later delivery takes the task over and records it.
      if (recorded === undefined) throw new TesseraError('unavailable', `the end of task ${taskId} could not be recorded; it is handed back to the queue`);
    }
    this.opts.queue?.notify('task', taskId);
  }

  /**
   * Queues again what a node claimed and could not queue (it stopped, or NATS was away, between the
   * claim's commit and the publish): an invocation seen untaken at two sweeps in a row, with no message
   * in the queue. A duplicate is harmless (runQueued takes a task once per delivery count).
   */
  async requeueLost(seenBefore: Set<string>): Promise<Set<string>> {
    const queue = this.opts.queue;
    if (!queue) return new Set();
    const untaken = this.opts.store.read((tx) =>
      tx.list<Invocation>(INVOCATIONS).filter(([id]) => {
        const t = this.load(tx, id);
        return t?.status === 'Running' && t.run_attempt === undefined;
      }),
    );
    for (const [id, invocation] of untaken) {
      if (!seenBefore.has(id) || (await queue.pending('task', id))) continue;
      this.opts.logger.warn({ taskId: id }, 'a claimed task was never queued (its node stopped, or NATS was away); queued now');
      // A row from before claims had ids is named by its task id.
      await queue.publish('task', id, Buffer.alloc(0), invocation.claim ?? id);
    }
    return new Set(untaken.map(([id]) => id));
  }

  /**
   * Runs a claimed task's function and records its end. `attempt` (a cluster's delivery count) fences the
   * record: if another node has taken the task over since, this run records nothing and its outputs go.
   * `ended` hears whether the end was recorded (false: taken over); it is not called if the Store failed.
   */
  private async execute(task: TaskRecord, payload: string | null, attempt?: number, ended?: (recorded: boolean) => void): Promise<string> {
    const controller = new AbortController();
    const outputs: Outputs = { files: [], shared: null, created: [] };
    let timer: NodeJS.Timeout | undefined;
    let superseded = false;
    try {
      const fn = this.opts.functions.mustGet(task.function_name);
      assertApprovedFunction(fn, task);
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const err = new TesseraError('timeout', `${task.function_name} ran longer than ${this.opts.functionTimeoutMs} ms (tasks.function_timeout_ms)`);
          // The abort ends what runs the function (a built-in's worker thread), which fails with this same error.
          controller.abort(err);
          reject(err);
        }, this.opts.functionTimeoutMs);
      });
      FunctionRegistry.checkInputs(fn, task.input_files.length);
      const ctx = this.context(task, payload, controller.signal, outputs);
      const result = await Promise.race([Promise.resolve().then(() => fn.run(ctx)), timeout]);
      if (typeof result !== 'string') throw new TesseraError('function_failed', `${task.function_name} returned no result string`);
      if (controller.signal.aborted) throw new TesseraError('timeout', `${task.function_name} timed out`);
      const recorded = this.finish(task.task_id, 'Finished', null, outputs, attempt, { ok: true, result });
      ended?.(recorded);
      if (!recorded) {
        superseded = true;
        throw new TesseraError('conflict', `task ${task.task_id} was taken over by another node; this run's results were dropped`);
      }
      return result;
    } catch (err) {
      controller.abort();
      const e = err instanceof TesseraError ? err : new TesseraError('function_failed', `${task.function_name} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
      // Outputs of a failed run are never shown to anyone: they are removed with the failure.
      await this.discard(outputs);
      if (!superseded) {
        const recorded = this.finish(task.task_id, 'Failed', e.message, null, attempt, { ok: false, code: e.code, message: e.message });
        ended?.(recorded);
      }
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  private discard(outputs: Outputs): Promise<void> {
    return this.opts.files.discard(outputs.created).catch((err) => this.opts.logger.error({ err }, 'could not remove outputs of a failed task'));
  }

  /** The worker context: file reads and MesaTEE's three ways of saving results. */
  private context(task: TaskRecord, payload: string | null, signal: AbortSignal, outputs: Outputs): FunctionContext {
    const files = this.opts.files;
    const save = async (owner: string, collaborators: string[], allowPolicy: 0 | 1, data: Buffer) => {
      if (signal.aborted) throw new TesseraError('timeout', 'the task was stopped');
      const id = await files.storeOutput({ owner, taskId: task.task_id, collaborators, allowPolicy }, data);
      outputs.created.push(id);
      return id;
    };
    const collaborators = task.collaborator_list.map((c) => c.user_id);
    return {
      taskId: task.task_id,
      creator: task.user_id,
      payload,
      inputFiles: task.input_files.map((f) => ({ ...f })),
      collaborators,
      signal,
      readFile: async (fileId) => {
        const isInput = task.input_files.some((f) => f.file_id === fileId);
        if (!isInput) this.assertReadable(fileId, task.user_id);
        return files.readPlaintext(fileId);
      },
      saveForCreator: async (data) => {
        const id = await save(task.user_id, [], 0, data);
        outputs.files.push({ user_id: task.user_id, file_id: id });
        return id;
      },
      saveForFileOwner: async (data, inputFileId) => {
        const input = task.input_files.find((f) => f.file_id === inputFileId);
        if (!input) throw new TesseraError('internal', `${task.function_name} saved a result for ${inputFileId}, which is not an input of the task`);
        const id = await save(input.user_id, [], 0, data);
        outputs.files.push({ user_id: input.user_id, file_id: id });
        return id;
      },
      saveForAllParticipants: async (data) => {
        const id = await save(task.user_id, collaborators, 1, data);
        outputs.shared = id;
        return id;
      },
    };
  }

  /**
   * At start-up: tasks left Running by a crash fail, with the reason, instead of hanging forever. Not in a
   * cluster: there the work queue hands a dead node's task to another node.
   */
  recoverInterrupted(): number {
    if (this.opts.queue) return 0;
    return this.opts.store.transact((tx) => {
      let n = 0;
      for (const [, stored] of tx.list<TaskRecord>(TASKS)) {
        const task = this.withToken(stored);
        if (task.status !== 'Running') continue;
        // Another node of the cluster runs it: not ours to fail (a task from before running_on is ours).
        if (task.running_on !== undefined && task.running_on !== this.opts.nodeId) continue;
        task.status = 'Failed';
        task.failure_reason = 'the node stopped while this task was running';
        this.save(tx, task);
        n++;
      }
      return n;
    }).result;
  }

  /**
   * Records the end of a run: status, reason, and the results, in one transaction. With `attempt` (a
   * cluster), only while the task is still this node's delivery `attempt`; false, recording nothing, if not.
   */
  private finish(taskId: string, status: 'Finished' | 'Failed', reason: string | null, outputs: Outputs | null, attempt?: number, outcome?: Outcome): boolean {
    try {
      return this.opts.store.transact((tx) => {
        const task = this.load(tx, taskId)!;
        if (attempt !== undefined && (task.status !== 'Running' || task.run_attempt !== attempt || task.running_on !== this.opts.nodeId)) return false;
        task.status = status;
        task.failure_reason = reason;
        if (outputs) {
          task.output_files.push(...outputs.files);
          if (outputs.shared) task.task_result_file_id = outputs.shared;
        }
        this.save(tx, task);
        if (attempt !== undefined) {
          tx.delete(INVOCATIONS, taskId);
          if (outcome) tx.put(OUTCOMES, taskId, outcome);
        }
        return true;
      }).result;
    } catch (err) {
      this.opts.logger.error({ err: asTesseraError(err), taskId }, 'could not record the end of a task');
      throw err;
    }
  }

  private assertReadable(fileId: string, user: string) {
    const access = this.opts.files.check(fileId, user);
    if (access !== 'allowed') {
      throw new TesseraError('permission_denied', `file ${fileId} does not exist or '${user}' may not read it`);
    }
  }

  private save(tx: Tx, task: TaskRecord): TaskRecord {
    task.updated_at = new Date().toISOString();
    const { task_token: _token, ...stored } = task;
    tx.put(TASKS, task.task_id, stored);
    return this.withToken(task);
  }

  private load(tx: ReadTx, taskId: string): TaskRecord | undefined {
    const stored = tx.get<TaskRecord>(TASKS, taskId);
    return stored && this.withToken(stored);
  }

  /** The record with its token, worked out from its id (see TaskServiceOptions.tokenKey). */
  private withToken(task: TaskRecord): TaskRecord {
    task.task_token = createHmac('sha256', this.opts.tokenKey).update(`task token\0${task.task_id}`).digest('hex').slice(0, 32);
    return task;
  }
}
