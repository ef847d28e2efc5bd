import { type Static, Type } from '@sinclair/typebox';

// [sandbox] of tessera.toml: what all isolates share (composed into the whole schema by node/config-schema.ts).

export const SandboxOptions = Type.Object(
  {
    memory_budget_mib: Type.Integer({
      minimum: 0,
      default: 0,
      description:
        "Memory all isolates together may reach, MiB: a running call reserves its heap and WebAssembly allowance, a workflow instance for its life; over it a call waits up to 2 s, then gets 503; 0 for three quarters of the machine's memory",
    }),
  },
  { additionalProperties: false, default: {}, description: 'What all sandboxed code together may use' },
);

export type SandboxOptions = Static<typeof SandboxOptions>;
