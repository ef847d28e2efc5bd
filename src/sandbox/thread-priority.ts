import { readFileSync, readdirSync } from 'node:fs';
import { setPriority } from 'node:os';

// Guest code runs on isolated-vm's threads, never on the node's event loop; but on a machine with fewer
// cores than busy guests, the operating system would still share the cores evenly between the node's
// own thread and every spinning guest, and each request would wait behind their time slices. So every
// isolate thread runs at the lowest priority (nice 19): guests share what the node leaves, and a request
// is served as soon as it arrives. isolated-vm does not name its threads, so they carry their creator's
// name ("MainThread") with a thread id other than the process id; Node's own threads have names of
// their own (V8Worker, libuv-worker, ...), and the libuv thread pool, which does the node's fsyncs, keeps
// its priority. New threads are found by a scan of /proc/self/task every `intervalMs`.

const LOWEST = 19;

let scanSoon: (() => void) | null = null;

/**
 * Called when work is handed to an isolate: isolated-vm may have just started a thread for it, so the
 * next scan comes at once rather than at the next interval.
 */
export function sandboxThreadsMayHaveStarted(): void {
  scanSoon?.();
}

/** Starts lowering the priority of isolate threads (Linux only; elsewhere a no-op). Returns a stop function. */
export function lowerSandboxThreads(intervalMs = 100): () => void {
  if (process.platform !== 'linux') return () => {};
  const done = new Set<number>();
  let pending = false;
  let last = 0;
  // At most one extra scan per 20 ms: a busy node dispatches thousands of calls a second, and isolated-vm
  // starts a thread only when all of its threads are busy.
  scanSoon = () => {
    if (pending || performance.now() - last < 20) return;
    pending = true;
    setImmediate(() => {
      pending = false;
      last = performance.now();
      scan();
    });
  };
  const scan = () => {
    let tids: string[];
    try {
      tids = readdirSync('/proc/self/task');
    } catch {
      return;
    }
    const live = new Set<number>();
    for (const t of tids) {
      const tid = Number(t);
      live.add(tid);
      if (tid === process.pid || done.has(tid)) continue;
      try {
        if (readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() !== 'MainThread') {
          done.add(tid);
          continue;
        }
        setPriority(tid, LOWEST);
        done.add(tid);
      } catch {
        /* the thread ended between the listing and here */
      }
    }
    for (const tid of done) if (!live.has(tid)) done.delete(tid);
  };
  scan();
  const timer = setInterval(scan, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    scanSoon = null;
  };
}
