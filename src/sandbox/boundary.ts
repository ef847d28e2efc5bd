import { guestSource } from './guest-source.js';

// The guest side of the host boundary, shared by every engine (JS task functions, CCF apps, the
// constitution, WebAssembly tasks, workflow instances). It runs first in every context, before any
// guest code, and:
//  - removes shared memory: SharedArrayBuffer and Atomics are deleted, WebAssembly.Memory refuses
//    `shared`, and a memory's `buffer` is never handed out if it is shared. isolated-vm crashed the
//    node when shared memory was copied across the boundary (test/reliability/shared-memory.test.ts);
//  - bounds WebAssembly linear memory, which V8 allocates outside the isolate's heap limit: every
//    memory a guest makes or instantiates counts against one per-context allowance of pages, and a
//    module's own memory gets its maximum capped, so memory.grow fails inside the module;
//  - wraps the one raw host callback in typed functions. Each argument is copied, in the isolate and
//    under the call's time limit, into plain data built from intrinsics captured before any guest code
//    ran: primitives, fresh ArrayBuffers (views become Uint8Arrays), arrays and plain objects. Proxies,
//    getters, cycles, symbols, functions and shared memory never reach isolated-vm's copier or the host,
//    and a size budget is checked before anything is copied, so the host never allocates for a guest
//    beyond it;
//  - gives the engine an `invoke` that calls a guest function and copies its result (or its thrown
//    value) the same way, so nothing exotic leaves the isolate as a result either.
// The raw callback and `invoke` are taken off the global object before guest code runs; host functions
// reach guest code only as the prelude hands them out.

export interface BoundaryLimits {
  /** Bytes of strings and buffers one host call's arguments (or one result) may carry. */
  maxValueBytes: number;
  /** WebAssembly linear memory, all memories of the context together, in 64 KiB pages. */
  wasmPages: number;
}

export const DEFAULT_BOUNDARY: BoundaryLimits = { maxValueBytes: 32 * 1024 * 1024, wasmPages: 1024 };

// The guest code of the boundary is boundary.sandbox.ts, bundled at build time; its exports are `__guest`
// in the setup script.
const GUEST_BOUNDARY = guestSource(import.meta.url, 'boundary');

/**
 * The setup script of one context: the boundary, then `prelude` run with each host function in scope by
 * its name (and all of them as `H`). It leaves `__tessera_invoke` on the global object for the engine to
 * take a reference to and delete before any guest code runs.
 */
export function setupScript(names: string[], prelude: string, limits: BoundaryLimits = DEFAULT_BOUNDARY, blocking: string[] = []): string {
  for (const n of names) if (!/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(n)) throw new TypeError(`host function name '${n}' is not an identifier`);
  const binds = names.length ? `const { ${names.join(', ')} } = H;` : '';
  return `(() => {
const LIMITS = ${JSON.stringify(limits)};
const NAMES = ${JSON.stringify(names)};
const BLOCKING = ${JSON.stringify(blocking)};
${GUEST_BOUNDARY}
globalThis.__tessera_invoke = __guest.invoke;
(function (H) { ${binds}
${prelude}
}).call(globalThis, __guest.host);
})();
`;
}
