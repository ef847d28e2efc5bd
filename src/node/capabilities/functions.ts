import { chmodSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { registerBuiltins } from '../../functions/builtins/index.js';
import { FunctionRegistry } from '../../functions/registry.js';
import { UserFunctions } from '../../functions/user.js';
import { BuiltinWorkerPool } from '../../functions/worker-pool.js';
import { GOV } from '../../governance/tables.js';
import { PythonSandbox, type PythonSettings } from '../../sandbox/process/python/sandbox.js';
import { WasmEngine } from '../../sandbox/wasm/engine.js';
import { defaultFnDir } from '../datadir.js';
import type { Capability } from '../capability.js';

// The functions tasks can run: the built-ins (on worker threads, never on the node's event loop), users'
// registered JS, WASM and Python functions, and process functions by `fn:<id>` (from the fn capability).

export function functionsCapability(): Capability {
  return {
    name: 'functions',
    start(ctx) {
      const { config, store, paths, logger, budget, engine } = ctx;
      const functions = new FunctionRegistry(
        (name) => store.read((tx) => tx.get<{ enabled: boolean }>(GOV.functions, name))?.enabled !== false,
        (id) => (id.startsWith('fn:') ? ctx.need('fns').taskDefinition(id.slice(3)) : ctx.services.registered?.definition(id)),
      );
      // Python (mesapy_from_buffer, kind "python") runs in processes confined as process functions are.
      const python: PythonSettings = {
        confinement: config.fn.confinement,
        uid: config.fn.uid,
        gid: config.fn.gid,
        runDir: join(config.fn.cache_dir || defaultFnDir(paths.root), 'python'),
        memoryMib: config.tasks.python_memory_mib,
        timeoutMs: config.tasks.function_timeout_ms,
        maxMessageBytes: 2 * config.files.max_function_input_bytes + 1024 * 1024,
      };
      mkdirSync(dirname(python.runDir), { recursive: true });
      chmodSync(dirname(python.runDir), 0o711);
      // A built-in whose task times out loses its thread.
      const builtinWorkers = new BuiltinWorkerPool({ size: config.tasks.builtin_workers, logger, settings: { maxImagePixels: config.files.max_image_pixels, python } });
      registerBuiltins(functions, builtinWorkers);
      ctx.services.builtinWorkers = builtinWorkers;
      ctx.services.functions = functions;
      ctx.services.registered = new UserFunctions(
        store,
        engine,
        new WasmEngine(budget),
        new Set(functions.list().map((f) => f.name)),
        { heapMiB: config.tasks.max_function_heap_mib, cpuMs: config.tasks.max_function_cpu_ms, memoryPages: config.tasks.max_function_memory_pages },
        config.tasks.max_functions_per_user,
        new PythonSandbox(python),
      );
    },
    close: (ctx) => ctx.need('builtinWorkers').close(),
  };
}
