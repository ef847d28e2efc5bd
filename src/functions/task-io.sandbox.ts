// JS task functions get `io` (as `globalThis.__io`, passed to the entry by the run wrapper in user.ts),
// built from the host callbacks the sandbox boundary puts in this script's scope by name: inputs are
// read in full beforehand, outputs collected. Bundled at build time (scripts/build-sandbox.mjs).

declare const __tessera_input: (name: string) => ArrayBuffer;
declare const __tessera_input_text: (name: string) => string;
declare const __tessera_output: (name: string, data: unknown) => void;

(globalThis as Record<string, unknown>).__io = {
  input: (name: string) => new Uint8Array(__tessera_input(name)),
  inputText: (name: string) => __tessera_input_text(name),
  output: (name: string, data: unknown) => void __tessera_output(name, data),
};
