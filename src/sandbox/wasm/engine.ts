import ivm from 'isolated-vm';
import { withDefaults } from '../limits.js';
import { TesseraError } from '../../errors/index.js';
import { capMemory } from './limits.js';
import { DEFAULT_BOUNDARY, setupScript } from '../boundary.js';
import { type MemoryBudget, UNLIMITED } from '../memory-budget.js';
import { wasStoppedForTime, withDeadline } from '../watchdog.js';
import { guestSource } from '../guest-source.js';
import { disposeIsolate, trackIsolate } from '../usage.js';

// WebAssembly runs inside a V8 isolate too, never in the node's context: the module bytes are copied
// in, compiled and instantiated there, its memory capped in pages and its run bounded in time. Imports
// are written as JavaScript inside the isolate (`glue`), so they can read and write the module's memory
// directly and reach the host only through the callbacks granted.

export interface WasmLimits {
  /** Linear memory cap, 64 KiB pages. */
  memoryPages: number;
  cpuMs: number;
  /** Heap of the isolate around the module, MiB. */
  heapMiB: number;
}

/** After the glue: `__tessera_run(bytes)` compiles, instantiates and runs the module (runner.sandbox.ts). */
const RUNNER = guestSource(import.meta.url, 'runner');

export const DEFAULT_WASM_LIMITS: WasmLimits = { memoryPages: 320, cpuMs: 1000, heapMiB: 64 };

export interface WasmRun {
  module: Buffer;
  /**
   * Isolate-side JavaScript defining `function imports(getMemory)` that returns the import object, and
   * `function run(instance)` that calls the entry point and returns a copyable result.
   */
  glue: string;
  /** Host functions, in the glue's scope by name (never globals); arguments arrive as plain copies. */
  host?: Record<string, (...args: any[]) => unknown>;
  limits?: Partial<WasmLimits>;
  /** Stops the run (its isolate is disposed) when aborted, e.g. at a task's timeout. */
  signal?: AbortSignal;
}

export class WasmEngine {
  /** A run reserves its heap and linear memory from the node's sandbox budget while it runs. */
  constructor(private readonly budget: MemoryBudget = UNLIMITED) {}

  async run(job: WasmRun): Promise<unknown> {
    const limits = withDefaults(DEFAULT_WASM_LIMITS, job.limits);
    const release = await this.budget.reserve(limits.heapMiB + Math.ceil(limits.memoryPages / 16), 'this module');
    try {
      return await this.runReserved(job, limits);
    } finally {
      release();
    }
  }

  private async runReserved(job: WasmRun, limits: WasmLimits): Promise<unknown> {
    const bytes = capMemory(job.module, limits.memoryPages);
    const isolate = new ivm.Isolate({ memoryLimit: Math.max(8, limits.heapMiB) });
    trackIsolate(isolate, 'task');
    try {
      const context = await isolate.createContext();
      const global = context.global;
      const host = job.host ?? {};
      await global.set('__tessera_host', new ivm.Callback((name: string, ...args: unknown[]) => host[name](...args)));
      // The glue runs as the boundary's prelude: host functions are in its scope by name, never globals.
      const prelude = `${job.glue}
${RUNNER}`;
      const setup = await isolate.compileScript(setupScript(Object.keys(host), prelude, { ...DEFAULT_BOUNDARY, wasmPages: limits.memoryPages }));
      await withDeadline(isolate, limits.cpuMs, setup.run(context, { timeout: limits.cpuMs }));
      const [invoke, runner] = await Promise.all([global.get('__tessera_invoke', { reference: true }), global.get('__tessera_run', { reference: true })]);
      await Promise.all([global.delete('__tessera_invoke'), global.delete('__tessera_run')]);
      const wasm = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
      const pending = invoke.apply(undefined, [runner.derefInto(), [wasm]], { arguments: { copy: true }, result: { copy: true, promise: true }, timeout: limits.cpuMs });
      return await withDeadline(isolate, limits.cpuMs, pending, job.signal);
    } catch (err) {
      if (err instanceof TesseraError) throw err;
      if (wasStoppedForTime(isolate)) throw new TesseraError('timeout', `the module ran past its time limit of ${limits.cpuMs} ms and was stopped`);
      const message = (err as Error)?.message ?? String(err);
      if (/memory limit/i.test(message) || isolate.isDisposed) throw new TesseraError('too_large', `the module exceeded its memory limit and was stopped`);
      if (/timed out/i.test(message)) throw new TesseraError('timeout', `the module ran past its time limit of ${limits.cpuMs} ms and was stopped`);
      if (/Maximum call stack size exceeded/.test(message)) throw new TesseraError('function_failed', 'the module overflowed its stack');
      if (/pages of (WebAssembly )?memory/.test(message)) throw new TesseraError('too_large', message);
      if (/CompileError|LinkError/.test((err as Error)?.name ?? '') || /WebAssembly\.(Module|Instance)/.test(message)) {
        throw new TesseraError('invalid_input', `the WebAssembly module cannot be loaded: ${message}`);
      }
      throw new TesseraError('function_failed', `the module failed: ${message}`);
    } finally {
      disposeIsolate(isolate);
    }
  }
}
