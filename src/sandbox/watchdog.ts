import type ivm from 'isolated-vm';
import { disposeIsolate } from './usage.js';

// isolated-vm's own `timeout` stops most guests, but not all: a guest that floods the host with calls,
// or keeps re-entering, can outrun it. So every call into an isolate also has a deadline kept on the
// node's side: past its time limit plus a grace, the isolate is disposed, which stops whatever runs in it
// and frees its heap. An isolate so stopped is remembered, so its call is reported as a timeout rather
// than as the heap-limit kill a disposed isolate otherwise means.

/** How long past its limit a call may run before its isolate is disposed. */
export const GRACE_MS = 100;

const stoppedForTime = new WeakSet<ivm.Isolate>();

export const wasStoppedForTime = (isolate: ivm.Isolate): boolean => stoppedForTime.has(isolate);

/** Disposes `isolate` for running out of time (or being cancelled); safe to call twice. */
export function stopIsolate(isolate: ivm.Isolate): void {
  stoppedForTime.add(isolate);
  disposeIsolate(isolate);
}

/**
 * Awaits `work`, a call into `isolate`; if it has not settled `limitMs + GRACE_MS` from now, or `signal`
 * aborts first, the isolate is disposed. A limit of 0 means none (the signal still applies).
 */
export async function withDeadline<T>(isolate: ivm.Isolate, limitMs: number, work: Promise<T>, signal?: AbortSignal): Promise<T> {
  const timer = limitMs > 0 ? setTimeout(() => stopIsolate(isolate), limitMs + GRACE_MS) : undefined;
  const onAbort = () => stopIsolate(isolate);
  if (signal?.aborted) onAbort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await work;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}
