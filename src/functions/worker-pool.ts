// A small pool of worker threads, started with the node, that run the built-in functions, so no built-in
// runs on the node's event loop. A task whose signal aborts (its timeout, tasks.function_timeout_ms) has
// its worker terminated and replaced: the call ends alone, and the node keeps answering everyone else.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
// sharp (libvips) is loaded here, on the node's main thread, so that its shared libraries stay loaded
// while worker threads that use it (image_resize) come and go: on glibc a library unloaded when the last
// thread using it ends can crash the process (sharp's documented rule for worker threads).
import 'sharp';
import type { BuiltinSettings } from './builtin-settings.js';
import { TesseraError } from '../errors/index.js';
import type { FunctionContext } from './registry.js';
import { type ContextCall, type FromWorker, type ToWorker, deserializeError, handOver, serializeError } from './worker-messages.js';

/** Runs a built-in, by name, for a task. */
export interface BuiltinRunner {
  run(name: string, ctx: FunctionContext): Promise<string>;
}

export interface WorkerPoolOptions {
  /** Worker threads (tasks.builtin_workers); more tasks than this wait for a free one. */
  size: number;
  logger: Logger;
  /** The worker's module; builtin-worker.js beside this one by default. */
  script?: URL;
  /** How long an idle thread lives (IDLE_MS by default). */
  idleMs?: number;
  /** Configuration the built-ins read (their defaults otherwise). */
  settings?: BuiltinSettings;
}

interface Job {
  name: string;
  ctx: FunctionContext;
  resolve(result: string): void;
  reject(err: Error): void;
  onAbort(): void;
}

interface Slot {
  /** Null while no thread is started for it (after one failed before it was ready). */
  worker: Worker | null;
  ready: boolean;
  job: Job | null;
  /** Ends the slot's thread once it has been idle for IDLE_MS. */
  idle: NodeJS.Timeout | null;
  /** Process groups its thread runs (Python): a terminated thread leaves them running, so the node ends them. */
  groups: Set<number>;
}

/**
 * A worker thread idle this long is ended; the next task starts one (~120 ms). Each thread holds a V8
 * heap of its own (tens of MiB), which an idle node should not carry.
 */
const IDLE_MS = 30_000;

const stopped = (job: Job): Error => {
  const reason: unknown = job.ctx.signal.reason;
  return reason instanceof TesseraError ? reason : new TesseraError('timeout', `${job.name} was stopped`);
};

/** Kills the process groups a slot's thread left (each group's leader pid is its id). */
function endGroups(slot: Slot) {
  for (const pid of slot.groups) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // ESRCH: already gone.
    }
  }
  slot.groups.clear();
}

export class BuiltinWorkerPool implements BuiltinRunner {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private readonly script: URL;
  private closed = false;

  constructor(private readonly opts: WorkerPoolOptions) {
    this.script = opts.script ?? new URL('./builtin-worker.js', import.meta.url);
    // Threads start with the first tasks that need them, not with the node.
    for (let i = 0; i < opts.size; i++) this.slots.push({ worker: null, ready: false, job: null, idle: null, groups: new Set() });
  }

  run(name: string, ctx: FunctionContext): Promise<string> {
    if (this.closed) return Promise.reject(new TesseraError('unavailable', `${name} cannot run: the node is stopping`));
    return new Promise<string>((resolve, reject) => {
      const job: Job = {
        name,
        ctx,
        resolve: (result) => {
          ctx.signal.removeEventListener('abort', job.onAbort);
          resolve(result);
        },
        reject: (err) => {
          ctx.signal.removeEventListener('abort', job.onAbort);
          reject(err);
        },
        onAbort: () => this.abort(job),
      };
      if (ctx.signal.aborted) return reject(stopped(job));
      ctx.signal.addEventListener('abort', job.onAbort, { once: true });
      this.queue.push(job);
      this.pump();
    });
  }

  /** Ends every worker; tasks still waiting or running fail. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new TesseraError('unavailable', `${job.name} did not run: the node is stopping`));
    const workers: Worker[] = [];
    for (const slot of this.slots) {
      if (slot.idle) clearTimeout(slot.idle);
      slot.job?.reject(new TesseraError('unavailable', `${slot.job.name} was stopped: the node is stopping`));
      endGroups(slot);
      slot.job = null;
      if (slot.worker) workers.push(slot.worker);
      slot.worker = null;
    }
    await Promise.all(workers.map((w) => w.terminate()));
  }

  private start(slot: Slot) {
    const worker = new Worker(this.script, { name: 'tessera-builtin', workerData: { settings: this.opts.settings } });
    slot.worker = worker;
    slot.ready = false;
    worker.unref();
    const mine = () => slot.worker === worker;
    worker.on('message', (msg: FromWorker) => mine() && this.onMessage(slot, worker, msg));
    // 'error' (an uncaught exception, or the heap limit) is followed by 'exit'; the first one handles both.
    worker.on('error', (err) => mine() && this.onEnd(slot, err));
    worker.on('exit', (code) => mine() && this.onEnd(slot, new Error(`the worker thread exited with code ${code}`)));
  }

  /** Gives waiting tasks to idle workers, starting a thread for a slot that has none. */
  private pump() {
    while (this.queue.length > 0) {
      const slot = this.slots.find((s) => s.worker && !s.job) ?? this.slots.find((s) => !s.worker);
      if (!slot) return;
      if (!slot.worker) this.start(slot);
      const job = this.queue.shift()!;
      if (slot.idle) clearTimeout(slot.idle);
      slot.idle = null;
      slot.job = job;
      slot.worker!.ref();
      const { taskId, creator, payload, inputFiles, collaborators } = job.ctx;
      this.post(slot.worker!, { type: 'run', name: job.name, task: { taskId, creator, payload, inputFiles, collaborators } });
    }
  }

  private onMessage(slot: Slot, worker: Worker, msg: FromWorker) {
    if (msg.type === 'ready') {
      slot.ready = true;
      return;
    }
    if (msg.type === 'process') {
      if (msg.running) slot.groups.add(msg.pid);
      else slot.groups.delete(msg.pid);
      return;
    }
    const job = slot.job;
    if (!job) return;
    if (msg.type === 'call') {
      const current = () => slot.worker === worker && slot.job === job;
      this.answer(job.ctx, msg)
        .then(
          (value) => current() && this.post(worker, { type: 'reply', id: msg.id, value }, value instanceof ArrayBuffer ? [value] : []),
          (err) => current() && this.post(worker, { type: 'reply', id: msg.id, error: serializeError(err) }),
        )
        .catch((err) => this.opts.logger.error({ err, function: job.name }, 'could not answer a built-in worker thread'));
      return;
    }
    this.idle(slot, worker);
    if (msg.type === 'failed') job.reject(deserializeError(msg.error));
    else if (msg.result === null) job.reject(new TesseraError('function_failed', `${job.name} returned no result string`));
    else job.resolve(msg.result);
  }

  /** A context call, done in the node under the task's rules (see TaskService's context). */
  private async answer(ctx: FunctionContext, call: ContextCall): Promise<ArrayBuffer | string> {
    switch (call.method) {
      case 'readFile':
        // A fresh plaintext buffer that nothing else in the node holds: handed over whole.
        return handOver(await ctx.readFile(call.fileId));
      case 'saveForCreator':
        return ctx.saveForCreator(Buffer.from(call.data));
      case 'saveForAllParticipants':
        return ctx.saveForAllParticipants(Buffer.from(call.data));
      case 'saveForFileOwner':
        return ctx.saveForFileOwner(Buffer.from(call.data), call.inputFileId);
    }
  }

  private idle(slot: Slot, worker: Worker) {
    slot.job = null;
    worker.unref();
    this.pump();
    if (slot.job || slot.worker !== worker) return;
    slot.idle = setTimeout(() => {
      slot.idle = null;
      if (slot.job || slot.worker !== worker) return;
      slot.worker = null;
      slot.ready = false;
      worker.terminate().catch((err) => this.opts.logger.error({ err }, 'could not end an idle built-in worker thread'));
    }, this.opts.idleMs ?? IDLE_MS);
    slot.idle.unref();
  }

  /** Threads running a task, threads started and idle, and tasks waiting for a thread, for the node's metrics. */
  get usage() {
    const started = this.slots.filter((s) => s.worker !== null);
    const busy = this.slots.filter((s) => s.job !== null).length;
    return { size: this.slots.length, busy, idle: Math.max(0, started.length - busy), queued: this.queue.length };
  }

  /** The task was stopped: its worker is ended mid-run and a fresh one takes its place. */
  private abort(job: Job) {
    const queued = this.queue.indexOf(job);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      job.reject(stopped(job));
      return;
    }
    const slot = this.slots.find((s) => s.job === job);
    if (!slot?.worker) return;
    const worker = slot.worker;
    slot.job = null;
    slot.worker = null;
    endGroups(slot);
    worker.terminate().catch((err) => this.opts.logger.error({ err }, 'could not end a built-in worker thread'));
    this.opts.logger.warn({ function: job.name, task: job.ctx.taskId }, 'built-in stopped: its worker thread was ended and is replaced');
    job.reject(stopped(job));
    this.pump();
  }

  /** The thread died on its own: the task it ran fails, and the slot gets a new thread. */
  private onEnd(slot: Slot, err: Error) {
    endGroups(slot);
    const job = slot.job;
    slot.job = null;
    slot.worker = null;
    slot.ready = false;
    if (job) {
      const outOfMemory = (err as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY';
      job.reject(
        outOfMemory
          ? new TesseraError('too_large', `${job.name} exceeded the heap limit of its worker thread and was stopped`)
          : new TesseraError('function_failed', `${job.name} failed: its worker thread ended (${err.message})`),
      );
    }
    if (this.closed) return;
    this.opts.logger.error({ err, function: job?.name }, 'a built-in worker thread ended');
    // The next task starts a new thread, so one that never becomes ready is not restarted in a loop.
    this.pump();
  }

  private post(worker: Worker, msg: ToWorker, transfer: ArrayBuffer[] = []) {
    worker.postMessage(msg, transfer);
  }
}
