// The worker thread that runs built-in functions (started by worker-pool.ts). It is part of the node's
// measured code. It runs one task at a time and holds nothing of the node: every file read and every
// saved result is a request to the node over the port, answered there under the task's permissions.
import { parentPort, workerData } from 'node:worker_threads';
import { TesseraError } from '../errors/index.js';
import { type BuiltinSettings, useBuiltinSettings } from './builtin-settings.js';
import { BUILTINS } from './builtins/index.js';
import type { FunctionContext } from './registry.js';
import { type ContextCall, type FromWorker, type TaskView, type ToWorker, deserializeError, handOver, serializeError } from './worker-messages.js';

if (!parentPort) throw new Error('builtin-worker.js runs only as a worker thread of a Tessera node');
const port = parentPort;
const settings = (workerData as { settings?: BuiltinSettings } | null)?.settings;
if (settings) useBuiltinSettings(settings);
const post = (msg: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(msg, transfer);

const byName = new Map(BUILTINS.map((def) => [def.name, def]));
const waiting = new Map<number, { resolve: (v: ArrayBuffer | string) => void; reject: (e: Error) => void }>();
let nextId = 0;

function ask(call: ContextCall): Promise<ArrayBuffer | string> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    post({ type: 'call', id, ...call }, 'data' in call ? [call.data] : []);
  });
}

const fileId = async (call: ContextCall) => {
  const id = await ask(call);
  if (typeof id !== 'string') throw new TesseraError('internal', `${call.method}: the node answered without a file id`);
  return id;
};

// The node ends this thread when the task is stopped (timeout), so the signal here never fires: code
// after the stop never runs.
const neverAborted = new AbortController().signal;

function context(task: TaskView): FunctionContext {
  return {
    ...task,
    signal: neverAborted,
    readFile: async (id) => {
      const content = await ask({ method: 'readFile', fileId: id });
      if (!(content instanceof ArrayBuffer)) throw new TesseraError('internal', 'readFile: the node answered without content');
      return Buffer.from(content);
    },
    saveForCreator: (data) => fileId({ method: 'saveForCreator', data: handOver(data) }),
    saveForAllParticipants: (data) => fileId({ method: 'saveForAllParticipants', data: handOver(data) }),
    saveForFileOwner: (data, inputFileId) => fileId({ method: 'saveForFileOwner', data: handOver(data), inputFileId }),
  };
}

async function run(name: string, task: TaskView) {
  try {
    const def = byName.get(name);
    if (!def) throw new TesseraError('unsupported_function', `no built-in function named '${name}'`);
    const result = await def.run(context(task));
    post({ type: 'done', result: typeof result === 'string' ? result : null });
  } catch (err) {
    post({ type: 'failed', error: serializeError(err) });
  }
}

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'run') {
    void run(msg.name, msg.task);
    return;
  }
  const call = waiting.get(msg.id);
  if (!call) return;
  waiting.delete(msg.id);
  if (msg.error) call.reject(deserializeError(msg.error));
  else call.resolve(msg.value!);
});
post({ type: 'ready' });
