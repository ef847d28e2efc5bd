// What the node and a built-in's worker thread say to each other over the worker's MessagePort. The
// worker asks; the node, which alone holds the store, the keys and the task, answers. File contents
// move as transferred ArrayBuffers: handed over, not copied, and never written anywhere.
import { type ErrorCode, TesseraError } from '../errors/index.js';
import type { TaskFileRef } from './registry.js';

/** The task as a built-in sees it (FunctionContext without its methods and signal). */
export interface TaskView {
  taskId: string;
  creator: string;
  payload: string | null;
  inputFiles: TaskFileRef[];
  collaborators: string[];
}

export type ContextCall =
  | { method: 'readFile'; fileId: string }
  | { method: 'saveForCreator' | 'saveForAllParticipants'; data: ArrayBuffer }
  | { method: 'saveForFileOwner'; data: ArrayBuffer; inputFileId: string };

/** An error, as it crosses the thread boundary: TesseraErrors keep their code. */
export interface SerializedError {
  code: ErrorCode | null;
  name: string;
  message: string;
}

export type ToWorker =
  | { type: 'run'; name: string; task: TaskView }
  /** The answer to a ContextCall: a file's content (readFile), a file id (saves), or why not. */
  | { type: 'reply'; id: number; value?: ArrayBuffer | string; error?: SerializedError };

export type FromWorker =
  /** Sent once, when the built-ins are loaded. */
  | { type: 'ready' }
  | ({ type: 'call'; id: number } & ContextCall)
  | { type: 'done'; result: string | null }
  | { type: 'failed'; error: SerializedError }
  /** A process group the thread started (a Python run) or saw end: the node ends it with the thread, which cannot. */
  | { type: 'process'; pid: number; running: boolean };

export function serializeError(err: unknown): SerializedError {
  if (err instanceof TesseraError) return { code: err.code, name: err.name, message: err.message };
  const e = err as { name?: unknown; message?: unknown } | null;
  return { code: null, name: typeof e?.name === 'string' ? e.name : 'Error', message: typeof e?.message === 'string' ? e.message : String(err) };
}

export function deserializeError(e: SerializedError): Error {
  if (e.code) return new TesseraError(e.code, e.message);
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}

/**
 * The bytes of `data` as an ArrayBuffer to transfer: its own buffer when it spans all of it (no copy;
 * `data` is left detached, empty), otherwise a copy of just its bytes (a slice of a larger buffer, such as
 * Node's small-Buffer pool, which must not be handed over).
 */
export function handOver(data: Uint8Array): ArrayBuffer {
  const buffer = data.buffer;
  if ((buffer as { detached?: boolean }).detached) {
    throw new TesseraError('internal', 'a built-in passed data it had already handed over (saved data is transferred, not copied)');
  }
  if (buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === buffer.byteLength) return buffer;
  const copy = new ArrayBuffer(data.byteLength);
  new Uint8Array(copy).set(data);
  return copy;
}
