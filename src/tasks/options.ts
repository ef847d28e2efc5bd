import { type Static, Type } from '@sinclair/typebox';

// [tasks] of tessera.toml: task execution and its per-user quotas (composed into the whole schema by
// node/config-schema.ts).

export const TasksOptions = Type.Object(
  {
    function_timeout_ms: Type.Integer({
      minimum: 10,
      default: 60000,
      description: 'A function still running after this long fails its task (a built-in has its worker thread ended)',
    }),
    max_function_heap_mib: Type.Integer({
      minimum: 8,
      default: 512,
      description: 'The largest heap (heapMiB) a registered js or wasm function may ask for; a registration over it is refused',
    }),
    max_function_cpu_ms: Type.Integer({
      minimum: 10,
      default: 60000,
      description: 'The longest time limit (cpuMs) a registered js or wasm function may ask for; a registration over it is refused',
    }),
    max_function_memory_pages: Type.Integer({
      minimum: 1,
      default: 16384,
      description: 'The most WebAssembly memory (memoryPages, 64 KiB each) a registered wasm function may ask for',
    }),
    python_memory_mib: Type.Integer({
      minimum: 16,
      maximum: 65536,
      default: 256,
      description:
        'What Python code (mesapy_from_buffer, kind "python" functions) may allocate beyond the interpreter itself; past it the task fails (docs/python.md)',
    }),
    max_tasks_per_user: Type.Integer({
      minimum: 1,
      default: 100000,
      description: 'Tasks one user may create (tasks are kept); past it, Create is refused',
    }),
    max_functions_per_user: Type.Integer({
      minimum: 1,
      default: 1000,
      description: 'Registered js and wasm functions one user may own; past it, a registration is refused',
    }),
    builtin_workers: Type.Integer({
      minimum: 1,
      maximum: 256,
      default: 2,
      description: 'Worker threads, started with the node, that run built-in functions; more tasks at once wait for a free one',
    }),
  },
  { additionalProperties: false, default: {}, description: 'Task execution' },
);

export type TasksOptions = Static<typeof TasksOptions>;
