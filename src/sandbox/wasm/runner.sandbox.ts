// The end of every WebAssembly run's prelude (engine.ts): after the glue, which defines `imports` and
// `run` in the same scope, this leaves `__tessera_run(bytes)` on the global object for the engine to take
// (and delete) before the module runs. Guest code, bundled at build time.

// A module for tsc (so that these declarations stay in this file), with nothing to export.
export {};

/** From the glue (WasmRun.glue): the import object, given a way to reach the instance's memory later. */
declare function imports(getMemory: () => WebAssembly.Memory): WebAssembly.Imports;
/** From the glue: calls the entry point and returns a copyable result. */
declare function run(instance: WebAssembly.Instance): unknown;

(globalThis as { __tessera_run?: unknown }).__tessera_run = (bytes: ArrayBuffer) => {
  let instance: WebAssembly.Instance | undefined;
  const module = new WebAssembly.Module(bytes);
  instance = new WebAssembly.Instance(module, imports(() => instance!.exports.memory as WebAssembly.Memory));
  return run(instance);
};
