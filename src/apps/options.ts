import { type Static, Type } from '@sinclair/typebox';

// [app] of tessera.toml: the CCF JavaScript app runtime (composed into the whole schema by node/config-schema.ts).

export const AppOptions = Type.Object(
  {
    max_execution_time_ms: Type.Integer({
      minimum: 10,
      default: 5000,
      description: "A handler running longer gets CCF's 500 'Operation took too long to complete.'",
    }),
    max_heap_mib: Type.Integer({ minimum: 8, default: 100, description: 'Heap limit of a handler, MiB' }),
    return_exception_details: Type.Boolean({
      default: false,
      description: 'Include the exception and its trace in error replies (CCF return_exception_details)',
    }),
    interpreters_per_key: Type.Integer({
      minimum: 0,
      maximum: 64,
      default: 0,
      description:
        'Kept interpreters per interpreter_reuse key, each serving one request at a time (CCF 7 keeps one per key and locks it: set 1 for that); 0 for as many as isolated-vm runs at once (cores + 1), at most 4',
    }),
  },
  { additionalProperties: false, default: {}, description: 'The CCF JavaScript app runtime (/app)' },
);

export type AppOptions = Static<typeof AppOptions>;
