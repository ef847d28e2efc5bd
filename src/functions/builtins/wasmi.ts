import { TesseraError } from '../../errors/index.js';
import { WasmEngine } from '../../sandbox/wasm/engine.js';
import type { FunctionDefinition } from '../registry.js';
import { decodeBase64, requirePayload } from './common.js';

// Late MesaTEE's wasmi_from_buffer (legacy/mesatee_services/fns/sgx_trusted_lib/src/trusted_worker/wasm/
// at bfaaea0794f0, the commit before Teaclave deleted legacy/): the payload is a JSON list of serde
// SgxWasmActions, e.g. [{"LoadModule":{"name":null,"module":[0,97,115,109,…]}},
// {"Invoke":{"module":null,"field":"add","args":[{"I32":1},{"I32":2}]}}]; the result is the JSON list of
// each action's outcome, {"Ok":null} | {"Ok":{"I32":3}} | {"Err":null}. F32/F64 travel as their bits.
// Here the module runs in Tessera's WASM engine (src/sandbox/wasm/) with its default limits, not wasmi.
// Differences: one module per task (LoadModule/TryLoad once, first; Register and a second module are
// refused); a module that cannot load, lacks an invoked export, runs past the time limit or grows past
// the memory limit fails the whole task (MesaTEE answered {"Err":null}); a trap in an invoked function
// is still {"Err":null}, as in MesaTEE. `module` may also be a base64 string.

const FN = 'wasmi_from_buffer';
type Value = { I32: number } | { I64: string } | { F32: number } | { F64: string };
type Action =
  | { Invoke: { module?: string | null; field: string; args: Value[] } }
  | { Get: { module?: string | null; field: string } }
  | { LoadModule: { name?: string | null; module: number[] | string } }
  | { TryLoad: { module: number[] | string } };

const bad = (why: string): never => {
  throw new TesseraError('invalid_input', `${FN}: ${why}`);
};

function parseActions(payload: string): Action[] {
  // Keep 64-bit values exact: quote the digits of I64 and F64 (u64 bits) before JSON.parse.
  let value: unknown;
  try {
    value = JSON.parse(payload.replace(/"(I64|F64)"(\s*):(\s*)(-?\d+)/g, '"$1"$2:$3"$4"'));
  } catch {
    bad('the payload must be a JSON list of actions (LoadModule, TryLoad, Invoke, Get)');
  }
  if (!Array.isArray(value)) bad('the payload must be a JSON list of actions');
  return (value as unknown[]).map((a, i) => {
    const at = `action ${i + 1}`;
    if (!a || typeof a !== 'object' || Object.keys(a).length !== 1) bad(`${at} must be an object with one key, the action's name`);
    const [kind, body] = Object.entries(a as object)[0] as [string, any];
    if (!body || typeof body !== 'object') bad(`${at} (${kind}) must hold an object`);
    if (kind === 'Register') bad(`${at}: Register is not supported (one module per task)`);
    if (kind === 'LoadModule' || kind === 'TryLoad') {
      const m = body.module;
      if (!(typeof m === 'string' || (Array.isArray(m) && m.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)))) {
        bad(`${at} (${kind}): module must be the module's bytes (a list of 0…255) or base64`);
      }
      return a as Action;
    }
    if (kind === 'Invoke' || kind === 'Get') {
      if (typeof body.field !== 'string') bad(`${at} (${kind}): field must be a string`);
      if (kind === 'Invoke') {
        if (!Array.isArray(body.args)) bad(`${at} (Invoke): args must be a list`);
        body.args.forEach((v: any, j: number) => {
          const ok = v && typeof v === 'object' && Object.keys(v).length === 1 && (
            (Number.isInteger(v.I32) && v.I32 >= -(2 ** 31) && v.I32 < 2 ** 31) ||
            (typeof v.I64 === 'string' && BigInt(v.I64) >= -(2n ** 63n) && BigInt(v.I64) < 2n ** 63n) ||
            (Number.isInteger(v.F32) && v.F32 >= 0 && v.F32 < 2 ** 32) ||
            (typeof v.F64 === 'string' && BigInt(v.F64) >= 0n && BigInt(v.F64) < 2n ** 64n));
          if (!ok) bad(`${at} (Invoke): argument ${j + 1} must be {"I32"|"I64"|"F32"|"F64": integer in range}`);
        });
      }
      return a as Action;
    }
    return bad(`${at}: unknown action '${kind}'`);
  });
}

/** The value types of a module's exported functions' results and exported globals, read from its binary. */
function exportTypes(wasm: Uint8Array): { funcs: Map<string, string[]>; globals: Map<string, string> } {
  const T: Record<number, string> = { 0x7f: 'I32', 0x7e: 'I64', 0x7d: 'F32', 0x7c: 'F64' };
  let p = 8;
  const u32 = () => {
    let r = 0, s = 0, b: number;
    do { b = wasm[p++]; r += (b & 0x7f) * 2 ** s; s += 7; } while (b & 0x80 && p < wasm.length);
    return r;
  };
  const name = () => { const n = u32(); const s = Buffer.from(wasm.subarray(p, p + n)).toString('utf8'); p += n; return s; };
  const limits = () => { const f = u32(); u32(); if (f & 1) u32(); };
  const types: string[][] = [], funcs: number[] = [], globals: string[] = [];
  const out = { funcs: new Map<string, string[]>(), globals: new Map<string, string>() };
  while (p < wasm.length) {
    const id = wasm[p++]; const size = u32(); const end = p + size;
    if (id === 1) for (let n = u32(); n > 0; n--) { p++; for (let k = u32(); k > 0; k--) p++; const r: string[] = []; for (let k = u32(); k > 0; k--) r.push(T[wasm[p++]] ?? '?'); types.push(r); }
    else if (id === 2) for (let n = u32(); n > 0; n--) {
      name(); name(); const kind = wasm[p++];
      if (kind === 0) funcs.push(u32()); else if (kind === 1) { p++; limits(); } else if (kind === 2) limits(); else { globals.push(T[wasm[p++]] ?? '?'); p++; }
    }
    else if (id === 3) for (let n = u32(); n > 0; n--) funcs.push(u32());
    else if (id === 6) for (let n = u32(); n > 0; n--) {
      globals.push(T[wasm[p++]] ?? '?'); p++;
      const op = wasm[p++];
      if (op === 0x43) p += 4; else if (op === 0x44) p += 8; else u32();
      p++; // end
    }
    else if (id === 7) for (let n = u32(); n > 0; n--) {
      const field = name(); const kind = wasm[p++]; const idx = u32();
      if (kind === 0) out.funcs.set(field, types[funcs[idx]] ?? []); else if (kind === 3) out.globals.set(field, globals[idx] ?? '?');
    }
    p = end;
  }
  return out;
}

/** Isolate-side: runs the actions on the one instance; values cross as {type: string-or-number}. */
const GLUE = `
function imports() {
  const print = () => {};
  return { spectest: { print, print_i32: print, print_i32_f32: print, print_f64_f64: print, print_f32: print, print_f64: print,
    global_i32: new WebAssembly.Global({ value: 'i32' }, 666), global_f32: new WebAssembly.Global({ value: 'f32' }, 666),
    global_f64: new WebAssembly.Global({ value: 'f64' }, 666),
    // Made only when a module imports them: the spectest memory counts against the sandbox's pages.
    get memory() { return new WebAssembly.Memory({ initial: 1, maximum: 2 }); },
    get table() { return new WebAssembly.Table({ initial: 10, maximum: 20, element: 'anyfunc' }); } } };
}
function run(instance) {
  const dv = new DataView(new ArrayBuffer(8));
  const toJs = (v) => {
    if ('I32' in v) return v.I32;
    if ('I64' in v) return BigInt(v.I64);
    if ('F32' in v) { dv.setUint32(0, v.F32); return dv.getFloat32(0); }
    dv.setBigUint64(0, BigInt(v.F64)); return dv.getFloat64(0);
  };
  const fromJs = (t, x) => {
    if (t === 'I32') return { I32: x | 0 };
    if (t === 'I64') return { I64: String(BigInt.asIntN(64, BigInt(x))) };
    if (t === 'F32') { dv.setFloat32(0, x); return { F32: dv.getUint32(0) }; }
    dv.setFloat64(0, x); return { F64: String(dv.getBigUint64(0)) };
  };
  const out = [];
  for (const a of ACTIONS) {
    if (a.load) { out.push({ Ok: null }); continue; }
    if (a.get) {
      const g = instance.exports[a.field];
      if (!(g instanceof WebAssembly.Global)) throw new Error('NOEXPORT:' + a.field + ' is not an exported global');
      out.push({ Ok: fromJs(a.type, g.value) });
      continue;
    }
    const f = instance.exports[a.field];
    if (typeof f !== 'function') throw new Error('NOEXPORT:' + a.field + ' is not an exported function');
    try {
      const r = f(...a.args.map(toJs));
      out.push({ Ok: a.type ? fromJs(a.type, r) : null });
    } catch (e) {
      if (e instanceof WebAssembly.RuntimeError) { out.push({ Err: null }); continue; }
      throw e;
    }
  }
  return JSON.stringify(out);
}`;

export const wasmiFromBuffer: FunctionDefinition = {
  name: FN,
  kind: 'builtin',
  type: 'Single',
  description: 'runs a WebAssembly module given in the payload (MesaTEE\'s wasmi actions: LoadModule, then Invoke / Get)',
  interface: {
    payload: 'json',
    arguments: [{ name: 'actions', description: 'JSON list: {"LoadModule":{"name":null,"module":[bytes]}}, then {"Invoke":{"module":null,"field":"f","args":[{"I32":1}]}} / {"Get":{"module":null,"field":"g"}}', required: true }],
    inputs: [],
    outputs: [],
  },
  run: async (ctx) => {
    const actions = parseActions(requirePayload(ctx.payload, FN));
    const load = actions[0] as { LoadModule?: { module: number[] | string }; TryLoad?: { module: number[] | string } } | undefined;
    const loaded = load?.LoadModule ?? load?.TryLoad;
    if (!loaded) bad('the first action must be LoadModule (or TryLoad) with the module');
    if (actions.slice(1).some((a) => 'LoadModule' in a || 'TryLoad' in a)) bad('only one module per task (a second LoadModule / TryLoad is not supported)');
    const bytes = typeof loaded!.module === 'string' ? decodeBase64(FN, 'module', loaded!.module) : Buffer.from(loaded!.module);
    if (bytes.length < 8 || bytes.readUInt32BE(0) !== 0x0061736d) bad('module is not a WebAssembly binary (no \\0asm header)');
    let types: ReturnType<typeof exportTypes>;
    try {
      types = exportTypes(bytes);
    } catch {
      return bad('module is not a well-formed WebAssembly binary');
    }
    const plan = actions.map((a) => {
      if ('LoadModule' in a || 'TryLoad' in a) return { load: true };
      if ('Get' in a) {
        if (!types.globals.has(a.Get.field)) bad(`the module has no exported global '${a.Get.field}'`);
        return { get: true, field: a.Get.field, type: types.globals.get(a.Get.field) };
      }
      const { field, args } = a.Invoke;
      if (!types.funcs.has(field)) bad(`the module has no exported function '${field}'`);
      return { field, args, type: types.funcs.get(field)![0] ?? null };
    });
    try {
      const result = (await new WasmEngine().run({
        module: bytes,
        glue: `const ACTIONS = ${JSON.stringify(plan)};\n${GLUE}`,
        signal: ctx.signal,
      })) as string;
      // 64-bit values back to JSON numbers, exact, as serde writes them.
      return result.replace(/"(I64|F64)":"(-?\d+)"/g, '"$1":$2');
    } catch (err) {
      if (err instanceof TesseraError) throw new TesseraError(err.code, `${FN}: ${err.message.replace(/^the module failed: Error: NOEXPORT:/, 'the module: ')}`);
      throw err;
    }
  },
};
