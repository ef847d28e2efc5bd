// EDGELESS's WebAssembly ABI (edgeless.md §2), implemented inside the instance's isolate. The eight
// `env` imports read and write the guest's memory here and reach the host only through the host
// functions the sandbox boundary hands this prelude as `H`, passing bytes (strings are decoded strictly on the host, so invalid UTF-8 traps the guest).
// Memory views are re-acquired after every call into the guest, since alloc may grow memory.
export const EDGELESS_GLUE = String.raw`
let instance = null;
const mem = () => new Uint8Array(instance.exports.memory.buffer);
const view = () => new DataView(instance.exports.memory.buffer);
function bytes(ptr, len) {
  ptr >>>= 0; len >>>= 0;
  const m = mem();
  if (ptr + len > m.length) throw new RangeError('guest pointer out of bounds: ' + ptr + '+' + len + ' > ' + m.length);
  return m.slice(ptr, ptr + len).buffer;
}
function put(buffer) {
  const data = new Uint8Array(buffer);
  const ptr = instance.exports.edgeless_mem_alloc(data.length) >>> 0;
  const m = mem();
  if (ptr + data.length > m.length) throw new RangeError('guest allocator returned an invalid pointer');
  m.set(data, ptr);
  return ptr;
}
function writeU32(ptr, value) {
  ptr >>>= 0;
  if (ptr + 4 > mem().length) throw new RangeError('guest reply cell out of bounds');
  view().setUint32(ptr, value >>> 0, true);
}
function reply(ret, outPtrPtr, outLenPtr) {
  if (ret.type === 1) {
    const ptr = put(ret.data);
    writeU32(outPtrPtr, ptr);
    writeU32(outLenPtr, ret.data.byteLength);
  }
  return ret.type;
}
const env = {
  cast_asm: (tp, tl, pp, pl) => H.cast(bytes(tp, tl), bytes(pp, pl)),
  cast_raw_asm: (np, cp, pp, pl) => H.cast_raw(bytes(np, 16), bytes(cp, 16), bytes(pp, pl)),
  call_asm: (tp, tl, pp, pl, opp, olp) => reply(H.call(bytes(tp, tl), bytes(pp, pl)), opp, olp),
  call_raw_asm: (np, cp, pp, pl, opp, olp) => reply(H.call_raw(bytes(np, 16), bytes(cp, 16), bytes(pp, pl)), opp, olp),
  delayed_cast_asm: (delay, tp, tl, pp, pl) => H.delayed_cast(Number(delay), bytes(tp, tl), bytes(pp, pl)),
  telemetry_log_asm: (level, tp, tl, mp, ml) => H.telemetry_log(level, bytes(tp, tl), bytes(mp, ml)),
  slf_asm: (np, cp) => { const id = H.slf(); mem().set(new Uint8Array(id.node), np >>> 0); mem().set(new Uint8Array(id.component), cp >>> 0); },
  sync_asm: (dp, dl) => H.sync(bytes(dp, dl)),
};
const REQUIRED = ['memory', 'edgeless_mem_alloc', 'edgeless_mem_free', 'edgeless_mem_clear', 'handle_init_asm', 'handle_cast_asm', 'handle_call_asm', 'handle_stop_asm'];
globalThis.__load = (code) => {
  const module = new WebAssembly.Module(code);
  const exported = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  const missing = REQUIRED.filter((name) => !exported.has(name));
  if (missing.length) throw new Error('BadCode: ' + missing.join(', ') + ' not available');
  const unknown = WebAssembly.Module.imports(module).filter((i) => i.module !== 'env' || !(i.name in env)).map((i) => i.module + '.' + i.name);
  if (unknown.length) throw new Error('BadCode: unknown imports ' + unknown.join(', '));
  instance = new WebAssembly.Instance(module, { env });
};
globalThis.__init = (payload, state) => {
  const e = instance.exports;
  const p = payload && payload.byteLength ? put(payload) : 0;
  const s = state && state.byteLength ? put(state) : 0;
  e.handle_init_asm(p, p ? payload.byteLength : 0, s, s ? state.byteLength : 0);
  if (p) e.edgeless_mem_free(p, payload.byteLength);
  if (s) e.edgeless_mem_free(s, state.byteLength);
};
function event(node, component, payload) {
  const e = instance.exports;
  e.edgeless_mem_clear();
  const c = put(component);
  const n = put(node);
  const p = put(payload);
  return { e, n, c, p };
}
globalThis.__cast = (node, component, payload) => {
  const { e, n, c, p } = event(node, component, payload);
  e.handle_cast_asm(n, c, p, payload.byteLength);
  e.edgeless_mem_free(c, 16);
  e.edgeless_mem_free(n, 16);
  if (payload.byteLength) e.edgeless_mem_free(p, payload.byteLength);
};
globalThis.__call = (node, component, payload) => {
  const { e, n, c, p } = event(node, component, payload);
  const outPtr = e.edgeless_mem_alloc(4) >>> 0;
  const outLen = e.edgeless_mem_alloc(4) >>> 0;
  const ret = e.handle_call_asm(n, c, p, payload.byteLength, outPtr, outLen);
  let data = null;
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
globalThis.__stop = () => { instance.exports.edgeless_mem_clear(); instance.exports.handle_stop_asm(); };
`;

/** JS instances: the module's four handlers, and an `edgeless` global over the same host callbacks. */
export const JS_GLUE = String.raw`
const enc = (s) => H.utf8(String(s));
const hexId = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');
const rawId = (id) => H.uuidBytes(id);
const ret = (r) => (r.type === 1 ? { type: 'reply', data: H.text(r.data) } : { type: r.type === 0 ? 'noreply' : 'err' });
globalThis.edgeless = Object.freeze({
  ERR: Symbol('Err'),
  cast: (alias, msg) => H.cast(enc(alias), enc(msg)),
  cast_raw: (id, msg) => H.cast_raw(rawId(id.node_id), rawId(id.component_id), enc(msg)),
  call: (alias, msg) => ret(H.call(enc(alias), enc(msg))),
  call_raw: (id, msg) => ret(H.call_raw(rawId(id.node_id), rawId(id.component_id), enc(msg))),
  delayed_cast: (ms, alias, msg) => H.delayed_cast(Number(ms), enc(alias), enc(msg)),
  telemetry_log: (level, target, msg) => H.telemetry_log(level, enc(target), enc(msg)),
  slf: () => { const id = H.slf(); return { node_id: hexId(id.node), component_id: hexId(id.component) }; },
  sync: (state) => H.sync(enc(state)),
  parse_init_payload: (payload) => {
    const out = {};
    for (const token of String(payload ?? '').split(',')) {
      const [k, v] = token.split('=');
      if (v === undefined) continue;
      out[k] = v;
    }
    return out;
  },
});
let handlers = null;
globalThis.__bind = (ns) => { handlers = ns; };
const src = (node, component) => ({ node_id: hexId(node), component_id: hexId(component) });
globalThis.__init = (payload, state) => handlers.handle_init?.(payload && payload.byteLength ? H.text(payload) : null, state && state.byteLength ? H.text(state) : null);
globalThis.__cast = (node, component, payload) => { handlers.handle_cast?.(src(node, component), H.text(payload)); };
globalThis.__call = (node, component, payload) => {
  const r = handlers.handle_call ? handlers.handle_call(src(node, component), H.text(payload)) : null;
  if (r === edgeless.ERR) return { type: 2, data: null };
  if (r === null || r === undefined) return { type: 0, data: null };
  return { type: 1, data: enc(r) };
};
globalThis.__stop = () => { handlers.handle_stop?.(); };
`;
