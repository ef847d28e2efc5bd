import ivm from 'isolated-vm';
import { EDGELESS_GLUE, JS_GLUE } from './wasm-glue.js';

export type HostCallbacks = Record<string, (...args: any[]) => unknown>;
export interface CallRet {
  type: 0 | 1 | 2;
  data: ArrayBuffer | null;
}

export interface InstanceLimits {
  heapMiB: number;
  /** Time one event may take, including the calls it makes. */
  eventMs: number;
}

const ab = (b: Buffer) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;

/**
 * The isolate one workflow's instances share, each in its own context. An isolate costs ~870 KiB of
 * RSS before any code runs and a context ~180 KiB, so 1,000 idle instances fit in well under 1 GiB
 * only this way. A workflow is one trust unit (one spec, approved together); its instances still
 * see none of each other's globals. The heap limit is the sum of the instances' allowances (see
 * WorkflowRuntime.reserve); if it kills the isolate, the next event of each instance traps and
 * restarts it, from its synced state, in a fresh isolate.
 */
export class WorkflowIsolate {
  private isolate: ivm.Isolate | null = null;

  constructor(private readonly heapMiB: number) {}

  get(): ivm.Isolate {
    if (!this.isolate || this.isolate.isDisposed) this.isolate = new ivm.Isolate({ memoryLimit: Math.max(8, this.heapMiB) });
    return this.isolate;
  }

  dispose() {
    if (this.isolate && !this.isolate.isDisposed) this.isolate.dispose();
    this.isolate = null;
  }
}

/**
 * One function instance: its own context in its workflow's isolate, kept for the instance's life, so JS
 * globals and WASM memory persist between events. Every entry is synchronous (applySync) on the node's
 * thread, which is what lets a guest's `call` block until the callee, run inside the host callback, replies.
 */
export class FunctionInstance {
  private isolate!: ivm.Isolate;
  private context!: ivm.Context;
  private refs!: Record<'init' | 'cast' | 'call' | 'stop', ivm.Reference<any>>;

  constructor(
    readonly kind: 'js' | 'wasm',
    private readonly code: Buffer,
    private readonly host: HostCallbacks,
    private readonly limits: InstanceLimits,
    private readonly shared: WorkflowIsolate,
  ) {
    this.load();
  }

  /** (Re)creates the context and loads the code; throws BadCode-style errors for unusable modules. */
  load() {
    this.isolate = this.shared.get();
    const context = (this.context = this.isolate.createContextSync());
    context.global.setSync('globalThis', context.global.derefInto());
    for (const [name, fn] of Object.entries(this.host)) context.global.setSync(`__w_${name}`, new ivm.Callback(fn));
    this.isolate.compileScriptSync(this.kind === 'wasm' ? EDGELESS_GLUE : JS_GLUE).runSync(context, { timeout: this.limits.eventMs });
    if (this.kind === 'wasm') {
      context.global.getSync('__load', { reference: true }).applySync(undefined, [new ivm.ExternalCopy(ab(this.code)).copyInto()], { timeout: this.limits.eventMs });
    } else {
      const module = this.isolate.compileModuleSync(this.code.toString('utf8'), { filename: 'file:///function.js' });
      module.instantiateSync(context, (specifier) => {
        throw new Error(`import '${specifier}': a JS function is one module; bundle its dependencies into it`);
      });
      module.evaluateSync({ timeout: this.limits.eventMs });
      context.global.getSync('__bind', { reference: true }).applySync(undefined, [module.namespace.derefInto()]);
    }
    const ref = (name: string) => context.global.getSync(name, { reference: true });
    this.refs = { init: ref('__init'), cast: ref('__cast'), call: ref('__call'), stop: ref('__stop') };
  }

  private run(which: keyof FunctionInstance['refs'], args: unknown[], timeoutMs = this.limits.eventMs): unknown {
    return this.refs[which].applySync(undefined, args, { arguments: { copy: true }, result: { copy: true }, timeout: timeoutMs });
  }

  init(payload: Buffer | null, state: Buffer | null) {
    this.run('init', [payload ? ab(payload) : null, state ? ab(state) : null]);
  }

  cast(node: Buffer, component: Buffer, payload: Buffer) {
    this.run('cast', [ab(node), ab(component), ab(payload)]);
  }

  call(node: Buffer, component: Buffer, payload: Buffer, timeoutMs?: number): CallRet {
    return this.run('call', [ab(node), ab(component), ab(payload)], timeoutMs) as CallRet;
  }

  stop() {
    this.run('stop', []);
  }

  /** Frees this instance's context; the workflow's isolate lives on for the other instances. */
  dispose() {
    if (this.isolate.isDisposed) return;
    for (const ref of Object.values(this.refs ?? {})) ref.release();
    this.context.release();
  }
}
