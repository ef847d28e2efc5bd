import ivm from 'isolated-vm';
import { withDefaults } from '../limits.js';
import { TesseraError } from '../../errors/index.js';
import { capMemory } from './limits.js';

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

export const DEFAULT_WASM_LIMITS: WasmLimits = { memoryPages: 320, cpuMs: 1000, heapMiB: 64 };

export interface WasmRun {
  module: Buffer;
  /**
   * Isolate-side JavaScript defining `function imports(getMemory)` that returns the import object, and
   * `function run(instance)` that calls the entry point and returns a copyable result.
   */
  glue: string;
  host?: Record<string, (...args: any[]) => unknown>;
  limits?: Partial<WasmLimits>;
}

export class WasmEngine {
  async run(job: WasmRun): Promise<unknown> {
    const limits = withDefaults(DEFAULT_WASM_LIMITS, job.limits);
    const bytes = capMemory(job.module, limits.memoryPages);
    const isolate = new ivm.Isolate({ memoryLimit: Math.max(8, limits.heapMiB + Math.ceil((limits.memoryPages * 65536) / 1048576)) });
    try {
      const context = await isolate.createContext();
      const global = context.global;
      await global.set('globalThis', global.derefInto());
      for (const [name, fn] of Object.entries(job.host ?? {})) await global.set(name, new ivm.Callback(fn));
      await global.set('__wasm', new ivm.ExternalCopy(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)).copyInto({ release: true }));
      const script = await isolate.compileScript(`${job.glue}
        (function () {
          let instance;
          const module = new WebAssembly.Module(__wasm);
          instance = new WebAssembly.Instance(module, imports(() => instance.exports.memory));
          return run(instance);
        })()`);
      return await script.run(context, { timeout: limits.cpuMs, copy: true });
    } catch (err) {
      if (err instanceof TesseraError) throw err;
      const message = (err as Error)?.message ?? String(err);
      if (/memory limit/i.test(message) || isolate.isDisposed) throw new TesseraError('too_large', `the module exceeded its memory limit and was stopped`);
      if (/timed out/i.test(message)) throw new TesseraError('timeout', `the module ran past its time limit of ${limits.cpuMs} ms and was stopped`);
      if (/Maximum call stack size exceeded/.test(message)) throw new TesseraError('function_failed', 'the module overflowed its stack');
      if (/CompileError|LinkError/.test((err as Error)?.name ?? '') || /WebAssembly\.(Module|Instance)/.test(message)) {
        throw new TesseraError('invalid_input', `the WebAssembly module cannot be loaded: ${message}`);
      }
      throw new TesseraError('function_failed', `the module failed: ${message}`);
    } finally {
      if (!isolate.isDisposed) isolate.dispose();
    }
  }
}
