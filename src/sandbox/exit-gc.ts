import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// isolated-vm frees the C++ side of its handles (References, ExternalCopies, Contexts...) from V8 weak
// callbacks that need its per-isolate environment. When the process exits, Node tears that environment
// down and then collects garbage one last time, and a handle collected then aborts the process
// (`IsolateEnvironment::GetCurrent(): Assertion 'environment != nullptr'`; seen on Node 26 at the end of
// test files that ran many sandboxes). So, at 'exit', while the environment still exists, every registered
// cache drops its handles and a full collection runs their weak callbacks.
// (node:vm is used only to reach V8's `gc` function; no code runs in it.)

const caches = new Set<{ dropHandles(): void }>();
let gc: (() => void) | null = null;

/** Registers something that keeps isolated-vm handles for the life of the process. */
export function dropHandlesAtExit(cache: { dropHandles(): void }): void {
  caches.add(cache);
  if (gc) return;
  setFlagsFromString('--expose-gc');
  gc = runInNewContext('gc') as () => void;
  setFlagsFromString('--no-expose-gc');
  process.once('exit', () => {
    for (const c of caches) c.dropHandles();
    gc?.();
  });
}
