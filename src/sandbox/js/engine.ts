import { createHash } from 'node:crypto';
import { withDefaults } from '../limits.js';
import { posix } from 'node:path';
import ivm from 'isolated-vm';
import { TesseraError } from '../../errors/index.js';
import { type FreshPools, PoolDisposed } from './fresh-pool.js';
import { ModuleGraph, mayImportDynamically } from './modules.js';
import { type BoundaryLimits, DEFAULT_BOUNDARY, setupScript } from '../boundary.js';
import { dropHandlesAtExit } from '../exit-gc.js';
import { guestSource } from '../guest-source.js';
import { type MemoryBudget, UNLIMITED } from '../memory-budget.js';
import { sandboxThreadsMayHaveStarted } from '../thread-priority.js';
import { wasStoppedForTime, withDeadline } from '../watchdog.js';
import { type SandboxKind, disposeIsolate, trackIsolate } from '../usage.js';

export { FreshPools } from './fresh-pool.js';
export { ModuleLoadError } from './modules.js';

// Untrusted JavaScript runs here, never in the node's own V8 context: each run gets its own V8 isolate
// (its own heap, with a hard limit) and a fresh context that holds nothing but the language and the host
// functions the caller grants. No process, require, fs, network or timers exist inside.

export interface JsLimits {
  /** Heap limit of the isolate, MiB (at least 8). */
  heapMiB: number;
  /** Time limit for module evaluation and again for the call, ms. */
  cpuMs: number;
}

export const DEFAULT_JS_LIMITS: JsLimits = { heapMiB: 64, cpuMs: 1000 };

export interface JsRun {
  /** Module name ('/'-separated path) → source. Imports between them must be relative. */
  modules: Record<string, string>;
  entry: string;
  /** The export to call; its result (or its promise's) is copied out. */
  exportName: string;
  args?: unknown[];
  /**
   * Host functions. Guest code never sees them as globals: the prelude has each in scope by its name
   * (and all as `H`) and hands out what it chooses. Arguments reach them as plain copies (boundary.ts).
   */
  host?: Record<string, (...args: any[]) => unknown>;
  /** A script run before the modules, with the host functions in scope, to build the guest's API. */
  prelude?: string;
  limits?: Partial<JsLimits>;
  /** Size of values crossing the boundary, and WebAssembly memory (default: DEFAULT_BOUNDARY with wasmPages from the heap limit). */
  boundary?: Partial<BoundaryLimits>;
  /** Stops the run (its isolate is disposed) when aborted, e.g. at a task's timeout. */
  signal?: AbortSignal;
  /** Use and fill the V8 code cache (default true). */
  codeCache?: boolean;
  /** The entry is a wrapper the host wrote around one module of the bundle: load errors name that module. */
  wrapper?: boolean;
  /** What runs, for the node's sandbox metrics (sandbox/usage.ts); a task function by default. */
  kind?: SandboxKind;
}

/** A context ready to call: the export, and the binding its host functions reach. */
export interface Prepared {
  isolate: ivm.Isolate;
  /** Evaluates the entry module on first use, then gives its export. */
  exported(): Promise<ivm.Reference<unknown>>;
  binding: { current: Record<string, (...args: any[]) => unknown> };
  limits: JsLimits;
  /** The boundary's `invoke`: calls a guest function and copies its result out as plain data. */
  invoke: ivm.Reference<unknown>;
  /** Lets the context go (the isolate lives on). */
  release(): void;
}

export interface Interpreter extends Prepared {
  dispose(): void;
}


/** The code called the host while loading, so it cannot be loaded ahead of the call that binds the host. */
class NeedsHostWhileLoading extends Error {}

const normalise = (name: string) => posix.normalize('/' + name.replace(/^\/+/, ''));

export class JsEngine {
  /** Memory of running calls counts against the node's sandbox budget: a call reserves what its limits let it reach. */
  constructor(private readonly budget: MemoryBudget = UNLIMITED) {
    dropHandlesAtExit({ dropHandles: () => this.clearCodeCache() });
  }

  private reserve(job: JsRun): Promise<() => void> {
    const limits = withDefaults(DEFAULT_JS_LIMITS, job.limits);
    const wasmMiB = Math.ceil((job.boundary?.wasmPages ?? Math.max(16, limits.heapMiB * 16)) / 16);
    return this.budget.reserve(limits.heapMiB + wasmMiB, 'this code');
  }

  /** V8 code cache by source digest, kept as isolated-vm copies so that each compile reuses one without copying it. */
  private readonly codeCache = new Map<string, ivm.ExternalCopy<ArrayBuffer>>();
  /** Source digests, by the source string itself (V8 keeps a string's hash, so a repeat lookup is cheap). */
  private readonly digests = new Map<string, string>();
  private readonly scripts = new WeakMap<ivm.Isolate, Map<string, Promise<ivm.Script>>>();
  readonly stats = { runs: 0, compiled: 0, codeCacheHits: 0 };

  /** Runs `entry`'s `exportName` with `args` under `limits`, in a fresh isolate; throws a TesseraError naming the limit it broke. */
  async run(job: JsRun): Promise<unknown> {
    return this.reserved(job, () => this.runUnreserved(job));
  }

  /** Runs `work` holding the job's share of the memory budget. */
  private async reserved<T>(job: JsRun, work: () => Promise<T>): Promise<T> {
    const release = await this.reserve(job);
    try {
      return await work();
    } finally {
      release();
    }
  }

  private async runUnreserved(job: JsRun): Promise<unknown> {
    const interpreter = await this.prepare(job);
    try {
      return await this.call(interpreter, job.args ?? [], job.signal);
    } finally {
      interpreter.dispose();
    }
  }

  /**
   * Runs in a kept interpreter (CCF's interpreter_reuse): `slot` is held by this call alone (the caller's
   * pool sees to that, src/apps/kept-interpreters.ts). An empty slot gets an interpreter, with its prelude
   * and modules evaluated; later calls rebind the host functions to the new caller and only call the export.
   * An interpreter whose isolate went down (heap limit, timeout) is left for the pool to drop.
   */
  async runReused(slot: { interpreter?: Interpreter }, job: JsRun): Promise<unknown> {
    return this.reserved(job, async () => {
      const interpreter = (slot.interpreter ??= await this.prepare(job));
      interpreter.binding.current = job.host ?? {};
      return this.call(interpreter, job.args ?? [], job.signal);
    });
  }

  /**
   * Runs in a fresh context of a shared isolate (`pools` keeps one per key), made ahead of need on the
   * isolate's own thread. The context has never run anything before, so no state passes between calls,
   * as with a fresh isolate; the isolate's creation (~1 ms) leaves the request's path.
   */
  async runFresh(pools: FreshPools, key: string, job: JsRun): Promise<unknown> {
    return this.reserved(job, () => this.runFreshUnreserved(pools, key, job));
  }

  private async runFreshUnreserved(pools: FreshPools, key: string, job: JsRun): Promise<unknown> {
    const limits = withDefaults(DEFAULT_JS_LIMITS, job.limits);
    const pool = pools.get(key, limits.heapMiB, (isolate) => this.prepareAhead(isolate, job, limits));
    if (!pool.evaluateAhead) return this.runUnreserved(job);
    try {
      return await pool.use(job.host ?? {}, (interpreter) => this.call(interpreter, job.args ?? [], job.signal));
    } catch (err) {
      if (err instanceof PoolDisposed) return this.runUnreserved(job);
      if (!(err instanceof NeedsHostWhileLoading)) throw err;
      pool.evaluateAhead = false;
      return this.runUnreserved(job);
    }
  }

  /**
   * A pooled context with its prelude run and modules evaluated, so that the call is the request's only hop
   * into the isolate. Code that reaches for the host while loading must see the request's own host: such a
   * context is refused, and its pool sends calls to fresh isolates from then on.
   */
  private async prepareAhead(isolate: ivm.Isolate, job: JsRun, limits: JsLimits): Promise<Prepared> {
    let touched = false;
    const untouchable = new Proxy({} as Record<string, (...args: unknown[]) => unknown>, {
      get: () => () => {
        touched = true;
        throw new Error('the host is not bound while code loads ahead of its call');
      },
    });
    let prepared: Prepared | undefined;
    try {
      prepared = await this.prepareIn(isolate, job, limits, untouchable);
      await prepared.exported();
      if (!touched) return prepared;
    } catch (err) {
      if (!touched) {
        prepared?.release();
        throw err;
      }
    }
    prepared?.release();
    throw new NeedsHostWhileLoading();
  }

  private async prepare(job: JsRun): Promise<Interpreter> {
    const limits = withDefaults(DEFAULT_JS_LIMITS, job.limits);
    const isolate = new ivm.Isolate({ memoryLimit: Math.max(8, limits.heapMiB) });
    trackIsolate(isolate, job.kind ?? 'task');
    try {
      const prepared = await this.prepareIn(isolate, job, limits);
      await prepared.exported();
      return { ...prepared, dispose: () => disposeIsolate(isolate) };
    } catch (err) {
      disposeIsolate(isolate);
      throw err;
    }
  }

  /** A new context in `isolate` with the host bound, the prelude run and the entry module evaluated. */
  private async prepareIn(isolate: ivm.Isolate, job: JsRun, limits: JsLimits, loadHost = job.host ?? {}): Promise<Prepared> {
    const binding = { current: loadHost };
    this.stats.runs++;
    let context: ivm.Context | undefined;
    try {
      context = await isolate.createContext();
      const global = context.global;
      // One callback serves every host function (one hop to set up instead of one per name); it reaches
      // the current caller's binding, so a kept interpreter serves each request with its own.
      const names = Object.keys(job.host ?? {});
      if (names.length > 0) {
        await global.set('__tessera_host', new ivm.Callback((name: string, ...args: unknown[]) => {
          const fn = binding.current[name];
          if (typeof fn !== 'function') throw new TypeError(`${name} is not available here`);
          return fn(...args);
        }));
      }
      const boundary = { ...DEFAULT_BOUNDARY, wasmPages: Math.max(16, limits.heapMiB * 16), ...job.boundary };
      const setup = setupScript(names, job.prelude ?? '', boundary);
      await withDeadline(isolate, limits.cpuMs, (await this.scriptIn(isolate, setup)).run(context, { timeout: limits.cpuMs }));
      const invoke = await global.get('__tessera_invoke', { reference: true });
      await global.delete('__tessera_invoke');

      const sources = new Map(Object.entries(job.modules).map(([name, src]) => [normalise(name), src]));
      const graph = new ModuleGraph(sources, job.wrapper === true, (name, source) => this.compile(isolate, name, source, job.codeCache !== false));
      const entryName = normalise(job.entry);
      const entry = await graph.load(entryName, null);
      await entry.instantiate(context, graph.resolver);
      if ([...sources.values()].some(mayImportDynamically)) await this.enableDynamicImport(isolate, context, graph, limits);
      const ctx = context;
      let fn: ivm.Reference<unknown> | undefined;
      return {
        isolate,
        binding,
        limits,
        invoke,
        // Evaluation waits for the first call, so that module code runs with that call's host bound.
        exported: async () => {
          if (fn) return fn;
          try {
            try {
              await withDeadline(isolate, limits.cpuMs, entry.evaluate({ timeout: limits.cpuMs }), job.signal);
            } catch (err) {
              throw graph.evaluationFailure(classify(err, limits, isolate), err);
            }
            const found = await entry.namespace.get(job.exportName, { reference: true });
            if (found.typeof !== 'function') throw new TesseraError('not_found', `module '${normalise(job.entry)}' has no exported function '${job.exportName}'`);
            return (fn = found);
          } catch (err) {
            throw classify(err, limits, isolate);
          }
        },
        release: () => {
          fn?.release();
          invoke.release();
          ctx.release();
        },
      };
    } catch (err) {
      context?.release();
      throw classify(err, limits, isolate);
    }
  }

  /**
   * `import()` for the context's modules (rewritten to `__tessera_import(referrer, specifier)`): the
   * guest gets a promise; the host loads the module into the same graph (so each module still exists
   * once), links and evaluates it, then settles the promise with the module's namespace.
   */
  private async enableDynamicImport(isolate: ivm.Isolate, context: ivm.Context, graph: ModuleGraph, limits: JsLimits): Promise<void> {
    let settle: ivm.Reference<unknown> | undefined;
    const serve = async (id: number, referrer: string, specifier: string) => {
      try {
        const module = await graph.load(graph.resolve(referrer, specifier), referrer);
        await module.instantiate(context, graph.resolver);
        await module.evaluate({ timeout: limits.cpuMs });
        await settle!.apply(undefined, [id, true, module.namespace.derefInto()]);
      } catch (err) {
        if (isolate.isDisposed) return;
        const message = err instanceof Error ? err.message : String(err);
        await settle?.apply(undefined, [id, false, message]).catch(() => undefined);
      }
    };
    await context.global.set('__tessera_import_host', new ivm.Callback((id: number, referrer: string, specifier: string) => void serve(id, referrer, specifier)));
    await (await this.scriptIn(isolate, DYNAMIC_IMPORT_GUEST)).run(context, { timeout: limits.cpuMs });
    settle = await context.global.get('__tessera_import_settle', { reference: true });
    await context.global.delete('__tessera_import_settle');
  }

  /** Calls the export through the boundary's `invoke`, so that the result leaves the isolate as plain data. */
  private async call(interpreter: Prepared, args: unknown[], signal?: AbortSignal): Promise<unknown> {
    const fn = await interpreter.exported();
    const { isolate, limits } = interpreter;
    try {
      const pending = interpreter.invoke.apply(undefined, [fn.derefInto(), args], { arguments: { copy: true }, result: { copy: true, promise: true }, timeout: limits.cpuMs });
      sandboxThreadsMayHaveStarted();
      return await withDeadline(isolate, limits.cpuMs, pending, signal);
    } catch (err) {
      throw classify(err, interpreter.limits, interpreter.isolate);
    }
  }

  /** A script compiled once per isolate: a compiled script runs in any context of its isolate. */
  private async scriptIn(isolate: ivm.Isolate, source: string): Promise<ivm.Script> {
    let scripts = this.scripts.get(isolate);
    if (!scripts) this.scripts.set(isolate, (scripts = new Map()));
    let script = scripts.get(source);
    if (!script) scripts.set(source, (script = this.compileScript(isolate, source, 'prelude.js')));
    return script;
  }

  private async compileScript(isolate: ivm.Isolate, source: string, filename: string): Promise<ivm.Script> {
    const key = `script:${this.keyOf(source)}`;
    const cached = this.codeCache.get(key);
    const script = await isolate.compileScript(source, { filename, ...(cached ? { cachedData: cached } : { produceCachedData: true }) });
    const result = script as unknown as ivm.CachedDataResult;
    if (!cached && result.cachedData) this.codeCache.set(key, result.cachedData);
    return script;
  }

  /** Drops compiled code (refresh_js_app_bytecode_cache, disable_bytecode_cache). */
  clearCodeCache(): void {
    this.codeCache.clear(); // not released: a compile under way may still be reading one
    this.digests.clear();
  }

  private keyOf(source: string): string {
    let key = this.digests.get(source);
    if (!key) {
      key = createHash('sha256').update(source).digest('hex');
      if (this.digests.size >= 1000) this.digests.clear();
      this.digests.set(source, key);
    }
    return key;
  }

  /** Compiles with V8's code cache, keyed by the SHA-256 of the source. */
  private async compile(isolate: ivm.Isolate, name: string, source: string, useCache = true): Promise<ivm.Module> {
    if (!useCache) {
      this.stats.compiled++;
      return isolate.compileModule(source, { filename: `file://${name}` });
    }
    const key = this.keyOf(source);
    const cached = this.codeCache.get(key);
    const module = await isolate.compileModule(source, { filename: `file://${name}`, ...(cached ? { cachedData: cached } : { produceCachedData: true }) });
    const result = module as unknown as ivm.CachedDataResult & { cachedDataRejected?: boolean };
    if (cached && !result.cachedDataRejected) this.stats.codeCacheHits++;
    else this.stats.compiled++;
    if (!cached && result.cachedData) this.codeCache.set(key, result.cachedData);
    return module;
  }
}

/** The guest half of `import()`: a promise per call, settled by the host (enableDynamicImport). */
const DYNAMIC_IMPORT_GUEST = guestSource(import.meta.url, 'dynamic-import');

function classify(err: unknown, limits: JsLimits, isolate: ivm.Isolate): TesseraError {
  if (err instanceof TesseraError) return err;
  const message = (err as Error)?.message ?? String(err);
  // An isolate goes mid-call only at its heap limit; isDisposed can lag behind the message that says so.
  if (wasStoppedForTime(isolate)) return new TesseraError('timeout', `the code ran past its time limit of ${limits.cpuMs} ms and was stopped`);
  if (/memory limit|isolate (is|was) disposed/i.test(message) || isolate.isDisposed) {
    return new TesseraError('too_large', `the code exceeded its heap limit of ${limits.heapMiB} MiB and was stopped`);
  }
  if (/timed out/i.test(message)) return new TesseraError('timeout', `the code ran past its time limit of ${limits.cpuMs} ms and was stopped`);
  if (/Maximum call stack size exceeded/.test(message)) return new TesseraError('function_failed', 'the code overflowed its stack (Maximum call stack size exceeded)');
  const name = (err as Error)?.name && (err as Error).name !== 'Error' ? `${(err as Error).name}: ` : '';
  return new TesseraError('function_failed', `the code threw ${name}${message}`);
}
