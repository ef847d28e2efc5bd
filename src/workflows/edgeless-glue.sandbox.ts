// EDGELESS's WebAssembly ABI (edgeless.md §2), implemented inside the instance's isolate. The eight
// `env` imports read and write the guest's memory here and reach the host only through the host
// functions the sandbox boundary hands this script as `H`, passing bytes (strings are decoded strictly on
// the host, so invalid UTF-8 traps the guest). Memory views are re-acquired after every call into the
// guest, since alloc may grow memory. Bundled at build time (scripts/build-sandbox.mjs); see wasm-glue.ts.

type HostFn = (...args: any[]) => any;
declare const H: Record<string, HostFn>;

interface Exports {
  memory: WebAssembly.Memory;
  edgeless_mem_alloc(n: number): number;
  edgeless_mem_free(ptr: number, n: number): void;
  edgeless_mem_clear(): void;
  handle_init_asm(p: number, pl: number, s: number, sl: number): void;
  handle_cast_asm(n: number, c: number, p: number, pl: number): void;
  handle_call_asm(n: number, c: number, p: number, pl: number, outPtr: number, outLen: number): number;
  handle_stop_asm(): void;
}
type Reply = { type: number; data: ArrayBuffer };

let instance: { exports: Exports } | null = null;
const exportsOf = () => instance!.exports;
const mem = () => new Uint8Array(exportsOf().memory.buffer);
const view = () => new DataView(exportsOf().memory.buffer);
function bytes(ptr: number, len: number): ArrayBuffer {
  ptr >>>= 0;
  len >>>= 0;
  const m = mem();
  if (ptr + len > m.length) throw new RangeError(`guest pointer out of bounds: ${ptr}+${len} > ${m.length}`);
  return m.slice(ptr, ptr + len).buffer;
}
function put(buffer: ArrayBuffer): number {
  const data = new Uint8Array(buffer);
  const ptr = exportsOf().edgeless_mem_alloc(data.length) >>> 0;
  const m = mem();
  if (ptr + data.length > m.length) throw new RangeError('guest allocator returned an invalid pointer');
  m.set(data, ptr);
  return ptr;
}
function writeU32(ptr: number, value: number) {
  ptr >>>= 0;
  if (ptr + 4 > mem().length) throw new RangeError('guest reply cell out of bounds');
  view().setUint32(ptr, value >>> 0, true);
}
function reply(ret: Reply, outPtrPtr: number, outLenPtr: number): number {
  if (ret.type === 1) {
    const ptr = put(ret.data);
    writeU32(outPtrPtr, ptr);
    writeU32(outLenPtr, ret.data.byteLength);
  }
  return ret.type;
}
const env: Record<string, (...args: any[]) => unknown> = {
  cast_asm: (tp: number, tl: number, pp: number, pl: number) => H.cast!(bytes(tp, tl), bytes(pp, pl)),
  cast_raw_asm: (np: number, cp: number, pp: number, pl: number) => H.cast_raw!(bytes(np, 16), bytes(cp, 16), bytes(pp, pl)),
  call_asm: (tp: number, tl: number, pp: number, pl: number, opp: number, olp: number) => reply(H.call!(bytes(tp, tl), bytes(pp, pl)), opp, olp),
  call_raw_asm: (np: number, cp: number, pp: number, pl: number, opp: number, olp: number) => reply(H.call_raw!(bytes(np, 16), bytes(cp, 16), bytes(pp, pl)), opp, olp),
  delayed_cast_asm: (delay: bigint | number, tp: number, tl: number, pp: number, pl: number) => H.delayed_cast!(Number(delay), bytes(tp, tl), bytes(pp, pl)),
  telemetry_log_asm: (level: number, tp: number, tl: number, mp: number, ml: number) => H.telemetry_log!(level, bytes(tp, tl), bytes(mp, ml)),
  slf_asm: (np: number, cp: number) => {
    const id = H.slf!() as { node: ArrayBuffer; component: ArrayBuffer };
    mem().set(new Uint8Array(id.node), np >>> 0);
    mem().set(new Uint8Array(id.component), cp >>> 0);
  },
  sync_asm: (dp: number, dl: number) => H.sync!(bytes(dp, dl)),
};
const REQUIRED = ['memory', 'edgeless_mem_alloc', 'edgeless_mem_free', 'edgeless_mem_clear', 'handle_init_asm', 'handle_cast_asm', 'handle_call_asm', 'handle_stop_asm'];
const g = globalThis as Record<string, unknown>;
g.__load = (code: ArrayBuffer) => {
  const module = new WebAssembly.Module(code);
  const exported = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  const missing = REQUIRED.filter((name) => !exported.has(name));
  if (missing.length) throw new Error(`BadCode: ${missing.join(', ')} not available`);
  const unknown = WebAssembly.Module.imports(module)
    .filter((i) => i.module !== 'env' || !(i.name in env))
    .map((i) => `${i.module}.${i.name}`);
  if (unknown.length) throw new Error(`BadCode: unknown imports ${unknown.join(', ')}`);
  instance = new WebAssembly.Instance(module, { env: env as WebAssembly.ModuleImports }) as unknown as { exports: Exports };
};
g.__init = (payload: ArrayBuffer | null, state: ArrayBuffer | null) => {
  const e = exportsOf();
  const p = payload && payload.byteLength ? put(payload) : 0;
  const s = state && state.byteLength ? put(state) : 0;
  e.handle_init_asm(p, p ? payload!.byteLength : 0, s, s ? state!.byteLength : 0);
  if (p) e.edgeless_mem_free(p, payload!.byteLength);
  if (s) e.edgeless_mem_free(s, state!.byteLength);
};
function event(node: ArrayBuffer, component: ArrayBuffer, payload: ArrayBuffer) {
  const e = exportsOf();
  e.edgeless_mem_clear();
  const c = put(component);
  const n = put(node);
  const p = put(payload);
  return { e, n, c, p };
}
g.__cast = (node: ArrayBuffer, component: ArrayBuffer, payload: ArrayBuffer) => {
  const { e, n, c, p } = event(node, component, payload);
  e.handle_cast_asm(n, c, p, payload.byteLength);
  e.edgeless_mem_free(c, 16);
  e.edgeless_mem_free(n, 16);
  if (payload.byteLength) e.edgeless_mem_free(p, payload.byteLength);
};
g.__call = (node: ArrayBuffer, component: ArrayBuffer, payload: ArrayBuffer) => {
  const { e, n, c, p } = event(node, component, payload);
  const outPtr = e.edgeless_mem_alloc(4) >>> 0;
  const outLen = e.edgeless_mem_alloc(4) >>> 0;
  const ret = e.handle_call_asm(n, c, p, payload.byteLength, outPtr, outLen);
  let data: ArrayBuffer | null = null;
  if (ret === 1) {
    const v = view();
    // Copy the reply before any other call into the guest: it may already be freed (quirk Q2).
    data = bytes(v.getUint32(outPtr, true), v.getUint32(outLen, true));
  }
  e.edgeless_mem_free(outPtr, 4);
  e.edgeless_mem_free(outLen, 4);
  e.edgeless_mem_free(c, 16);
  e.edgeless_mem_free(n, 16);
  if (payload.byteLength) e.edgeless_mem_free(p, payload.byteLength);
  return { type: ret === 0 ? 0 : ret === 1 ? 1 : 2, data };
};
g.__stop = () => {
  exportsOf().edgeless_mem_clear();
  exportsOf().handle_stop_asm();
};
