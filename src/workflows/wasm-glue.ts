import { guestSource } from '../sandbox/guest-source.js';

// What runs inside a workflow instance's isolate before its code: written in TypeScript
// (edgeless-glue.sandbox.ts, js-glue.sandbox.ts) and bundled at build time; the sandbox boundary runs
// it with the instance's host functions in scope as `H`.

/** EDGELESS's WebAssembly ABI: `__load`, `__init`, `__cast`, `__call`, `__stop` over a WebAssembly instance. */
export const EDGELESS_GLUE = guestSource(import.meta.url, 'edgeless-glue');

/** JS instances: the module's four handlers (`__bind`), and an `edgeless` global over the same host callbacks. */
export const JS_GLUE = guestSource(import.meta.url, 'js-glue');
