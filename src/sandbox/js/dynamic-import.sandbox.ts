// The guest half of `import()` (engine.ts, enableDynamicImport): module sources have their `import(…)`
// rewritten to `__tessera_import(referrer, specifier)` (modules.ts), which returns a promise per call that
// the host settles once it has loaded, linked and evaluated the module. Guest code, bundled at build time;
// the engine runs it as a script after putting `__tessera_import_host` on the global object, then takes
// `__tessera_import_settle` off it again, so that neither stays reachable by guest code.

type Settle = (id: number, ok: boolean, value: unknown) => void;
const g = globalThis as { __tessera_import_host?: (id: number, referrer: string, specifier: string) => void; __tessera_import_settle?: Settle };

const request = g.__tessera_import_host!;
delete g.__tessera_import_host;
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
let next = 0;
g.__tessera_import_settle = (id, ok, value) => {
  const p = pending.get(id);
  pending.delete(id);
  if (p) ok ? p.resolve(value) : p.reject(new Error(value as string));
};
Object.defineProperty(globalThis, '__tessera_import', {
  value: (referrer: unknown, specifier: unknown) =>
    new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      request(id, String(referrer), String(specifier));
    }),
});
