import { createHash } from 'node:crypto';
import { withDefaults } from '../limits.js';
import { posix } from 'node:path';
import ivm from 'isolated-vm';
import { TesseraError } from '../../errors/index.js';

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
  /** Host functions, set as globals. Arguments and results are copied, never shared. */
  host?: Record<string, (...args: any[]) => unknown>;
  /** A script run before the modules, e.g. to build a richer global from the host functions. */
  prelude?: string;
  limits?: Partial<JsLimits>;
  /** Use and fill the V8 code cache (default true). */
  codeCache?: boolean;
}

export interface Interpreter {
  isolate: ivm.Isolate;
  fn: ivm.Reference<unknown>;
  binding: { current: Record<string, (...args: any[]) => unknown> };
  limits: JsLimits;
  dispose(): void;
}

/** Kept interpreters, least recently used evicted first (CCF's max_cached_interpreters). */
export class InterpreterCache {
  private readonly entries = new Map<string, Interpreter>();
  constructor(private readonly max = 10) {}

  get(key: string): Interpreter | undefined {
    const found = this.entries.get(key);
    if (found) {
      this.entries.delete(key);
      this.entries.set(key, found);
    }
    return found;
  }

  set(key: string, interpreter: Interpreter) {
    this.entries.set(key, interpreter);
    while (this.entries.size > this.max) {
      const [oldest, old] = this.entries.entries().next().value as [string, Interpreter];
      old.dispose();
      this.entries.delete(oldest);
    }
  }

  delete(key: string) {
    this.entries.get(key)?.dispose();
    this.entries.delete(key);
  }

  clear() {
    for (const i of this.entries.values()) i.dispose();
    this.entries.clear();
  }

  get size() {
    return this.entries.size;
  }
}

const normalise = (name: string) => posix.normalize('/' + name.replace(/^\/+/, ''));

export class JsEngine {
  private readonly codeCache = new Map<string, Buffer>();
  readonly stats = { runs: 0, compiled: 0, codeCacheHits: 0 };

  /** Runs `entry`'s `exportName` with `args` under `limits`, in a fresh isolate; throws a TesseraError naming the limit it broke. */
  async run(job: JsRun): Promise<unknown> {
    const interpreter = await this.prepare(job);
    try {
      return await this.call(interpreter, job.args ?? []);
    } finally {
      interpreter.dispose();
    }
  }

  /**
   * Runs in a kept interpreter (CCF's interpreter_reuse): created, with its prelude and modules evaluated,
   * on first use; later calls rebind the host functions to the new caller and only call the export.
   */
  async runReused(cache: InterpreterCache, key: string, job: JsRun): Promise<unknown> {
    let interpreter = cache.get(key);
    if (!interpreter) {
      interpreter = await this.prepare(job);
      cache.set(key, interpreter);
    }
    interpreter.binding.current = job.host ?? {};
    try {
      return await this.call(interpreter, job.args ?? []);
    } catch (err) {
      if (interpreter.isolate.isDisposed) cache.delete(key);
      throw err;
    }
  }

  private async prepare(job: JsRun): Promise<Interpreter> {
    const limits = withDefaults(DEFAULT_JS_LIMITS, job.limits);
    const isolate = new ivm.Isolate({ memoryLimit: Math.max(8, limits.heapMiB) });
    const binding = { current: job.host ?? {} };
    this.stats.runs++;
    try {
      const context = await isolate.createContext();
      const global = context.global;
      await global.set('globalThis', global.derefInto());
      // Host functions reach the current caller's binding, so a kept interpreter serves each request with its own.
      for (const name of Object.keys(job.host ?? {})) {
        await global.set(name, new ivm.Callback((...args: unknown[]) => binding.current[name](...args)));
      }
      if (job.prelude) await (await this.compileScript(isolate, job.prelude)).run(context, { timeout: limits.cpuMs });

      const sources = new Map(Object.entries(job.modules).map(([name, src]) => [normalise(name), src]));
      const compiled = new Map<string, ivm.Module>();
      const names = new Map<ivm.Module, string>();
      const load = async (name: string): Promise<ivm.Module> => {
        const existing = compiled.get(name);
        if (existing) return existing;
        const source = sources.get(name);
        if (source === undefined) throw new TesseraError('not_found', `module '${name}' is not in the bundle`);
        const module = await this.compile(isolate, name, source, job.codeCache !== false);
        compiled.set(name, module);
        names.set(module, name);
        return module;
      };
      const entry = await load(normalise(job.entry));
      await entry.instantiate(context, async (specifier, referrer) => {
        if (!specifier.startsWith('./') && !specifier.startsWith('../') && !specifier.startsWith('/')) {
          throw new TesseraError('invalid_input', `import '${specifier}' is not relative: bundle dependencies as files and import them by path`);
        }
        return load(posix.resolve(posix.dirname(names.get(referrer) ?? '/'), specifier));
      });
      await entry.evaluate({ timeout: limits.cpuMs });
      const fn = await entry.namespace.get(job.exportName, { reference: true });
      if (fn.typeof !== 'function') throw new TesseraError('not_found', `module '${normalise(job.entry)}' has no exported function '${job.exportName}'`);
      return { isolate, fn, binding, limits, dispose: () => !isolate.isDisposed && isolate.dispose() };
    } catch (err) {
      const e = classify(err, limits, isolate);
      if (!isolate.isDisposed) isolate.dispose();
      throw e;
    }
  }

  private async call(interpreter: Interpreter, args: unknown[]): Promise<unknown> {
    try {
      return await interpreter.fn.apply(undefined, args, { arguments: { copy: true }, result: { copy: true, promise: true }, timeout: interpreter.limits.cpuMs });
    } catch (err) {
      throw classify(err, interpreter.limits, interpreter.isolate);
    }
  }

  private async compileScript(isolate: ivm.Isolate, source: string): Promise<ivm.Script> {
    const key = createHash('sha256').update('script\0' + source).digest('hex');
    const cached = this.codeCache.get(key);
    const script = await isolate.compileScript(source, {
      filename: 'prelude.js',
      ...(cached ? { cachedData: new ivm.ExternalCopy(cached.buffer.slice(cached.byteOffset, cached.byteOffset + cached.byteLength) as ArrayBuffer) } : { produceCachedData: true }),
    });
    const result = script as unknown as ivm.CachedDataResult;
    if (!cached && result.cachedData) this.codeCache.set(key, Buffer.from(result.cachedData.copy()));
    return script;
  }

  /** Drops compiled code (refresh_js_app_bytecode_cache, disable_bytecode_cache). */
  clearCodeCache(): void {
    this.codeCache.clear();
  }

  /** Compiles with V8's code cache, keyed by the SHA-256 of the source. */
  private async compile(isolate: ivm.Isolate, name: string, source: string, useCache = true): Promise<ivm.Module> {
    if (!useCache) {
      this.stats.compiled++;
      return isolate.compileModule(source, { filename: `file://${name}` });
    }
    const key = createHash('sha256').update(source).digest('hex');
    const cached = this.codeCache.get(key);
    const module = await isolate.compileModule(source, {
      filename: `file://${name}`,
      ...(cached ? { cachedData: new ivm.ExternalCopy(cached.buffer.slice(cached.byteOffset, cached.byteOffset + cached.byteLength) as ArrayBuffer) } : { produceCachedData: true }),
    });
    const result = module as unknown as ivm.CachedDataResult & { cachedDataRejected?: boolean };
    if (cached && !result.cachedDataRejected) this.stats.codeCacheHits++;
    else this.stats.compiled++;
    if (!cached && result.cachedData) this.codeCache.set(key, Buffer.from(result.cachedData.copy()));
    return module;
  }
}

function classify(err: unknown, limits: JsLimits, isolate: ivm.Isolate): TesseraError {
  if (err instanceof TesseraError) return err;
  const message = (err as Error)?.message ?? String(err);
  if (/memory limit/i.test(message) || isolate.isDisposed) {
    return new TesseraError('too_large', `the code exceeded its heap limit of ${limits.heapMiB} MiB and was stopped`);
  }
  if (/timed out/i.test(message)) return new TesseraError('timeout', `the code ran past its time limit of ${limits.cpuMs} ms and was stopped`);
  if (/Maximum call stack size exceeded/.test(message)) return new TesseraError('function_failed', 'the code overflowed its stack (Maximum call stack size exceeded)');
  const name = (err as Error)?.name && (err as Error).name !== 'Error' ? `${(err as Error).name}: ` : '';
  return new TesseraError('function_failed', `the code threw ${name}${message}`);
}
