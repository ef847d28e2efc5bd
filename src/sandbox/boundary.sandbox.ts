// The guest side of the host boundary (see boundary.ts for what it does and why). Guest code: bundled at
// build time, it runs first in every context, before any other guest code, inside the setup script
// (boundary.ts, setupScript), which declares LIMITS, NAMES and BLOCKING before it. Its exports are the
// typed host functions (handed to the prelude as `H`) and `invoke` (taken by the engine). Everything it
// uses after setup was captured from intrinsics here, before a guest could replace a prototype method or
// a global: keep it that way when editing (no method calls on guest-reachable values, no iteration
// protocol on them, no property writes that a setter could intercept).
import type { BoundaryLimits } from './boundary.js';
import { capMemory } from './wasm/cap-memory.js';

declare const LIMITS: BoundaryLimits;
declare const NAMES: string[];
declare const BLOCKING: string[];

type Getter = (this: unknown) => any;
const getter = (proto: object, key: string): Getter => Object.getOwnPropertyDescriptor(proto, key)!.get as Getter;
const TypedArrayProto = Object.getPrototypeOf(Uint8Array.prototype) as object;

const I = {
  Array, Uint8Array, Error, TypeError, RangeError, WeakMap, String, Number,
  errors: { Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError } as Record<string, ErrorConstructor>,
  hasOwn: Object.hasOwn, keys: Object.keys, defineProperty: Object.defineProperty, create: Object.create, freeze: Object.freeze,
  isArray: Array.isArray, isView: ArrayBuffer.isView,
  apply: Reflect.apply,
  abLength: getter(ArrayBuffer.prototype, 'byteLength'),
  sabLength: typeof SharedArrayBuffer === 'function' ? getter(SharedArrayBuffer.prototype, 'byteLength') : null,
  taBuffer: getter(TypedArrayProto, 'buffer'),
  taOffset: getter(TypedArrayProto, 'byteOffset'),
  taLength: getter(TypedArrayProto, 'byteLength'),
  dvBuffer: getter(DataView.prototype, 'buffer'),
  dvOffset: getter(DataView.prototype, 'byteOffset'),
  dvLength: getter(DataView.prototype, 'byteLength'),
  u8Set: Uint8Array.prototype.set,
  weakGet: WeakMap.prototype.get, weakSet: WeakMap.prototype.set, weakHas: WeakMap.prototype.has, weakDelete: WeakMap.prototype.delete,
  then: Promise.prototype.then, PromiseResolve: Promise.resolve.bind(Promise),
};
const call = (fn: Function, self: unknown, ...args: unknown[]): any => I.apply(fn, self, args);
// Written as own data properties, so that no setter a guest put on a prototype can intercept a value.
const put = (o: object, k: string | number, value: unknown) => I.defineProperty(o, k, { value, enumerable: true, writable: true, configurable: true });
const isShared = (b: unknown): boolean => {
  if (!I.sabLength) return false;
  try {
    call(I.sabLength, b);
    return true;
  } catch {
    return false;
  }
};
const abLength = (b: unknown): number => {
  try {
    return call(I.abLength, b);
  } catch {
    return -1;
  }
};

// Shared memory, gone.
delete (globalThis as { SharedArrayBuffer?: unknown }).SharedArrayBuffer;
delete (globalThis as { Atomics?: unknown }).Atomics;

// WebAssembly: no shared memories, and one allowance of pages for every memory of this context.
const W = (globalThis as { WebAssembly?: typeof WebAssembly }).WebAssembly;
if (W) {
  const allowance = { left: LIMITS.wasmPages };
  const take = (pages: number, what: string) => {
    if (pages > allowance.left) throw new I.RangeError(what + ' needs ' + pages + ' pages of WebAssembly memory; ' + allowance.left + " of this sandbox's " + LIMITS.wasmPages + ' are left');
    allowance.left -= pages;
  };
  const modulePages = new I.WeakMap<object, number>();
  const RealModule = W.Module, RealInstance = W.Instance, RealMemory = W.Memory, validate = W.validate;
  const bytesOf = (source: any): Uint8Array => {
    let view: Uint8Array;
    if (I.isView(source)) view = I.isView(source) && source instanceof DataView ? new I.Uint8Array(call(I.dvBuffer, source), call(I.dvOffset, source), call(I.dvLength, source)) : new I.Uint8Array(call(I.taBuffer, source), call(I.taOffset, source), call(I.taLength, source));
    else if (abLength(source) >= 0) view = new I.Uint8Array(source);
    else throw new I.TypeError('WebAssembly: the module source must be an ArrayBuffer or a typed array');
    const copy = new I.Uint8Array(call(I.taLength, view));
    call(I.u8Set, copy, view);
    return copy;
  };
  const capped = (source: unknown) => {
    const bytes = bytesOf(source);
    return capMemory(bytes, call(I.taLength, bytes), LIMITS.wasmPages, I.Uint8Array);
  };
  const made = (result: { bytes: Uint8Array; pages: number }) => {
    const m = new RealModule(result.bytes as BufferSource);
    call(I.weakSet, modulePages, m, result.pages);
    return m;
  };
  const pagesOf = (m: unknown): number => {
    if (!call(I.weakHas, modulePages, m)) throw new I.TypeError('WebAssembly: only modules compiled in this sandbox can be instantiated');
    return call(I.weakGet, modulePages, m);
  };
  const SafeModule = function Module(source: unknown) {
    if (!new.target) throw new I.TypeError("Constructor WebAssembly.Module requires 'new'");
    return made(capped(source));
  } as unknown as Record<string, unknown> & { prototype: unknown };
  SafeModule.prototype = RealModule.prototype;
  for (const k of ['exports', 'imports', 'customSections']) SafeModule[k] = (RealModule as unknown as Record<string, unknown>)[k];
  const SafeInstance = function Instance(module: WebAssembly.Module, imports?: WebAssembly.Imports) {
    if (!new.target) throw new I.TypeError("Constructor WebAssembly.Instance requires 'new'");
    take(pagesOf(module), 'this module');
    return new RealInstance(module, imports);
  } as unknown as { new (module: WebAssembly.Module, imports?: WebAssembly.Imports): WebAssembly.Instance; prototype: unknown };
  SafeInstance.prototype = RealInstance.prototype;
  const SafeMemory = function Memory(descriptor: any) {
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
  } as unknown as { prototype: unknown };
  SafeMemory.prototype = RealMemory.prototype;
  const bufferGet = getter(RealMemory.prototype, 'buffer');
  I.defineProperty(RealMemory.prototype, 'buffer', {
    configurable: false,
    enumerable: false,
    get() {
      const b = call(bufferGet, this);
      if (isShared(b)) throw new I.TypeError('shared WebAssembly memory is not available in this sandbox');
      return b;
    },
  });
  const memoryProto = RealMemory.prototype as unknown as Record<string, unknown>;
  for (const k of ['toResizableBuffer', 'toFixedLengthBuffer']) {
    if (memoryProto[k]) {
      I.defineProperty(memoryProto, k, {
        configurable: false,
        writable: false,
        value() {
          throw new I.TypeError('WebAssembly.Memory.' + k + ' is not available in this sandbox');
        },
      });
    }
  }
  for (const [proto, ctor] of [[RealModule.prototype, SafeModule], [RealInstance.prototype, SafeInstance], [RealMemory.prototype, SafeMemory]] as const) I.defineProperty(proto, 'constructor', { configurable: false, writable: false, value: ctor });
  const instantiateSafe = async (source: any, imports?: WebAssembly.Imports) => {
    const module = abLength(source) >= 0 || I.isView(source) ? made(capped(source)) : source;
    const instance = new SafeInstance(module, imports);
    return module === source ? instance : { module, instance };
  };
  const safe: Record<string, unknown> = {
    Module: SafeModule, Instance: SafeInstance, Memory: SafeMemory,
    compile: async (source: unknown) => made(capped(source)),
    instantiate: instantiateSafe,
    validate: (source: unknown) => {
      try {
        return call(validate, W, capped(source).bytes);
      } catch {
        return false;
      }
    },
  };
  for (const [k, v] of I.keys(safe).map((k) => [k, safe[k]] as const)) I.defineProperty(W, k, { configurable: false, writable: false, value: v });
  for (const k of ['compileStreaming', 'instantiateStreaming']) delete (W as unknown as Record<string, unknown>)[k];
}

// Plain data for the host: built from intrinsics only, within a budget checked before each copy.
function toHost(value: unknown, what: string): unknown {
  let bytes = 0, nodes = 0;
  const onPath = new I.WeakMap<object, boolean>();
  const spend = (n: number) => {
    bytes += n;
    if (bytes > LIMITS.maxValueBytes) throw new I.RangeError(what + ' carries more than ' + LIMITS.maxValueBytes + ' bytes across the sandbox boundary');
  };
  const copyBytes = (buffer: ArrayBufferLike, offset: number, length: number) => {
    if (isShared(buffer)) throw new I.TypeError('shared memory cannot be passed to the host; pass an ArrayBuffer');
    spend(length);
    const out = new I.Uint8Array(length);
    call(I.u8Set, out, new I.Uint8Array(buffer, offset, length));
    return out;
  };
  const copy = (v: any, depth: number): unknown => {
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
        const k = keys[i]!;
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

type Callback = (...args: unknown[]) => unknown;
const g = globalThis as { __tessera_host?: Callback; __tessera_host_blocking?: { applySyncPromise: Function } };
const raw = g.__tessera_host;
delete g.__tessera_host;
// Host functions that wait for asynchronous host work (a workflow's call into another instance) block
// this isolate's thread, never the node's, through isolated-vm's applySyncPromise.
const rawBlocking = g.__tessera_host_blocking;
delete g.__tessera_host_blocking;
const applySyncPromise = rawBlocking ? rawBlocking.applySyncPromise : null;
const blocking: Record<string, boolean> = I.create(null);
for (const name of BLOCKING) blocking[name] = true;
const COPY = I.freeze({ arguments: I.freeze({ copy: true }) });
/** The typed host functions, by name: each copies its arguments to plain data before the one raw callback. */
export const host: Record<string, Callback> = I.create(null);
for (const name of NAMES) {
  host[name] = (...args: unknown[]) => {
    const copied = toHost(args, 'the arguments to ' + name) as unknown[];
    const list = new I.Array(copied.length + 1);
    put(list, 0, name);
    for (let i = 0; i < copied.length; i++) put(list, i + 1, copied[i]);
    if (blocking[name]) return I.apply(applySyncPromise!, rawBlocking, [undefined, list, COPY]);
    return I.apply(raw!, undefined, list);
  };
}
I.freeze(host);

/** Calls a guest function for the engine; its result, or what it threw, leaves as plain data. */
const thrown = (e: any) => {
  if (e !== null && (typeof e === 'object' || typeof e === 'function')) {
    let name = 'Error', message = '', stack = '';
    try { name = I.String(e.name); } catch {}
    try { message = I.String(e.message); } catch {}
    try { stack = I.String(e.stack); } catch {}
    const Ctor = I.hasOwn(I.errors, name) ? I.errors[name]! : I.Error;
    const out = new Ctor(message.slice(0, 100000));
    if (Ctor === I.Error && name !== 'Error') I.defineProperty(out, 'name', { value: name.slice(0, 200), writable: true, configurable: true });
    out.stack = stack.slice(0, 100000);
    return out;
  }
  let text = '';
  try { text = I.String(e); } catch {}
  return new I.Error(text.slice(0, 100000));
};
export const invoke = (fn: Function, args: unknown[]) => {
  let result: any;
  try { result = I.apply(fn, undefined, args); } catch (e) { throw thrown(e); }
  let then = null;
  if (result !== null && typeof result === 'object') { try { then = result.then; } catch (e) { throw thrown(e); } }
  if (typeof then !== 'function') return toHost(result, 'the result');
  return call(I.then, I.PromiseResolve(result), (r: unknown) => toHost(r, 'the result'), (e: unknown) => { throw thrown(e); });
};
