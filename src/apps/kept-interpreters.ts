import { TesseraError } from '../errors/index.js';
import { parallelIsolates } from '../sandbox/js/fresh-pool.js';

// interpreter_reuse keeps interpreters, with their globals, between requests. CCF 7 keeps one per key for
// the whole node (src/js/interpreter_cache.h) and locks it for each request (src/js/registry.cpp), so the
// requests of a key run one after another on whatever worker threads they arrive; its documentation
// (doc/build_apps/js_app_bundle.rst) promises no more than best-effort reuse and names parallelisation as
// a reason to make others. Here a key has a small pool of kept interpreters instead: up to `perKey`, each
// held by one request at a time (issue 16: a kept interpreter is bound to the request running in it, and
// the next one waits until that call has settled), so no request's host calls ever reach another's
// transaction, while requests of one key run at once on isolated-vm's threads. perKey = 1 is CCF's shape.

/** A place for one kept interpreter: empty until its first holder makes the interpreter in it. */
export interface Slot<I> {
  interpreter?: I;
}

/** The most requests that wait for a key's interpreters; more get 503 (as for an endpoint's fresh contexts). */
export const MAX_WAITING = 256;

/**
 * Kept interpreters per key when the node's config leaves it to Tessera: as many as isolated-vm can run at
 * once (cores + 1), at most 4. More than the cores help: while one interpreter waits for a host call
 * answered on the node's thread, another runs (measured on 2 cores: 4 per key served ~1.4x what 2 did).
 */
export const defaultInterpretersPerKey = parallelIsolates;

interface KeyPool<I> {
  /** Slots made for this key (idle, held, or being made), at most perKey. */
  count: number;
  /** Slots free to take, the most recently used last (so a lightly loaded key keeps using one, warm). */
  idle: Array<Slot<I>>;
  /** Requests waiting for a slot, in order of arrival. */
  waiting: Array<(slot: Slot<I>) => void>;
  /** Evicted or cleared: slots are let go as they come back, none is made any more. */
  retired: boolean;
}

/**
 * Kept interpreters by reuse key, least recently used key evicted first (CCF's max_cached_interpreters
 * counts keys per thread). `run(key, work)` gives `work` a slot of `key` that nobody else holds until
 * `work` settles; the slot's interpreter, if `work` leaves a live one in it, serves later requests.
 */
export class KeptInterpreters<I> {
  private readonly pools = new Map<string, KeyPool<I>>();

  constructor(
    /** Lets an interpreter go (its isolate is disposed). */
    private readonly dispose: (interpreter: I) => void,
    /** Whether an interpreter still works (an isolate that hit its heap limit is gone). */
    private readonly alive: (interpreter: I) => boolean,
    readonly perKey = defaultInterpretersPerKey(),
    private readonly maxKeys = 10,
  ) {
    if (!Number.isInteger(perKey) || perKey < 1) throw new RangeError(`interpreters per key must be a positive whole number, not ${perKey}`);
  }

  async run<T>(key: string, work: (slot: Slot<I>) => Promise<T>): Promise<T> {
    const pool = this.poolFor(key);
    const slot = await this.take(pool);
    try {
      return await work(slot);
    } finally {
      this.give(pool, slot);
    }
  }

  private poolFor(key: string): KeyPool<I> {
    let pool = this.pools.get(key);
    if (pool) this.pools.delete(key); // re-inserted below: the map's order is the order of use
    else pool = { count: 0, idle: [], waiting: [], retired: false };
    this.pools.set(key, pool);
    while (this.pools.size > this.maxKeys) {
      const [oldest, old] = this.pools.entries().next().value as [string, KeyPool<I>];
      this.pools.delete(oldest);
      this.retire(old);
    }
    return pool;
  }

  private take(pool: KeyPool<I>): Promise<Slot<I>> | Slot<I> {
    const idle = pool.idle.pop();
    if (idle) return idle;
    if (pool.count < this.perKey) {
      pool.count++;
      return {};
    }
    if (pool.waiting.length >= MAX_WAITING) {
      throw new TesseraError('unavailable', `this endpoint's interpreters have ${MAX_WAITING} calls waiting; retry after 1 s`, { retryAfterSeconds: 1 });
    }
    return new Promise<Slot<I>>((resume) => pool.waiting.push(resume));
  }

  /** The slot passes straight to the next in line, so a request arriving meanwhile queues behind it. */
  private give(pool: KeyPool<I>, slot: Slot<I>): void {
    if (slot.interpreter !== undefined && !this.alive(slot.interpreter)) {
      this.dispose(slot.interpreter);
      slot.interpreter = undefined;
    }
    const next = pool.waiting.shift();
    if (next) {
      // A broken or never-made interpreter leaves an empty slot: the next holder makes a new one in it.
      next(slot);
      return;
    }
    if (pool.retired || slot.interpreter === undefined) {
      if (slot.interpreter !== undefined) this.dispose(slot.interpreter);
      pool.count--;
      return;
    }
    pool.idle.push(slot);
  }

  /** Idle interpreters go now; held ones when their holder (and whoever waits for them) is done. */
  private retire(pool: KeyPool<I>): void {
    pool.retired = true;
    for (const slot of pool.idle.splice(0)) {
      if (slot.interpreter !== undefined) this.dispose(slot.interpreter);
      pool.count--;
    }
  }

  /** Every key goes (a deployment, or the node stopping). */
  clear(): void {
    for (const pool of this.pools.values()) this.retire(pool);
    this.pools.clear();
  }

  /** Keys kept (tests). */
  get size(): number {
    return this.pools.size;
  }

  /** Interpreters made or being made for `key` (tests). */
  interpreters(key: string): number {
    return this.pools.get(key)?.count ?? 0;
  }
}
