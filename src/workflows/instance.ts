import ivm from 'isolated-vm';
import { DEFAULT_BOUNDARY, setupScript } from '../sandbox/boundary.js';
import { sandboxThreadsMayHaveStarted } from '../sandbox/thread-priority.js';
import { wasStoppedForTime, withDeadline } from '../sandbox/watchdog.js';
import { EDGELESS_GLUE, JS_GLUE } from './wasm-glue.js';
import { disposeIsolate, trackIsolate } from '../sandbox/usage.js';

export type HostCallbacks = Record<string, (...args: any[]) => unknown>;
export interface CallRet {
  type: 0 | 1 | 2;
  data: ArrayBuffer | null;
}

export interface InstanceLimits {
  /** Heap of the instance's isolate, MiB; its WebAssembly memory may reach as much again. */
  heapMiB: number;
  /** Time one event may take, including the calls it makes; 0 for none (EDGELESS's behaviour). */
  eventMs: number;
}

/** Host functions that wait for other instances: they block the guest's thread, never the node's. */
export const BLOCKING_HOST = ['call', 'call_raw'];

const ab = (b: Buffer) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;

/** An instance's guest code broke a limit or threw; the message names which. */
export class InstanceTrap extends Error {}

/**
 * One function instance: its own V8 isolate (so its own heap limit and its own thread), kept for the
 * instance's life, so JS globals and WASM memory persist between events. Every entry is an asynchronous
 * call run on an isolate thread; the node's event loop only dispatches and awaits. A guest's `call`
 * blocks its own isolate thread (applySyncPromise) while the node runs the callee in the callee's isolate.
 * An isolate costs ~1.2 MiB before any code runs (Node 24, isolated-vm 7).
 */
export class FunctionInstance {
  private isolate: ivm.Isolate | null = null;
  private context: ivm.Context | null = null;
  private invoke: ivm.Reference<unknown> | null = null;
  private refs: Record<'init' | 'cast' | 'call' | 'stop', ivm.Reference<unknown>> | null = null;
  private loading: Promise<void> | null = null;
  private disposeAfterLoad = false;

  constructor(
    readonly kind: 'js' | 'wasm',
    private readonly code: Buffer,
    private readonly host: HostCallbacks,
    private readonly blockingHost: Record<string, (...args: any[]) => Promise<unknown>>,
    readonly limits: InstanceLimits,
  ) {}

  /** (Re)creates the isolate and loads the code; throws BadCode-style errors for unusable modules. */
  async load(): Promise<void> {
    this.disposeNow();
    this.disposeAfterLoad = false;
    const loading = (this.loading = this.loadIsolate());
    try {
      await loading;
    } finally {
      this.loading = null;
      if (this.disposeAfterLoad) this.disposeNow();
    }
  }

  private async loadIsolate(): Promise<void> {
    const isolate = (this.isolate = new ivm.Isolate({ memoryLimit: Math.max(8, this.limits.heapMiB) }));
    trackIsolate(isolate, 'workflow');
    const context = (this.context = await isolate.createContext());
    const global = context.global;
    const host = this.host;
    const blocking = this.blockingHost;
    await global.set('__tessera_host', new ivm.Callback((name: string, ...args: unknown[]) => host[name](...args)));
    // applySyncPromise hands back only transferables: the reply goes as a copy.
    await global.set('__tessera_host_blocking', new ivm.Reference(async (name: string, ...args: unknown[]) => new ivm.ExternalCopy(await blocking[name](...args)).copyInto({ release: true })));
    const names = [...Object.keys(host), ...Object.keys(blocking)];
    const boundary = { ...DEFAULT_BOUNDARY, wasmPages: Math.max(16, this.limits.heapMiB * 16) };
    const setup = await isolate.compileScript(setupScript(names, this.kind === 'wasm' ? EDGELESS_GLUE : JS_GLUE, boundary, BLOCKING_HOST));
    await this.guarded(setup.run(context, this.timing()));
    this.invoke = await global.get('__tessera_invoke', { reference: true });
    await global.delete('__tessera_invoke');
    if (this.kind === 'wasm') {
      const load = await global.get('__load', { reference: true });
      await this.apply(load, [ab(this.code)]);
    } else {
      const module = await isolate.compileModule(this.code.toString('utf8'), { filename: 'file:///function.js' });
      await module.instantiate(context, (specifier) => {
        throw new Error(`import '${specifier}': a JS function is one module; bundle its dependencies into it`);
      });
      await this.guarded(module.evaluate(this.timing()));
      const bind = await global.get('__bind', { reference: true });
      await bind.apply(undefined, [module.namespace.derefInto()], this.timing());
    }
    const ref = (name: string) => global.get(name, { reference: true });
    const [init, cast, call, stop] = await Promise.all(['__init', '__cast', '__call', '__stop'].map(ref));
    this.refs = { init, cast, call, stop };
  }

  private timing(timeoutMs = this.limits.eventMs): { timeout?: number } {
    return timeoutMs > 0 ? { timeout: timeoutMs } : {};
  }

  /** Awaits work in the isolate under the node-side deadline, and names the limit it broke. */
  private async guarded<T>(work: Promise<T>, timeoutMs = this.limits.eventMs): Promise<T> {
    const isolate = this.isolate!;
    try {
      return await withDeadline(isolate, timeoutMs, work);
    } catch (err) {
      const message = (err as Error)?.message ?? String(err);
      if (wasStoppedForTime(isolate) || /timed out/i.test(message)) throw new InstanceTrap(`the event ran past its time limit of ${timeoutMs} ms and was stopped`);
      if (isolate.isDisposed || /memory limit|disposed/i.test(message)) throw new InstanceTrap(`the instance exceeded its heap limit of ${this.limits.heapMiB} MiB and was stopped`);
      throw new InstanceTrap(message);
    }
  }

  private apply(fn: ivm.Reference<unknown>, args: unknown[], timeoutMs = this.limits.eventMs): Promise<unknown> {
    if (!this.invoke) throw new InstanceTrap('the instance is not loaded');
    const pending = this.invoke.apply(undefined, [fn.derefInto(), args], { arguments: { copy: true }, result: { copy: true, promise: true }, ...this.timing(timeoutMs) });
    sandboxThreadsMayHaveStarted();
    return this.guarded(pending, timeoutMs);
  }

  private entry(which: 'init' | 'cast' | 'call' | 'stop', args: unknown[], timeoutMs?: number): Promise<unknown> {
    if (!this.refs) throw new InstanceTrap('the instance is not loaded');
    return this.apply(this.refs[which], args, timeoutMs);
  }

  async init(payload: Buffer | null, state: Buffer | null): Promise<void> {
    await this.entry('init', [payload ? ab(payload) : null, state ? ab(state) : null]);
  }

  async cast(node: Buffer, component: Buffer, payload: Buffer): Promise<void> {
    await this.entry('cast', [ab(node), ab(component), ab(payload)]);
  }

  async call(node: Buffer, component: Buffer, payload: Buffer, timeoutMs?: number): Promise<CallRet> {
    const ret = (await this.entry('call', [ab(node), ab(component), ab(payload)], timeoutMs)) as { type: number; data: ArrayBuffer | null };
    return { type: ret?.type === 0 || ret?.type === 1 ? ret.type : 2, data: ret?.data instanceof ArrayBuffer ? ret.data : null };
  }

  async stop(): Promise<void> {
    await this.entry('stop', []);
  }

  /**
   * Frees the instance's isolate, stopping whatever runs in it. While the isolate is still being set up,
   * it goes once that is done: isolated-vm can abort the process if an isolate is disposed while a
   * context is being made in it.
   */
  dispose(): void {
    if (this.loading) this.disposeAfterLoad = true;
    else this.disposeNow();
  }

  private disposeNow(): void {
    const isolate = this.isolate;
    this.isolate = this.context = this.invoke = this.refs = null;
    if (isolate) disposeIsolate(isolate);
  }
}
