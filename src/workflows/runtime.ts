import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { TesseraError } from '../errors/index.js';
import type { ReadTx, Store } from '../store/types.js';
import { type CallRet, FunctionInstance, type InstanceLimits, InstanceTrap } from './instance.js';
import { type MemoryBudget, UNLIMITED } from '../sandbox/memory-budget.js';
import { Slots, Turn } from './slots.js';
import { DANGLING_SPAN, type EventMetadata, WorkflowMetrics, dangling, metadataHex, newRoot } from './telemetry.js';

export type { EventMetadata };

/** Synced state, keyed by the service's state keys (owner, workflow name, function: see WorkflowService.stateKey). */
export const STATE = 'workflows.state';
const ERR: CallRet = { type: 2, data: null };
const strict = new TextDecoder('utf-8', { fatal: true });
const ab = (b: Buffer) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
const uuidBytes = (id: string) => Buffer.from(id.replaceAll('-', ''), 'hex');
const uuidOf = (b: ArrayBuffer) => Buffer.from(b).toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');
/** Log lines a guest writes are cut here: the host holds no more than this for one line. */
const MAX_LOG_CHARS = 16 * 1024;
/** Delayed casts one instance may have pending at once. */
const MAX_TIMERS = 10_000;

/** Host functions take exactly the types they document: bytes arrive as ArrayBuffers (boundary copies). */
function bytes(b: unknown, what: string): ArrayBuffer {
  if (!(b instanceof ArrayBuffer)) throw new TypeError(`${what} must be bytes`);
  return b;
}

function text(b: unknown, what: string): string {
  try {
    return strict.decode(bytes(b, what));
  } catch (err) {
    if (err instanceof TypeError && /must be bytes/.test(err.message)) throw err;
    throw new TypeError(`${what} is not valid UTF-8`);
  }
}

/** The node and component ids of an event's source (`node/component`, or the node alone for casts from outside). */
function sourceIds(src: string): { node: Buffer; component: Buffer } {
  const [node, component = node] = src.split('/');
  return { node: uuidBytes(node), component: uuidBytes(component) };
}

function uuidArg(b: unknown, what: string): ArrayBuffer {
  if (bytes(b, what).byteLength !== 16) throw new TypeError(`${what} must be 16 bytes`);
  return b as ArrayBuffer;
}

export interface InstanceSpec {
  workflowId: string;
  name: string;
  kind: 'js' | 'wasm';
  code: Buffer;
  initPayload: string | null;
  /** Where `sync` stores state; null for Transient. */
  stateKey: string | null;
  /** Overrides of the runtime's default limits (from the function's annotations). */
  limits?: Partial<InstanceLimits>;
  /**
   * Read in `sync`'s transaction: the state is written only while this holds (the workflow's record is
   * still stored). A workflow whose owner was removed in another process may sync before this node stops
   * it; its write is then dropped, never put back under a key a new user of the name would read.
   */
  syncWhile?: (tx: ReadTx) => boolean;
}

/** A resource target an alias may point at (see resources/). */
/** Who sent an event: EDGELESS's InstanceId (node id, component id), as UUID strings. */
export interface EventSource {
  node: string;
  component: string;
}

/**
 * What an alias mapped to a resource reaches. `meta` is the event's EventMetadata (the trace it belongs
 * to): a resource that casts on because of this event passes it on, and a reply belongs to the same trace.
 */
export interface ResourceTarget {
  cast(payload: string, source: EventSource, meta?: EventMetadata): void;
  call(payload: string, source: EventSource, meta?: EventMetadata): CallRet | Promise<CallRet>;
  /** Ends the resource's timers and connections; after the functions' handle_stop, which may still use it. */
  stop?(): void | Promise<void>;
}

interface Running {
  id: string;
  spec: InstanceSpec;
  instance: FunctionInstance;
  mappings: Map<string, string>;
  /** Queued casts, each with its EventMetadata and when it was sent (performance.now(), for transfer_times). */
  queue: Array<{ src: string; payload: Buffer; meta: EventMetadata; sent: number; done?: (handled: boolean) => void }>;
  /** The metadata of the event being handled, which every cast and call the instance makes carries; null between events. */
  current: EventMetadata | null;
  /** The trace of the running handle_init or handle_stop, for what it casts or calls (no event is current then). */
  danglingTrace: Buffer;
  /** Counted in function_count: between FunctionInstantiate and FunctionExit. */
  live: boolean;
  turn: Turn;
  pumping: boolean;
  /** The instances on the call path of what this instance runs now (itself last); null when idle. */
  path: string[] | null;
  restarts: number[];
  failed: boolean;
  stopped: boolean;
  timers: Set<NodeJS.Timeout>;
  /** Bytes the host holds on this instance's behalf: its queued events and its pending delayed casts. */
  held: number;
  events: number;
  /** Events handled and the time they took, for the owner's view (GET /v1/workflows/:id); /metrics has the histograms. */
  handled: { count: number; totalMs: number; lastMs: number };
  /** Gives back the instance's share of the node's sandbox memory budget. */
  release: () => void;
}

export interface RuntimeOptions {
  store: Store;
  logger: Logger;
  limits: InstanceLimits;
  /** A call not answered in this time returns Err to the caller (EDGELESS has no timeout). */
  callTimeoutMs: number;
  /** At most this many restarts after traps per instance per minute; then the instance is stopped. */
  maxRestartsPerMinute: number;
  /** Events running at once across all instances (isolate threads in use). */
  threads: number;
  /** The node's sandbox memory budget: each instance reserves its heap and its WebAssembly allowance for its life. */
  budget?: MemoryBudget;
  /** The node's stable UUID (EDGELESS's node_id: slf(), source ids, node_id_match_any); random when left out. */
  nodeId?: string;
  /**
   * In a cluster: where delayed casts go instead of this node's timers (the work queue), so that one still
   * fires if this node dies before it is due, on the node the workflow moves to. `target` is the function's
   * or resource's name in the workflow.
   */
  durableDelayedCast?: (cast: { workflowId: string; target: string; payload: Buffer; delayMs: number }) => void;
}

/**
 * The EDGELESS dataplane on one node. Each instance has its own isolate and handles one event at a time
 * from its FIFO queue, on an isolate thread; different instances run at once, up to `threads` events.
 * The node's event loop only dispatches and awaits, so a guest that computes for minutes delays nobody
 * but the events queued behind it. A call blocks the caller's isolate thread until the callee, run in
 * its own isolate, replies; a call into an instance already on the call path is a cycle and returns Err.
 */
export class WorkflowRuntime {
  readonly nodeId: string;
  private readonly instances = new Map<string, Running>();
  /** workflow id → logical name → instance id or resource */
  private readonly names = new Map<string, Map<string, string | ResourceTarget>>();
  private readonly slots: Slots;
  readonly stats = { casts: 0, calls: 0, dropped: 0, restarts: 0 };
  /** What runs at close (the service's watcher stops). */
  private readonly closers: Array<() => void> = [];
  /** EDGELESS's Prometheus metrics for this node's instances (GET /metrics). */
  readonly metrics = new WorkflowMetrics();

  /** Instances, events queued on them, and isolate threads busy or awaited, for the node's metrics. */
  get usage() {
    let queued = 0;
    for (const r of this.instances.values()) queued += r.queue.length;
    return { instances: this.instances.size, queuedEvents: queued, threads: this.slots.size, threadsBusy: this.slots.inUse, waitingForThread: this.slots.waitingCount };
  }

  constructor(private readonly opts: RuntimeOptions) {
    this.nodeId = opts.nodeId ?? randomUUID();
    this.slots = new Slots(opts.threads);
  }

  /** Starts an instance and loads its code; it is initialised by `init` once the workflow's mappings are installed. */
  async spawn(spec: InstanceSpec): Promise<string> {
    const id = randomUUID();
    const limits = { ...this.opts.limits, ...spec.limits };
    const release = (this.opts.budget ?? UNLIMITED).reserveNow(limits.heapMiB * 2, `function '${spec.name}'`);
    const running: Running = { id, spec, instance: undefined as never, mappings: new Map(), queue: [], current: null, danglingTrace: randomBytes(16), live: false, turn: new Turn(), pumping: false, path: null, restarts: [], failed: false, stopped: false, timers: new Set(), held: 0, events: 0, handled: { count: 0, totalMs: 0, lastMs: 0 }, release };
    running.instance = new FunctionInstance(spec.kind, spec.code, this.hostFor(running), this.blockingFor(running), limits);
    const started = performance.now();
    try {
      await running.instance.load();
    } catch (err) {
      this.retire(running);
      throw err;
    }
    this.instantiated(running, started);
    this.instances.set(id, running);
    let names = this.names.get(spec.workflowId);
    if (!names) this.names.set(spec.workflowId, (names = new Map()));
    names.set(spec.name, id);
    return id;
  }

  addResource(workflowId: string, name: string, target: ResourceTarget) {
    let names = this.names.get(workflowId);
    if (!names) this.names.set(workflowId, (names = new Map()));
    names.set(name, target);
  }

  /** Replaces an instance's whole output mapping atomically (EDGELESS patch). */
  patch(id: string, mappings: Record<string, string>) {
    const r = this.mustGet(id);
    r.mappings = new Map(Object.entries(mappings));
  }

  storedState(key: string | null): string | null {
    return key ? (this.opts.store.read((tx) => tx.get<string>(STATE, key)) ?? null) : null;
  }

  async init(id: string): Promise<void> {
    const r = this.mustGet(id);
    const release = await r.turn.take('cast');
    try {
      r.path = [r.id];
      await this.guard(r, () => this.initialise(r), 'init');
    } finally {
      r.path = null;
      release();
    }
    void this.pump(r);
  }

  /**
   * Stops a workflow's instances: pending delayed casts are dropped, an idle instance gets its
   * handle_stop, and one still busy with an event is stopped where it is (its isolate disposed), so a
   * stop never waits for a long event.
   */
  async stopWorkflow(workflowId: string): Promise<void> {
    const stopping: Promise<void>[] = [];
    for (const [id, r] of this.instances) {
      if (r.spec.workflowId !== workflowId) continue;
      r.stopped = true;
      for (const t of r.timers) clearTimeout(t);
      r.timers.clear();
      for (const e of r.queue) e.done?.(false);
      r.queue = [];
      r.held = 0;
      this.instances.delete(id);
      if (r.failed || r.turn.busy) {
        this.exited(r, 'Ok');
        this.retire(r);
        continue;
      }
      stopping.push(
        (async () => {
          const release = await r.turn.take('call');
          try {
            r.danglingTrace = randomBytes(16);
            const started = performance.now();
            const ok = await this.guard(r, () => r.instance.stop().then(() => true), 'stop', false);
            if (ok) this.lifecycle(r, 'info', 'FunctionStop', 'function instance stopped', { duration_ms: elapsedMs(started) });
            this.exited(r, 'Ok');
          } finally {
            release();
            this.retire(r);
          }
        })(),
      );
    }
    const names = this.names.get(workflowId);
    // Resources stay reachable until every handle_stop has run: a function may still use them there
    // (EDGELESS's sqlx_test DELETEs its row at stop).
    await Promise.all(stopping);
    this.names.delete(workflowId);
    await this.stopResources(names);
  }

  private async stopResources(names: Map<string, string | ResourceTarget> | undefined): Promise<void> {
    for (const [name, target] of names ?? []) {
      if (typeof target === 'string' || !target.stop) continue;
      try {
        await target.stop();
      } catch (err) {
        this.opts.logger.warn({ resource: name, err: (err as Error).message }, 'a resource did not stop cleanly');
      }
    }
  }

  /** Runs `fn` when the runtime closes. */
  onClose(fn: () => void): void {
    this.closers.push(fn);
  }

  /** At node shutdown: every instance stops where it is (state is what it last synced). */
  close(): void {
    for (const fn of this.closers.splice(0)) fn();
    for (const r of this.instances.values()) {
      r.stopped = true;
      for (const t of r.timers) clearTimeout(t);
      // Queued events that a cluster waits on go back to the work queue for the node the workflow moves to.
      for (const e of r.queue) e.done?.(false);
      r.queue = [];
      this.exited(r, 'Ok');
      this.retire(r);
    }
    this.instances.clear();
    for (const names of this.names.values()) void this.stopResources(names);
    this.names.clear();
  }

  inspect(workflowId: string) {
    return [...this.instances.values()]
      .filter((r) => r.spec.workflowId === workflowId)
      .map((r) => ({ name: r.spec.name, instance_id: r.id, kind: r.spec.kind, events: r.events, queued: r.queue.length, busy: r.turn.busy, restarts: r.restarts.length, failed: r.failed, outputs: Object.fromEntries(r.mappings), handled: r.handled.count, handled_ms_total: Math.round(r.handled.totalMs * 1000) / 1000, last_handled_ms: Math.round(r.handled.lastMs * 1000) / 1000 }));
  }

  /**
   * Delivers a cast from outside (a resource, or a test) to a workflow's function or resource; `from` is the
   * sending resource's component id (the node's own id when left out). `done` hears whether it was handled.
   */
  castTo(workflowId: string, name: string, payload: string | Buffer, from: string = this.nodeId, meta: EventMetadata = newRoot(), done?: (handled: boolean) => void) {
    const target = this.names.get(workflowId)?.get(name);
    if (target === undefined) throw new TesseraError('not_found', `workflow ${workflowId} has no function or resource '${name}'`);
    if (typeof target !== 'string') {
      target.cast(typeof payload === 'string' ? payload : payload.toString('utf8'), { node: this.nodeId, component: from }, meta);
      return done?.(true);
    }
    this.enqueue(target, from === this.nodeId ? this.nodeId : `${this.nodeId}/${from}`, typeof payload === 'string' ? Buffer.from(payload) : payload, meta, done);
  }

  /**
   * castTo, settling once the event is handled (true) or dropped (false: the instance failed, was stopped,
   * or its queue was full). A cluster acknowledges a queued event only then (service.ts, at least once).
   */
  castAndWait(workflowId: string, name: string, payload: string | Buffer): Promise<boolean> {
    return new Promise((resolve) => this.castTo(workflowId, name, payload, this.nodeId, newRoot(), resolve));
  }

  /** A call from outside, e.g. http-ingress: a new event, so a new trace unless `meta` says otherwise. */
  async callTo(workflowId: string, name: string, payload: string, meta: EventMetadata = newRoot()): Promise<CallRet> {
    const target = this.names.get(workflowId)?.get(name);
    if (target === undefined) return ERR;
    if (typeof target !== 'string') return target.call(payload, { node: this.nodeId, component: this.nodeId }, meta);
    return this.invokeCall(this.instances.get(target), null, this.nodeId, Buffer.from(payload), meta);
  }

  /** handle_init with the function's init payload and the instance's last synced state. */
  private async initialise(r: Running): Promise<void> {
    const state = this.storedState(r.spec.stateKey);
    r.danglingTrace = randomBytes(16);
    const started = performance.now();
    await r.instance.init(r.spec.initPayload ? Buffer.from(r.spec.initPayload) : null, state !== null ? Buffer.from(state) : null);
    this.lifecycle(r, 'info', 'FunctionInit', 'function instance initialised', { duration_ms: elapsedMs(started) });
  }

  /** Frees an instance for good: its isolate, its share of the memory budget, and its metrics' series. */
  private retire(r: Running): void {
    r.instance.dispose();
    r.release();
    this.metrics.forget(r.id);
  }

  /** EDGELESS's FUNCTION_TYPE tag: RUST_WASM, or JS for Tessera's JS functions. */
  private functionType(r: Running): string {
    return r.spec.kind === 'wasm' ? 'RUST_WASM' : 'JS';
  }

  /**
   * A lifecycle line (EDGELESS's TelemetryEvent, named in `event`): instance-wide ones at info, the
   * per-event ones (FunctionInvocationCompleted, FunctionTransfer) at debug so a busy node does not flood
   * its log with them; the metrics count every event whatever the log level.
   */
  private lifecycle(r: Running, level: 'info' | 'debug' | 'warn' | 'error', event: string, message: string, fields: Record<string, unknown> = {}) {
    const logger = this.opts.logger;
    if (!logger.isLevelEnabled(level)) return;
    logger[level]({ event, workflow: r.spec.workflowId, function: r.spec.name, function_id: r.id, function_type: this.functionType(r), node_id: this.nodeId, ...fields }, message);
  }

  /** FunctionInstantiate: the instance's code is loaded (at spawn, and again on a restart). */
  private instantiated(r: Running, started: number, fields: Record<string, unknown> = {}) {
    if (!r.live) this.metrics.functionCount({ node_id: this.nodeId, function_type: this.functionType(r) }, 1);
    r.live = true;
    this.lifecycle(r, 'info', 'FunctionInstantiate', 'function instance started', { duration_ms: elapsedMs(started), ...fields });
  }

  /** FunctionExit, once per instantiation: Ok when stopped, CodeError when its code trapped, InternalError when the host failed it. */
  private exited(r: Running, status: 'Ok' | 'CodeError' | 'InternalError', fields: Record<string, unknown> = {}) {
    if (!r.live) return;
    r.live = false;
    this.metrics.functionCount({ node_id: this.nodeId, function_type: this.functionType(r) }, -1);
    this.lifecycle(r, status === 'Ok' ? 'info' : 'warn', 'FunctionExit', 'function instance exited', { status, ...fields });
  }

  /** FunctionTransfer: from an event's sending to its handling starting. */
  private transferred(r: Running, sent: number) {
    const ms = elapsedMs(sent);
    this.metrics.transferTime({ node_id: this.nodeId, function_id: r.id }, ms / 1000);
    this.lifecycle(r, 'debug', 'FunctionTransfer', 'event received', { duration_ms: ms, ...this.traceFields(r) });
  }

  /** FunctionInvocationCompleted, EVENT_TYPE CAST or CALL: one event handled without a trap. */
  private completed(r: Running, kind: 'CAST' | 'CALL', started: number) {
    const ms = elapsedMs(started);
    r.handled.count++;
    r.handled.totalMs += ms;
    r.handled.lastMs = ms;
    this.metrics.executionTime({ node_id: this.nodeId, function_id: r.id, function_type: this.functionType(r), invocation_type: kind === 'CAST' ? 'Cast' : 'Call' }, ms / 1000);
    this.lifecycle(r, 'debug', 'FunctionInvocationCompleted', 'event handled', { event_type: kind, duration_ms: ms, ...this.traceFields(r) });
  }

  private traceFields(r: Running): Record<string, string> {
    return r.current ? metadataHex(r.current) : {};
  }

  /** What a host call of kind `kind` made now carries: the current event's metadata, unchanged (as EDGELESS). */
  private metaFor(r: Running, kind: keyof typeof DANGLING_SPAN): EventMetadata {
    return r.current ?? dangling(r.danglingTrace, DANGLING_SPAN[kind]);
  }

  private mustGet(id: string): Running {
    const r = this.instances.get(id);
    if (!r) throw new TesseraError('not_found', `no instance ${id}`);
    return r;
  }

  private resolve(r: Running, alias: string): string | ResourceTarget | undefined {
    if (alias === 'self') return r.id;
    const name = r.mappings.get(alias);
    return name === undefined ? undefined : this.names.get(r.spec.workflowId)?.get(name);
  }

  private log(r: Running, level: number, target: string, message: string) {
    const method = level === 2 ? 'warn' : level === 3 ? 'info' : level === 4 || level === 5 ? 'debug' : 'error';
    const line = message.length > MAX_LOG_CHARS ? `${message.slice(0, MAX_LOG_CHARS)}… (${message.length - MAX_LOG_CHARS} more characters cut)` : message;
    this.opts.logger[method]({ workflow: r.spec.workflowId, function: r.spec.name, target: target.slice(0, 200), ...this.traceFields(r) }, line);
  }

  /** Bytes the host may hold for one instance: as much as its heap allowance. */
  private budget(r: Running): number {
    return r.instance.limits.heapMiB * 1024 * 1024;
  }

  private enqueue(targetId: string, src: string, payload: Buffer, meta: EventMetadata, done?: (handled: boolean) => void) {
    const target = this.instances.get(targetId);
    if (!target || target.failed || target.stopped) {
      this.stats.dropped++;
      done?.(false);
      return;
    }
    if (target.held + payload.length > this.budget(target)) {
      this.stats.dropped++;
      this.log(target, 2, 'tessera', `event dropped: the instance's queue already holds ${target.held} bytes, its allowance is ${this.budget(target)}`);
      done?.(false);
      return;
    }
    target.queue.push({ src, payload, meta, sent: performance.now(), done });
    target.held += payload.length;
    this.stats.casts++;
    void this.pump(target);
  }

  /** Runs an instance's queued casts one at a time, each on an isolate thread once one of the runtime's slots is free. */
  private async pump(r: Running): Promise<void> {
    if (r.pumping) return;
    r.pumping = true;
    try {
      while (r.queue.length > 0 && !r.failed && !r.stopped) {
        const releaseSlot = await this.slots.acquire();
        const releaseTurn = await r.turn.take('cast');
        try {
          const event = r.queue.shift();
          if (!event || r.failed || r.stopped) {
            event?.done?.(false);
            continue;
          }
          r.held -= event.payload.length;
          r.path = [r.id];
          r.current = event.meta;
          this.transferred(r, event.sent);
          const { node, component } = sourceIds(event.src);
          const started = performance.now();
          const ok = await this.guard(r, () => r.instance.cast(node, component, event.payload).then(() => true), 'cast');
          if (ok) this.completed(r, 'CAST', started);
          r.events++;
          event.done?.(ok === true);
        } finally {
          r.path = null;
          r.current = null;
          releaseTurn();
          releaseSlot();
        }
      }
    } finally {
      r.pumping = false;
    }
  }

  /**
   * A call into `target` on behalf of `caller` (null from outside): Err if it is gone, already on the
   * caller's call path (a cycle), or does not answer within callTimeoutMs. It waits for the target to
   * finish the event it is handling, and runs on the caller's slot.
   */
  private async invokeCall(target: Running | undefined, caller: Running | null, src: string, payload: Buffer, meta: EventMetadata): Promise<CallRet> {
    const sent = performance.now();
    if (!target || target.failed || target.stopped) return ERR;
    const path = caller?.path ?? [];
    if (path.includes(target.id)) {
      this.opts.logger.warn({ workflow: target.spec.workflowId, function: target.spec.name }, 'call into an instance already on this call path (a cycle): Err');
      return ERR;
    }
    let abandoned = false;
    const answer = (async (): Promise<CallRet> => {
      const release = await target.turn.take('call');
      try {
        if (abandoned || target.failed || target.stopped) return ERR;
        target.path = [...path, target.id];
        // The callee handles the call with the caller's metadata; its reply belongs to the same trace.
        target.current = meta;
        this.transferred(target, sent);
        this.stats.calls++;
        const { node, component } = sourceIds(src);
        const started = performance.now();
        const ret = await this.guard(target, () => target.instance.call(node, component, payload), 'call');
        if (ret) this.completed(target, 'CALL', started);
        target.events++;
        return ret ?? ERR;
      } finally {
        target.path = null;
        target.current = null;
        release();
      }
    })();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<CallRet>((resolve) => {
      timer = setTimeout(() => {
        abandoned = true;
        this.log(target, 2, 'tessera', `call not answered within ${this.opts.callTimeoutMs} ms (workflows.call_timeout_ms): Err`);
        resolve(ERR);
      }, this.opts.callTimeoutMs);
    });
    try {
      return await Promise.race([answer, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs guest code; a trap restarts the instance from its last synced state, within the restart budget. */
  private async guard<T>(r: Running, work: () => Promise<T>, what: string, restart = true): Promise<T | undefined> {
    try {
      return await work();
    } catch (err) {
      if (r.stopped) return undefined;
      const message = (err as Error)?.message ?? String(err);
      this.log(r, 1, 'tessera', `${what} trapped: ${message}`);
      // EDGELESS: an error of the guest's code is CodeError, any other InternalError.
      this.exited(r, err instanceof InstanceTrap ? 'CodeError' : 'InternalError', { during: what, error: message.slice(0, 500) });
      if (!restart) return undefined;
      const now = Date.now();
      r.restarts = r.restarts.filter((t) => now - t < 60_000);
      if (r.restarts.length >= this.opts.maxRestartsPerMinute) {
        r.failed = true;
        for (const e of r.queue) e.done?.(false);
        r.queue = [];
        r.held = 0;
        this.retire(r);
        this.log(r, 1, 'tessera', `instance stopped: ${r.restarts.length} restarts in the last minute`);
        return undefined;
      }
      r.restarts.push(now);
      this.stats.restarts++;
      try {
        const started = performance.now();
        await r.instance.load();
        this.instantiated(r, started, { restart: r.restarts.length });
        await this.initialise(r);
      } catch (again) {
        r.failed = true;
        this.exited(r, again instanceof InstanceTrap ? 'CodeError' : 'InternalError', { during: 'restart', error: (again as Error).message.slice(0, 500) });
        this.retire(r);
        this.log(r, 1, 'tessera', `instance could not restart: ${(again as Error).message}`);
      }
      return undefined;
    }
  }

  /** The host API one instance sees (EDGELESS's env imports), except the calls, which block (blockingFor). */
  private hostFor(r: Running) {
    const src = () => `${this.nodeId}/${r.id}`;
    return {
      utf8: (s: unknown) => {
        if (typeof s !== 'string') throw new TypeError('utf8 takes a string');
        return ab(Buffer.from(s, 'utf8'));
      },
      text: (b: unknown) => text(b, 'a payload'),
      uuidBytes: (id: unknown) => {
        if (typeof id !== 'string' || !/^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$/i.test(id)) throw new TypeError('an instance id must be a UUID string');
        return ab(uuidBytes(id));
      },
      cast: (aliasB: unknown, payloadB: unknown) => {
        const alias = text(aliasB, 'the alias');
        const payload = text(payloadB, 'the payload');
        const target = this.resolve(r, alias);
        if (target === undefined) {
          this.stats.dropped++;
          this.log(r, 4, 'tessera', `cast to unmapped alias '${alias}' dropped`);
          return;
        }
        const meta = this.metaFor(r, 'cast');
        if (typeof target === 'string') this.enqueue(target, src(), Buffer.from(payloadB as ArrayBuffer), meta);
        else target.cast(payload, { node: this.nodeId, component: r.id }, meta);
      },
      cast_raw: (node: unknown, component: unknown, payloadB: unknown) => {
        text(payloadB, 'the payload');
        if (uuidOf(uuidArg(node, 'the node id')) !== this.nodeId) {
          this.stats.dropped++;
          return;
        }
        this.enqueue(uuidOf(uuidArg(component, 'the component id')), src(), Buffer.from(payloadB as ArrayBuffer), this.metaFor(r, 'cast_raw'));
      },
      delayed_cast: (ms: unknown, aliasB: unknown, payloadB: unknown) => {
        if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw new TypeError('the delay must be a number of milliseconds');
        const alias = text(aliasB, 'the alias');
        text(payloadB, 'the payload');
        const payload = Buffer.from(payloadB as ArrayBuffer);
        const target = this.resolve(r, alias);
        if (target === undefined) {
          this.stats.dropped++;
          this.log(r, 2, 'tessera', `delayed cast to unmapped alias '${alias}' dropped`);
          return;
        }
        // What a pending delayed cast holds counts against its sender's allowance, so no instance can
        // make the host keep unbounded payloads in timers.
        if (r.timers.size >= MAX_TIMERS) throw new RangeError(`an instance may have at most ${MAX_TIMERS} delayed casts pending`);
        if (r.held + payload.length > this.budget(r)) throw new RangeError(`delayed casts and queued events would hold more than this instance's allowance of ${this.budget(r)} bytes`);
        const durable = this.opts.durableDelayedCast;
        if (durable) {
          // Counted against the instance's pending delayed casts and its allowance until due, as a timer
          // would be (checked above), though the payload waits in the queue, not in this node's memory.
          r.held += payload.length;
          const slot = setTimeout(() => {
            r.timers.delete(slot);
            r.held -= payload.length;
          }, Math.min(ms, 2 ** 31 - 1));
          r.timers.add(slot);
          const name = alias === 'self' ? r.spec.name : r.mappings.get(alias)!;
          durable({ workflowId: r.spec.workflowId, target: name, payload, delayMs: ms });
          return;
        }
        r.held += payload.length;
        // The metadata is the one current when the delayed cast is made, not when it fires (as EDGELESS).
        const meta = this.metaFor(r, 'delayed_cast');
        const timer = setTimeout(() => {
          r.timers.delete(timer);
          r.held -= payload.length;
          if (r.stopped) return;
          if (typeof target === 'string') this.enqueue(target, src(), payload, meta);
          else target.cast(payload.toString('utf8'), { node: this.nodeId, component: r.id }, meta);
        }, Math.min(ms, 2 ** 31 - 1));
        r.timers.add(timer);
      },
      // EDGELESS maps a level outside 1..5 to Error. A null target (JS's two-argument form) is the function's name.
      telemetry_log: (level: unknown, targetB: unknown, messageB: unknown) => this.log(r, typeof level === 'number' ? level : 1, targetB === null ? r.spec.name : text(targetB, 'the log target'), text(messageB, 'the log message')),
      /** Tessera addition: the current event's trace and span ids (bytes), or null between events. */
      metadata: () => (r.current ? { trace: ab(r.current.trace), span: ab(r.current.span) } : null),
      slf: () => ({ node: ab(uuidBytes(this.nodeId)), component: ab(uuidBytes(r.id)) }),
      sync: (stateB: unknown) => {
        const state = text(stateB, 'the state');
        if (!r.spec.stateKey || r.stopped) return;
        const { syncWhile } = r.spec;
        this.opts.store.transact((tx) => {
          if (syncWhile && !syncWhile(tx)) return;
          tx.put(STATE, r.spec.stateKey!, state);
        });
      },
    };
  }

  /** The calls: each blocks the calling instance's thread until the callee replies, never the node's. */
  private blockingFor(r: Running) {
    const src = () => `${this.nodeId}/${r.id}`;
    return {
      call: async (aliasB: unknown, payloadB: unknown): Promise<CallRet> => {
        const alias = text(aliasB, 'the alias');
        const payload = text(payloadB, 'the payload');
        const target = this.resolve(r, alias);
        // EDGELESS traps the caller here; Tessera returns Err and keeps the instance (docs/workflows.md).
        if (target === undefined) {
          this.log(r, 2, 'tessera', `call to unmapped alias '${alias}': Err`);
          return ERR;
        }
        const meta = this.metaFor(r, 'call');
        if (typeof target !== 'string') return target.call(payload, { node: this.nodeId, component: r.id }, meta);
        return this.invokeCall(this.instances.get(target), r, src(), Buffer.from(payloadB as ArrayBuffer), meta);
      },
      call_raw: async (node: unknown, component: unknown, payloadB: unknown): Promise<CallRet> => {
        text(payloadB, 'the payload');
        if (uuidOf(uuidArg(node, 'the node id')) !== this.nodeId) return ERR;
        return this.invokeCall(this.instances.get(uuidOf(uuidArg(component, 'the component id'))), r, src(), Buffer.from(payloadB as ArrayBuffer), this.metaFor(r, 'call'));
      },
    };
  }
}

const elapsedMs = (since: number) => Math.round((performance.now() - since) * 1000) / 1000;
