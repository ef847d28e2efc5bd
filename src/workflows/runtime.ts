import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { TesseraError } from '../errors/index.js';
import type { Store } from '../store/types.js';
import { type CallRet, FunctionInstance, type InstanceLimits, WorkflowIsolate } from './instance.js';

const STATE = 'workflows.state';
const strict = new TextDecoder('utf-8', { fatal: true });
const ab = (b: Buffer) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
const uuidBytes = (id: string) => Buffer.from(id.replaceAll('-', ''), 'hex');
const uuidOf = (b: ArrayBuffer) => Buffer.from(b).toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');

function text(b: ArrayBuffer, what: string): string {
  try {
    return strict.decode(b);
  } catch {
    throw new TypeError(`${what} is not valid UTF-8`);
  }
}

export interface InstanceSpec {
  workflowId: string;
  name: string;
  kind: 'js' | 'wasm';
  code: Buffer;
  initPayload: string | null;
  /** Where `sync` stores state; null for Transient. */
  stateKey: string | null;
}

/** A resource target an alias may point at (http-egress, or anything a host adds). */
export interface ResourceTarget {
  cast(payload: string): void;
  call(payload: string): CallRet;
}

interface Running {
  id: string;
  spec: InstanceSpec;
  instance: FunctionInstance;
  mappings: Map<string, string>;
  queue: Array<{ src: string; payload: Buffer }>;
  busy: boolean;
  restarts: number[];
  failed: boolean;
  timers: Set<NodeJS.Timeout>;
  events: number;
}

export interface RuntimeOptions {
  store: Store;
  logger: Logger;
  limits: InstanceLimits;
  /** A call not answered in this time returns Err to the caller (EDGELESS has no timeout). */
  callTimeoutMs: number;
  /** At most this many restarts after traps per instance per minute; then the instance is stopped. */
  maxRestartsPerMinute: number;
}

/**
 * The EDGELESS dataplane on one node. Each instance handles one event at a time from its FIFO queue;
 * casts are queued and drained by an in-process dispatcher (no serialization beyond the byte payload,
 * no database write unless the instance syncs); calls run the callee synchronously inside the caller's
 * host call, so a call into an instance already on the call stack is a cycle and returns Err.
 */
export class WorkflowRuntime {
  readonly nodeId = randomUUID();
  private readonly instances = new Map<string, Running>();
  /** workflow id → logical name → instance id or resource */
  private readonly names = new Map<string, Map<string, string | ResourceTarget>>();
  private readonly isolates = new Map<string, WorkflowIsolate>();
  private draining = false;
  readonly stats = { casts: 0, calls: 0, dropped: 0, restarts: 0 };

  constructor(private readonly opts: RuntimeOptions) {}

  /** Starts an instance; it is initialised by `init` once the workflow's mappings are installed. */
  spawn(spec: InstanceSpec): string {
    const id = randomUUID();
    const running: Running = { id, spec, instance: undefined as never, mappings: new Map(), queue: [], busy: false, restarts: [], failed: false, timers: new Set(), events: 0 };
    const shared = this.isolates.get(spec.workflowId) ?? this.reserve(spec.workflowId, 1);
    running.instance = new FunctionInstance(spec.kind, spec.code, this.hostFor(running), this.opts.limits, shared);
    this.instances.set(id, running);
    let names = this.names.get(spec.workflowId);
    if (!names) this.names.set(spec.workflowId, (names = new Map()));
    names.set(spec.name, id);
    return id;
  }

  /** Sizes a workflow's shared isolate before its instances spawn: heap_mib for each of them. */
  reserve(workflowId: string, instances: number): WorkflowIsolate {
    const shared = new WorkflowIsolate(this.opts.limits.heapMiB * Math.max(1, instances));
    this.isolates.set(workflowId, shared);
    return shared;
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

  init(id: string) {
    const r = this.mustGet(id);
    const state = this.storedState(r.spec.stateKey);
    this.guard(r, () => r.instance.init(r.spec.initPayload ? Buffer.from(r.spec.initPayload) : null, state !== null ? Buffer.from(state) : null), 'init');
  }

  stopWorkflow(workflowId: string) {
    for (const [id, r] of this.instances) {
      if (r.spec.workflowId !== workflowId) continue;
      for (const t of r.timers) clearTimeout(t);
      if (!r.failed) this.guard(r, () => r.instance.stop(), 'stop', false);
      r.instance.dispose();
      this.instances.delete(id);
    }
    this.names.delete(workflowId);
    this.isolates.get(workflowId)?.dispose();
    this.isolates.delete(workflowId);
  }

  inspect(workflowId: string) {
    return [...this.instances.values()]
      .filter((r) => r.spec.workflowId === workflowId)
      .map((r) => ({ name: r.spec.name, instance_id: r.id, kind: r.spec.kind, events: r.events, queued: r.queue.length, restarts: r.restarts.length, failed: r.failed, outputs: Object.fromEntries(r.mappings) }));
  }

  /** Delivers a cast from outside (a resource, or a test) to a workflow's function. */
  castTo(workflowId: string, name: string, payload: string) {
    const target = this.names.get(workflowId)?.get(name);
    if (typeof target !== 'string') throw new TesseraError('not_found', `workflow ${workflowId} has no function '${name}'`);
    this.enqueue(target, this.nodeId, Buffer.from(payload));
  }

  /** A call from outside, e.g. http-ingress. */
  callTo(workflowId: string, name: string, payload: string): CallRet {
    const target = this.names.get(workflowId)?.get(name);
    if (target === undefined) return { type: 2, data: null };
    if (typeof target !== 'string') return target.call(payload);
    return this.invokeCall(this.instances.get(target), this.nodeId, Buffer.from(payload));
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
    this.opts.logger[method]({ workflow: r.spec.workflowId, function: r.spec.name, target }, message);
  }

  private enqueue(targetId: string, src: string, payload: Buffer) {
    const target = this.instances.get(targetId);
    if (!target || target.failed) {
      this.stats.dropped++;
      return;
    }
    target.queue.push({ src, payload });
    this.stats.casts++;
    this.scheduleDrain();
  }

  private scheduleDrain() {
    if (this.draining) return;
    this.draining = true;
    setImmediate(() => this.drain());
  }

  /** Runs queued casts, one event per instance at a time, yielding to I/O every so often. */
  private drain() {
    const deadline = performance.now() + 20;
    let ran = true;
    while (ran && performance.now() < deadline) {
      ran = false;
      for (const r of this.instances.values()) {
        if (r.busy || r.failed || r.queue.length === 0) continue;
        const event = r.queue.shift()!;
        ran = true;
        r.busy = true;
        try {
          this.guard(r, () => r.instance.cast(uuidBytes(event.src.split('/')[0]), uuidBytes(event.src.split('/')[1] ?? event.src), event.payload), 'cast');
        } finally {
          r.busy = false;
          r.events++;
        }
      }
    }
    this.draining = false;
    if ([...this.instances.values()].some((r) => r.queue.length && !r.failed)) this.scheduleDrain();
  }

  /** A call into `target`: Err if it is gone, on the current call stack (a cycle), or does not answer in time. */
  private invokeCall(target: Running | undefined, src: string, payload: Buffer): CallRet {
    if (!target || target.failed) return { type: 2, data: null };
    if (target.busy) {
      this.opts.logger.warn({ workflow: target.spec.workflowId, function: target.spec.name }, 'call into an instance that is already handling an event on this call path (a cycle): Err');
      return { type: 2, data: null };
    }
    target.busy = true;
    this.stats.calls++;
    try {
      let result: CallRet = { type: 2, data: null };
      this.guard(target, () => {
        result = target.instance.call(uuidBytes(src.split('/')[0]), uuidBytes(src.split('/')[1] ?? src), payload, this.opts.callTimeoutMs);
      }, 'call');
      return result;
    } finally {
      target.busy = false;
      target.events++;
    }
  }

  /** Runs guest code; a trap restarts the instance from its last synced state, within the restart budget. */
  private guard(r: Running, work: () => void, what: string, restart = true) {
    try {
      work();
    } catch (err) {
      const message = (err as Error)?.message ?? String(err);
      this.log(r, 1, 'tessera', `${what} trapped: ${message}`);
      if (!restart) return;
      const now = Date.now();
      r.restarts = r.restarts.filter((t) => now - t < 60_000);
      if (r.restarts.length >= this.opts.maxRestartsPerMinute) {
        r.failed = true;
        r.queue = [];
        this.log(r, 1, 'tessera', `instance stopped: ${r.restarts.length} restarts in the last minute`);
        return;
      }
      r.restarts.push(now);
      this.stats.restarts++;
      try {
        r.instance.dispose();
        r.instance.load();
        const state = this.storedState(r.spec.stateKey);
        r.instance.init(r.spec.initPayload ? Buffer.from(r.spec.initPayload) : null, state !== null ? Buffer.from(state) : null);
      } catch (again) {
        r.failed = true;
        this.log(r, 1, 'tessera', `instance could not restart: ${(again as Error).message}`);
      }
    }
  }

  /** The host API one instance sees (EDGELESS's eight env imports). */
  private hostFor(r: Running) {
    const src = () => `${this.nodeId}/${r.id}`;
    return {
      utf8: (s: string) => ab(Buffer.from(s, 'utf8')),
      text: (b: ArrayBuffer) => text(b, 'a payload'),
      uuidBytes: (id: string) => ab(uuidBytes(id)),
      cast: (aliasB: ArrayBuffer, payloadB: ArrayBuffer) => {
        const alias = text(aliasB, 'the alias');
        text(payloadB, 'the payload');
        const target = this.resolve(r, alias);
        if (target === undefined) {
          this.stats.dropped++;
          this.log(r, 4, 'tessera', `cast to unmapped alias '${alias}' dropped`);
          return;
        }
        if (typeof target === 'string') this.enqueue(target, src(), Buffer.from(payloadB));
        else target.cast(text(payloadB, 'the payload'));
      },
      cast_raw: (node: ArrayBuffer, component: ArrayBuffer, payloadB: ArrayBuffer) => {
        text(payloadB, 'the payload');
        if (uuidOf(node) !== this.nodeId) {
          this.stats.dropped++;
          return;
        }
        this.enqueue(uuidOf(component), src(), Buffer.from(payloadB));
      },
      call: (aliasB: ArrayBuffer, payloadB: ArrayBuffer): CallRet => {
        const alias = text(aliasB, 'the alias');
        const payload = text(payloadB, 'the payload');
        const target = this.resolve(r, alias);
        // EDGELESS traps the caller here; Tessera returns Err and keeps the instance (docs/workflows.md).
        if (target === undefined) {
          this.log(r, 2, 'tessera', `call to unmapped alias '${alias}': Err`);
          return { type: 2, data: null };
        }
        if (typeof target !== 'string') return target.call(payload);
        return this.invokeCall(this.instances.get(target), src(), Buffer.from(payloadB));
      },
      call_raw: (node: ArrayBuffer, component: ArrayBuffer, payloadB: ArrayBuffer): CallRet => {
        text(payloadB, 'the payload');
        if (uuidOf(node) !== this.nodeId) return { type: 2, data: null };
        return this.invokeCall(this.instances.get(uuidOf(component)), src(), Buffer.from(payloadB));
      },
      delayed_cast: (ms: number, aliasB: ArrayBuffer, payloadB: ArrayBuffer) => {
        const alias = text(aliasB, 'the alias');
        const payload = Buffer.from(payloadB);
        text(payloadB, 'the payload');
        const target = this.resolve(r, alias);
        if (target === undefined) {
          this.stats.dropped++;
          this.log(r, 2, 'tessera', `delayed cast to unmapped alias '${alias}' dropped`);
          return;
        }
        const timer = setTimeout(() => {
          r.timers.delete(timer);
          if (typeof target === 'string') this.enqueue(target, src(), payload);
          else target.cast(payload.toString('utf8'));
        }, Math.max(0, ms));
        r.timers.add(timer);
      },
      telemetry_log: (level: number, targetB: ArrayBuffer, messageB: ArrayBuffer) => this.log(r, level, text(targetB, 'the log target'), text(messageB, 'the log message')),
      slf: () => ({ node: ab(uuidBytes(this.nodeId)), component: ab(uuidBytes(r.id)) }),
      sync: (stateB: ArrayBuffer) => {
        const state = text(stateB, 'the state');
        if (r.spec.stateKey) this.opts.store.transact((tx) => tx.put(STATE, r.spec.stateKey!, state));
      },
    };
  }

}
