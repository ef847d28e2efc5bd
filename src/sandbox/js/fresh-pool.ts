import ivm from 'isolated-vm';
import type { Prepared } from './engine.js';

/** How many fresh contexts are kept made ahead of need in each pool. */
const AHEAD = 2;
/**
 * How many contexts one isolate makes before the pool moves to a new one. isolated-vm keeps each
 * instantiated module's record until its isolate goes (laverdet/isolated-vm#247), about 40 KiB per
 * context here, so an isolate that made contexts forever would reach its heap limit; 64 keeps that
 * residue under 3 MiB of the handler's heap and pays for a new isolate (~1 ms) once per 64 calls.
 */
const CONTEXTS_PER_ISOLATE = 64;

/** One isolate of the pool, disposed once retired and all its contexts are done with. */
class PoolIsolate {
  readonly isolate: ivm.Isolate;
  made = 0;
  outstanding = 0;
  retired = false;
  constructor(heapMiB: number) {
    this.isolate = new ivm.Isolate({ memoryLimit: Math.max(8, heapMiB) });
  }
  done(): void {
    this.outstanding--;
    if (this.retired && this.outstanding === 0) this.dispose();
  }
  dispose(): void {
    if (!this.isolate.isDisposed) this.isolate.dispose();
  }
}

/**
 * Fresh contexts for one kind of call (one app endpoint), made ahead of need in one shared isolate.
 * Each context serves exactly one call and is then let go, so nothing passes between calls; making the
 * next one happens on the isolate's thread while the node serves other requests.
 */
export class FreshContextPool {
  private current: PoolIsolate | null = null;
  private ready: Array<{ owner: PoolIsolate; made: Promise<Prepared> }> = [];
  private queue: Promise<unknown> = Promise.resolve();
  /** False once the code proved it needs the host while loading: calls then go to fresh isolates (see JsEngine.prepareAhead). */
  evaluateAhead = true;

  constructor(
    private readonly heapMiB: number,
    private readonly prepare: (isolate: ivm.Isolate) => Promise<Prepared>,
  ) {}

  /**
   * Runs `body` with a fresh context bound to `host`. Calls run one after another, as they would in the
   * isolate anyway: when one breaks the heap limit and takes the isolate down, no other call was inside it.
   */
  use<T>(host: Prepared['binding']['current'], body: (prepared: Prepared) => Promise<T>): Promise<T> {
    const turn = this.queue.then(async () => {
      this.fill();
      const { owner, made } = this.ready.shift()!;
      this.fill();
      try {
        const prepared = await made;
        prepared.binding.current = host;
        try {
          return await body(prepared);
        } finally {
          if (!prepared.isolate.isDisposed) prepared.release();
        }
      } finally {
        owner.done();
      }
    });
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  dispose(): void {
    for (const { owner } of this.ready) owner.dispose();
    this.current?.dispose();
    this.current = null;
    this.ready = [];
  }

  private fill(): void {
    if (this.current?.isolate.isDisposed) {
      // A call broke the heap limit: every context made in that isolate went with it.
      this.ready = this.ready.filter(({ owner }) => owner !== this.current);
      this.current = null;
    }
    while (this.ready.length < AHEAD) {
      if (!this.current || this.current.made >= CONTEXTS_PER_ISOLATE) {
        if (this.current) {
          this.current.retired = true;
          if (this.current.outstanding === 0) this.current.dispose();
        }
        this.current = new PoolIsolate(this.heapMiB);
      }
      const owner = this.current;
      owner.made++;
      owner.outstanding++;
      const made = this.prepare(owner.isolate);
      made.catch(() => undefined); // the call that takes this context gets the failure
      this.ready.push({ owner, made });
    }
  }
}

/** Pools by key, least recently used disposed first. */
export class FreshPools {
  private readonly pools = new Map<string, FreshContextPool>();
  constructor(private readonly max = 10) {}

  get(key: string, create: () => FreshContextPool): FreshContextPool {
    let pool = this.pools.get(key);
    if (pool) this.pools.delete(key);
    else pool = create();
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

  get size(): number {
    return this.pools.size;
  }
}
