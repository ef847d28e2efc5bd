import type ivm from 'isolated-vm';

/**
 * What the node's isolates cost, by what they run, for the operator's metrics: how many are alive, and the
 * CPU and wall time V8 has spent in them (isolated-vm's per-isolate cpuTime and wallTime). Every isolate is
 * registered where it is made; nothing here holds one alive (weak references), and reading the figures
 * costs nothing on the request path: they are read when metrics are scraped.
 */
export type SandboxKind = 'app' | 'task' | 'workflow' | 'governance';
export const SANDBOX_KINDS: readonly SandboxKind[] = ['app', 'task', 'workflow', 'governance'];

interface Tracked {
  ref: WeakRef<ivm.Isolate>;
  kind: SandboxKind;
  /** The last figures read, kept for an isolate disposed without going through dispose() (a limit hit). */
  cpuNs: bigint;
  wallNs: bigint;
}

const live = new Set<Tracked>();
/** Time of isolates that are gone, by kind. */
const gone = new Map<SandboxKind, { cpuNs: bigint; wallNs: bigint }>(SANDBOX_KINDS.map((k) => [k, { cpuNs: 0n, wallNs: 0n }]));

function read(t: Tracked, isolate: ivm.Isolate) {
  try {
    t.cpuNs = isolate.cpuTime;
    t.wallNs = isolate.wallTime;
  } catch {
    // Disposed under us: the last figures stand.
  }
}

function retire(t: Tracked) {
  live.delete(t);
  const g = gone.get(t.kind)!;
  g.cpuNs += t.cpuNs;
  g.wallNs += t.wallNs;
}

const byIsolate = new WeakMap<ivm.Isolate, Tracked>();

/** Counts `isolate` under `kind` until it is disposed; its time is read as it goes. */
export function trackIsolate(isolate: ivm.Isolate, kind: SandboxKind): void {
  const t: Tracked = { ref: new WeakRef(isolate), kind, cpuNs: 0n, wallNs: 0n };
  live.add(t);
  byIsolate.set(isolate, t);
}

/**
 * Disposes `isolate` (if it is not already) after taking its last figures. (isolated-vm's objects are not
 * extensible, so dispose() itself cannot be wrapped; an isolate that went down on its own, at its heap
 * limit, keeps the figures of the last scrape.)
 */
export function disposeIsolate(isolate: ivm.Isolate): void {
  const t = byIsolate.get(isolate);
  if (t && !isolate.isDisposed) read(t, isolate);
  if (t && live.has(t)) retire(t);
  if (!isolate.isDisposed) isolate.dispose();
}

export interface SandboxUsage {
  kind: SandboxKind;
  alive: number;
  cpuSeconds: number;
  wallSeconds: number;
}

/** The figures now, by kind. */
export function sandboxUsage(): SandboxUsage[] {
  const out = new Map<SandboxKind, { alive: number; cpuNs: bigint; wallNs: bigint }>(SANDBOX_KINDS.map((k) => [k, { alive: 0, ...gone.get(k)! }]));
  for (const t of [...live]) {
    const isolate = t.ref.deref();
    if (!isolate || isolate.isDisposed) {
      retire(t);
      out.get(t.kind)!.cpuNs += t.cpuNs;
      out.get(t.kind)!.wallNs += t.wallNs;
      continue;
    }
    read(t, isolate);
    const o = out.get(t.kind)!;
    o.alive++;
    o.cpuNs += t.cpuNs;
    o.wallNs += t.wallNs;
  }
  return [...out].map(([kind, o]) => ({ kind, alive: o.alive, cpuSeconds: Number(o.cpuNs) / 1e9, wallSeconds: Number(o.wallNs) / 1e9 }));
}
