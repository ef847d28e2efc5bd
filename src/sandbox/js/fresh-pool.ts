import { availableParallelism } from 'node:os';
import ivm from 'isolated-vm';
import { TesseraError } from '../../errors/index.js';
import type { Prepared } from './engine.js';
import { disposeIsolate, trackIsolate } from '../usage.js';

/**
 * How many contexts one isolate makes: a batch, made ahead, then served, then the isolate goes.
 * Replacing isolates also bounds what isolated-vm keeps of each instantiated module until its isolate
 * goes (laverdet/isolated-vm#247, about 40 KiB per context here): 32 keeps that residue near 1 MiB of
 * the handler's heap, and a new isolate (~1 ms) is paid once per 32 calls.
 */
const BATCH = 16;

/** Calls that may wait for one pool's isolate before more are refused. */
const MAX_WAITING = 256;

/** A pool unused this long lets its isolates go (two batches of contexts are ~10 MiB). */
const IDLE_MS = 30_000;

/**
 * One isolate and the contexts made in it. The isolate goes once every context is used, or once the
 * batch is retired, but never while a context is still being made in it or a call runs in it: disposing
 * an isolate under isolated-vm work in flight can take the whole process down.
 */
class Batch {
  readonly isolate: ivm.Isolate;
  private readonly ready: Array<Promise<Prepared>> = [];
  private preparing = 0;
  private inUse = 0;
  private used = 0;
  private retired = false;

  constructor(heapMiB: number, prepare: (isolate: ivm.Isolate) => Promise<Prepared>) {
    this.isolate = new ivm.Isolate({ memoryLimit: Math.max(8, heapMiB) });
    // Only CCF apps run in pooled fresh contexts (src/apps/service.ts).
    trackIsolate(this.isolate, 'app');
    for (let i = 0; i < BATCH; i++) {
      this.preparing++;
      const made = prepare(this.isolate);
      // The call that takes this context gets any failure; here it only counts as settled.
      made.then(
        () => this.settled(),
        () => this.settled(),
      );
      this.ready.push(made);
    }
  }

  get broken(): boolean {
    return this.isolate.isDisposed;
  }

  /** Nothing is being made or run in it, and its isolate is gone (or will be, once retired). */
  get gone(): boolean {
    return this.isolate.isDisposed;
  }

  get empty(): boolean {
    return this.ready.length === 0;
  }

  take(): Promise<Prepared> {
    this.inUse++;
    this.used++;
    return this.ready.shift()!;
  }

  done(): void {
    this.inUse--;
    this.disposeIfIdle();
  }

  /** No more calls will come: the isolate goes as soon as nothing runs in it. */
  retire(): void {
    this.retired = true;
    this.disposeIfIdle();
  }

  private settled(): void {
    this.preparing--;
    this.disposeIfIdle();
  }

  private disposeIfIdle(): void {
    if ((this.retired || this.used === BATCH) && this.inUse === 0 && this.preparing === 0 && !this.isolate.isDisposed) disposeIsolate(this.isolate);
  }
}

/**
 * How many calls into isolates can make progress at once: isolated-vm runs isolates on a pool of
 * (cores + 1) threads (its scheduler.cc), so more parallel isolates than that only queue. At most 4, so
 * that a busy endpoint does not take every thread (and its memory) from the others.
 */
export const parallelIsolates = () => Math.min(4, availableParallelism() + 1);

/**
 * One isolate's worth of serving at a time: calls run one after another in the serving batch while the
 * next batch is made in another isolate. A lane's calls never overlap, so a call that breaks the heap
 * limit (and takes its isolate down) had no other call inside it.
 */
class Lane {
  serving: Batch | null = null;
  next: Batch | null = null;
  queue: Promise<unknown> = Promise.resolve();
  inFlight = 0;

  constructor(private readonly newBatch: () => Batch) {}

  /** The batch to take the next context from; starts making the one after it. */
  take(): Batch {
    // A call that broke the heap limit took its batch's isolate, and every context in it, down.
    if (this.serving?.broken) this.serving = null;
    if (this.next?.broken) this.next = null;
    if (!this.serving || this.serving.empty) {
      this.serving?.retire();
      this.serving = this.next ?? this.newBatch();
      this.next = null;
    }
    this.next ??= this.newBatch();
    return this.serving;
  }

  retire(): void {
    this.serving?.retire();
    this.next?.retire();
    this.serving = this.next = null;
  }

  get isolates(): number {
    return [this.serving, this.next].filter((b) => b && !b.broken).length;
  }
}

/**
 * Fresh contexts for one kind of call (one app endpoint). Each context serves exactly one call and is
 * then let go, so nothing passes between calls. Contexts are made in batches, each in its own isolate:
 * while calls run in one batch's isolate, the next batch is being made in another, on that isolate's
 * own thread, so calls never queue behind the making of contexts. Calls that overlap go to separate
 * lanes (up to `lanes`, opened as overlapping calls need them), each with its own isolates, so that
 * they run at once on isolated-vm's threads instead of one after another.
 */
export class FreshContextPool {
  private readonly lanes: Lane[] = [];
  private inFlight = 0;
  private disposed = false;
  private idle: NodeJS.Timeout | null = null;
  /** False once the code proved it needs the host while loading: calls then go to fresh isolates (see JsEngine.prepareAhead). */
  evaluateAhead = true;

  constructor(
    private readonly heapMiB: number,
    private readonly prepare: (isolate: ivm.Isolate) => Promise<Prepared>,
    private readonly idleMs = IDLE_MS,
    private readonly maxLanes = parallelIsolates(),
  ) {}

  /** Every batch this pool made whose isolate is not gone yet, so that closing can wait for them. */
  private readonly made = new Set<Batch>();

  /** Settles once every isolate this pool made is gone (after dispose, when nothing runs in them). */
  async gone(timeoutMs = 10_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      for (const b of this.made) if (b.gone) this.made.delete(b);
      if (this.made.size === 0 || Date.now() > until) return;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  private newBatch(): Batch {
    const batch = new Batch(this.heapMiB, this.prepare);
    this.made.add(batch);
    return batch;
  }

  /** Isolates alive in this pool (0 after it idled, 2 per lane in use). */
  get isolates(): number {
    return this.lanes.reduce((n, lane) => n + lane.isolates, 0);
  }

  /** The lane with the fewest calls; a new one while every lane is busy and there is room. */
  private laneFor(): Lane {
    let best: Lane | undefined;
    for (const lane of this.lanes) if (!best || lane.inFlight < best.inFlight) best = lane;
    if (best && (best.inFlight === 0 || this.lanes.length >= this.maxLanes)) return best;
    const lane = new Lane(() => this.newBatch());
    this.lanes.push(lane);
    return lane;
  }

  /**
   * Runs `body` with a fresh context bound to `host`. Calls in one lane run one after another, as they
   * would in its isolate anyway: when one breaks the heap limit and takes the isolate down, no other
   * call was inside it.
   */
  use<T>(host: Prepared['binding']['current'], body: (prepared: Prepared) => Promise<T>): Promise<T> {
    // Calls wait their turn here; past a bound they are refused at once, so that requests whose clients
    // have gone cannot pile up without end behind a slow handler.
    if (this.inFlight >= MAX_WAITING) {
      return Promise.reject(new TesseraError('unavailable', `this endpoint has ${MAX_WAITING} calls waiting; retry after 1 s`, { retryAfterSeconds: 1 }));
    }
    this.inFlight++;
    if (this.idle) this.idle.refresh();
    else this.idle = setTimeout(() => this.idleFor(), this.idleMs).unref();
    const lane = this.laneFor();
    lane.inFlight++;
    const turn = lane.queue.then(async () => {
      if (this.disposed) throw new PoolDisposed();
      const batch = lane.take();
      try {
        const prepared = await batch.take();
        prepared.binding.current = host;
        try {
          return await body(prepared);
        } finally {
          if (!prepared.isolate.isDisposed) prepared.release();
        }
      } finally {
        batch.done();
      }
    });
    lane.queue = turn
      .catch(() => undefined)
      .finally(() => {
        lane.inFlight--;
        this.inFlight--;
      });
    return turn;
  }

  private idleFor(): void {
    if (this.inFlight > 0) {
      this.idle?.refresh();
      return;
    }
    this.idle = null;
    this.retireLanes();
  }

  /** No more calls: a call still waiting for its turn runs elsewhere (PoolDisposed), never in a new batch here. */
  dispose(): void {
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
    this.disposed = true;
    this.retireLanes();
  }

  private retireLanes(): void {
    for (const lane of this.lanes.splice(0)) lane.retire();
  }
}

/** A call that reached a pool after it was disposed (a deployment, or eviction): it runs elsewhere. */
export class PoolDisposed extends Error {}

/** Pools by key, least recently used disposed first. */
export class FreshPools {
  private readonly pools = new Map<string, FreshContextPool>();
  constructor(
    private readonly max = 10,
    private readonly idleMs = IDLE_MS,
    /** Lanes each pool may open for overlapping calls. */
    private readonly lanes = parallelIsolates(),
  ) {}

  /** The pool for `key`, made with `heapMiB` and `prepare` if there is none. */
  get(key: string, heapMiB: number, prepare: (isolate: ivm.Isolate) => Promise<Prepared>): FreshContextPool {
    let pool = this.pools.get(key);
    if (pool) this.pools.delete(key);
    else pool = new FreshContextPool(heapMiB, prepare, this.idleMs, this.lanes);
    this.pools.set(key, pool);
    while (this.pools.size > this.max) {
      const [oldest, old] = this.pools.entries().next().value as [string, FreshContextPool];
      old.dispose();
      this.pools.delete(oldest);
    }
    return pool;
  }

  clear(): void {
    for (const pool of this.pools.values()) pool.dispose();
    this.pools.clear();
  }

  /**
   * Disposes every pool and waits until their isolates are gone. A process must not exit while
   * contexts are still being made in an isolate: isolated-vm aborts it (`IsolateEnvironment::GetCurrent`).
   */
  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.clear();
    await Promise.all(pools.map((p) => p.gone()));
  }

  get size(): number {
    return this.pools.size;
  }
}
