import { capMemory } from './wasm/cap-memory.js';

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

const GUEST_BOUNDARY = String.raw`
const I = {
  Array, Uint8Array, Error, TypeError, RangeError, WeakMap, String, Number,
  errors: { Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError },
  hasOwn: Object.hasOwn, keys: Object.keys, defineProperty: Object.defineProperty, create: Object.create, freeze: Object.freeze,
  isArray: Array.isArray, isView: ArrayBuffer.isView,
  apply: Reflect.apply,
  abLength: Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'byteLength').get,
  sabLength: typeof SharedArrayBuffer === 'function' ? Object.getOwnPropertyDescriptor(SharedArrayBuffer.prototype, 'byteLength').get : null,
  taBuffer: Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), 'buffer').get,
  taOffset: Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), 'byteOffset').get,
  taLength: Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), 'byteLength').get,
  dvBuffer: Object.getOwnPropertyDescriptor(DataView.prototype, 'buffer').get,
  dvOffset: Object.getOwnPropertyDescriptor(DataView.prototype, 'byteOffset').get,
  dvLength: Object.getOwnPropertyDescriptor(DataView.prototype, 'byteLength').get,
  u8Set: Uint8Array.prototype.set,
  weakGet: WeakMap.prototype.get, weakSet: WeakMap.prototype.set, weakHas: WeakMap.prototype.has, weakDelete: WeakMap.prototype.delete,
  then: Promise.prototype.then, PromiseResolve: Promise.resolve.bind(Promise),
};
const call = (fn, self, ...args) => I.apply(fn, self, args);
// Written as own data properties, so that no setter a guest put on a prototype can intercept a value.
const put = (o, k, value) => I.defineProperty(o, k, { value, enumerable: true, writable: true, configurable: true });
const isShared = (b) => { if (!I.sabLength) return false; try { call(I.sabLength, b); return true; } catch { return false; } };
const abLength = (b) => { try { return call(I.abLength, b); } catch { return -1; } };

// Shared memory, gone.
delete globalThis.SharedArrayBuffer;
delete globalThis.Atomics;

// WebAssembly: no shared memories, and one allowance of pages for every memory of this context.
const W = globalThis.WebAssembly;
if (W) {
  const capMemory = ${capMemory.toString()};
  const allowance = { left: LIMITS.wasmPages };
  const take = (pages, what) => {
    if (pages > allowance.left) throw new I.RangeError(what + ' needs ' + pages + ' pages of WebAssembly memory; ' + allowance.left + ' of this sandbox\'s ' + LIMITS.wasmPages + ' are left');
    allowance.left -= pages;
  };
  const modulePages = new I.WeakMap();
  const RealModule = W.Module, RealInstance = W.Instance, RealMemory = W.Memory, validate = W.validate;
  const bytesOf = (source) => {
    let view;
    if (I.isView(source)) view = I.isView(source) && source instanceof DataView ? new I.Uint8Array(call(I.dvBuffer, source), call(I.dvOffset, source), call(I.dvLength, source)) : new I.Uint8Array(call(I.taBuffer, source), call(I.taOffset, source), call(I.taLength, source));
    else if (abLength(source) >= 0) view = new I.Uint8Array(source);
    else throw new I.TypeError('WebAssembly: the module source must be an ArrayBuffer or a typed array');
    const copy = new I.Uint8Array(call(I.taLength, view));
    call(I.u8Set, copy, view);
    return copy;
  };
  const capped = (source) => { const bytes = bytesOf(source); return capMemory(bytes, call(I.taLength, bytes), LIMITS.wasmPages, I.Uint8Array); };
  const made = (result) => { const m = new RealModule(result.bytes); call(I.weakSet, modulePages, m, result.pages); return m; };
  const pagesOf = (m) => { if (!call(I.weakHas, modulePages, m)) throw new I.TypeError('WebAssembly: only modules compiled in this sandbox can be instantiated'); return call(I.weakGet, modulePages, m); };
  const SafeModule = function Module(source) { if (!new.target) throw new I.TypeError("Constructor WebAssembly.Module requires 'new'"); return made(capped(source)); };
  SafeModule.prototype = RealModule.prototype;
  for (const k of ['exports', 'imports', 'customSections']) SafeModule[k] = RealModule[k];
  const SafeInstance = function Instance(module, imports) { if (!new.target) throw new I.TypeError("Constructor WebAssembly.Instance requires 'new'"); take(pagesOf(module), 'this module'); return new RealInstance(module, imports); };
  SafeInstance.prototype = RealInstance.prototype;
  const SafeMemory = function Memory(descriptor) {
    if (!new.target) throw new I.TypeError("Constructor WebAssembly.Memory requires 'new'");
    if (descriptor === null || typeof descriptor !== 'object') throw new I.TypeError('WebAssembly.Memory(): the descriptor must be an object');
    if (descriptor.shared) throw new I.TypeError('shared WebAssembly memory is not available in this sandbox');
    const initial = I.Number(descriptor.initial ?? descriptor.minimum ?? 0);
    const maximum = descriptor.maximum === undefined ? (initial > LIMITS.wasmPages ? initial : LIMITS.wasmPages) : I.Number(descriptor.maximum);
    if (!(initial >= 0 && initial <= 65536 && maximum >= initial)) throw new I.RangeError('WebAssembly.Memory(): bad initial or maximum');
    if (initial > allowance.left) take(initial, 'this memory');
    const reserve = maximum < allowance.left ? maximum : allowance.left;
    take(reserve, 'this memory');
    return new RealMemory({ initial, maximum: reserve });
  };
  SafeMemory.prototype = RealMemory.prototype;
  const bufferGet = Object.getOwnPropertyDescriptor(RealMemory.prototype, 'buffer').get;
  I.defineProperty(RealMemory.prototype, 'buffer', { configurable: false, enumerable: false, get() { const b = call(bufferGet, this); if (isShared(b)) throw new I.TypeError('shared WebAssembly memory is not available in this sandbox'); return b; } });
  for (const k of ['toResizableBuffer', 'toFixedLengthBuffer']) if (RealMemory.prototype[k]) I.defineProperty(RealMemory.prototype, k, { configurable: false, writable: false, value() { throw new I.TypeError('WebAssembly.Memory.' + k + ' is not available in this sandbox'); } });
  for (const [proto, ctor] of [[RealModule.prototype, SafeModule], [RealInstance.prototype, SafeInstance], [RealMemory.prototype, SafeMemory]]) I.defineProperty(proto, 'constructor', { configurable: false, writable: false, value: ctor });
  const instantiateSafe = async (source, imports) => {
    const module = abLength(source) >= 0 || I.isView(source) ? made(capped(source)) : source;
    const instance = new SafeInstance(module, imports);
    return module === source ? instance : { module, instance };
  };
  const safe = {
    Module: SafeModule, Instance: SafeInstance, Memory: SafeMemory,
    compile: async (source) => made(capped(source)),
    instantiate: instantiateSafe,
    validate: (source) => { try { return call(validate, W, capped(source).bytes); } catch { return false; } },
  };
  for (const [k, v] of I.keys(safe).map((k) => [k, safe[k]])) I.defineProperty(W, k, { configurable: false, writable: false, value: v });
  for (const k of ['compileStreaming', 'instantiateStreaming']) delete W[k];
}

// Plain data for the host: built from intrinsics only, within a budget checked before each copy.
function toHost(value, what) {
  let bytes = 0, nodes = 0;
  const onPath = new I.WeakMap();
  const spend = (n) => {
    bytes += n;
    if (bytes > LIMITS.maxValueBytes) throw new I.RangeError(what + ' carries more than ' + LIMITS.maxValueBytes + ' bytes across the sandbox boundary');
  };
  const copyBytes = (buffer, offset, length) => {
    if (isShared(buffer)) throw new I.TypeError('shared memory cannot be passed to the host; pass an ArrayBuffer');
    spend(length);
    const out = new I.Uint8Array(length);
    call(I.u8Set, out, new I.Uint8Array(buffer, offset, length));
    return out;
  };
  const copy = (v, depth) => {
    switch (typeof v) {
      case 'string': spend(v.length * 2); return v;
      case 'number': case 'boolean': case 'undefined': return v;
      case 'bigint': case 'symbol': case 'function': throw new I.TypeError(what + ': a ' + typeof v + ' cannot be passed to the host');
    }
    if (v === null) return null;
    if (++nodes > 100000) throw new I.RangeError(what + ' has more than 100000 objects');
    if (depth > 64) throw new I.RangeError(what + ' nests more than 64 levels deep');
    if (isShared(v)) throw new I.TypeError('shared memory (SharedArrayBuffer) cannot be passed to the host; pass an ArrayBuffer');
    const length = abLength(v);
    if (length >= 0) return copyBytes(v, 0, length).buffer;
    if (I.isView(v)) {
      let buffer, offset, n;
      try { buffer = call(I.taBuffer, v); offset = call(I.taOffset, v); n = call(I.taLength, v); }
      catch { buffer = call(I.dvBuffer, v); offset = call(I.dvOffset, v); n = call(I.dvLength, v); }
      return copyBytes(buffer, offset, n);
    }
    if (call(I.weakHas, onPath, v)) throw new I.TypeError(what + ' is cyclic');
    call(I.weakSet, onPath, v, true);
    try {
      if (I.isArray(v)) {
        const n = I.Number(v.length);
        if (!(n >= 0 && n <= 1e7)) throw new I.RangeError(what + ': bad array length');
        spend(n * 8);
        const out = new I.Array(n);
        for (let i = 0; i < n; i++) put(out, i, copy(v[i], depth + 1));
        return out;
      }
      const out = I.create(null);
      const keys = I.keys(v);
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i];
        spend(k.length * 2 + 8);
        put(out, k, copy(v[k], depth + 1));
      }
      return out;
    } finally {
      call(I.weakDelete, onPath, v);
    }
  };
  return copy(value, 0);
}

const raw = globalThis.__tessera_host;
delete globalThis.__tessera_host;
// Host functions that wait for asynchronous host work (a workflow's call into another instance) block
// this isolate's thread, never the node's, through isolated-vm's applySyncPromise.
const rawBlocking = globalThis.__tessera_host_blocking;
delete globalThis.__tessera_host_blocking;
const applySyncPromise = rawBlocking ? rawBlocking.applySyncPromise : null;
const blocking = I.create(null);
for (const name of BLOCKING) blocking[name] = true;
const COPY = I.freeze({ arguments: I.freeze({ copy: true }) });
const host = I.create(null);
for (const name of NAMES) host[name] = (...args) => {
  const copied = toHost(args, 'the arguments to ' + name);
  const list = new I.Array(copied.length + 1);
  put(list, 0, name);
  for (let i = 0; i < copied.length; i++) put(list, i + 1, copied[i]);
  if (blocking[name]) return I.apply(applySyncPromise, rawBlocking, [undefined, list, COPY]);
  return I.apply(raw, undefined, list);
};
I.freeze(host);

/** Calls a guest function for the engine; its result, or what it threw, leaves as plain data. */
const thrown = (e) => {
  if (e !== null && (typeof e === 'object' || typeof e === 'function')) {
    let name = 'Error', message = '', stack = '';
    try { name = I.String(e.name); } catch {}
    try { message = I.String(e.message); } catch {}
    try { stack = I.String(e.stack); } catch {}
    const Ctor = I.hasOwn(I.errors, name) ? I.errors[name] : I.Error;
    const out = new Ctor(message.slice(0, 100000));
    if (Ctor === I.Error && name !== 'Error') I.defineProperty(out, 'name', { value: name.slice(0, 200), writable: true, configurable: true });
    out.stack = stack.slice(0, 100000);
    return out;
  }
  let text = '';
  try { text = I.String(e); } catch {}
  return new I.Error(text.slice(0, 100000));
};
const invoke = (fn, args) => {
  let result;
  try { result = I.apply(fn, undefined, args); } catch (e) { throw thrown(e); }
  let then = null;
  if (result !== null && typeof result === 'object') { try { then = result.then; } catch (e) { throw thrown(e); } }
  if (typeof then !== 'function') return toHost(result, 'the result');
  return call(I.then, I.PromiseResolve(result), (r) => toHost(r, 'the result'), (e) => { throw thrown(e); });
};
`;

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
globalThis.__tessera_invoke = invoke;
(function (H) { ${binds}
${prelude}
}).call(globalThis, host);
})();
`;
}
