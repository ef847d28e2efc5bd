import { createHash } from 'node:crypto';
import { Ajv } from 'ajv';
import { TesseraError } from '../errors/index.js';
import { guestSource } from '../sandbox/guest-source.js';
import type { JsEngine } from '../sandbox/js/engine.js';
import type { PythonSandbox } from '../sandbox/process/python/sandbox.js';
import type { WasmEngine } from '../sandbox/wasm/engine.js';
import type { Store, Tx } from '../store/types.js';
import type { FileSpec, FunctionContext, FunctionDefinition, FunctionInterface, FunctionType } from './registry.js';

const USER_FUNCTIONS = 'functions.registered';

/**
 * When a user is removed, the registered functions it owns are owned by `archiveId` (an id no principal
 * can have) from the caller's transaction on, so they count in no later user's quota of the same name.
 */
export function archiveFunctionsOf(tx: Tx, name: string, archiveId: string): number {
  let moved = 0;
  for (const [id, f] of tx.list<{ owner: string }>(USER_FUNCTIONS)) {
    if (f.owner !== name) continue;
    tx.put(USER_FUNCTIONS, id, { ...f, owner: archiveId });
    moved++;
  }
  return moved;
}

export interface FunctionLimitMaxima {
  heapMiB: number;
  cpuMs: number;
  memoryPages: number;
}

/**
 * What a user registers. The id is the SHA-256 of all of it, so the same id is always the same code;
 * `functionHash` covers all of it but the name and description, and is what collaborators approve.
 */
export interface FunctionSpec {
  name: string;
  kind: 'js' | 'wasm' | 'python';
  type: FunctionType;
  description?: string;
  /** JS: ES module source(s) by path; WASM: the module, base64; Python: the source (docs/python.md). */
  modules?: Record<string, string>;
  wasm?: string;
  python?: string;
  /** JS: the module path and export to call (default /main.js, entrypoint); WASM and Python: the export or function (default entrypoint). */
  entry?: { module?: string; export?: string };
  interface: FunctionInterface;
  limits?: { cpuMs?: number; heapMiB?: number; memoryPages?: number };
}

export interface RegisteredFunction extends FunctionSpec {
  id: string;
  owner: string;
  code_hash: string;
  /** What collaborators approve: see functionHash. Worked out from the record whenever it is read. */
  function_hash: string;
  created_at: string;
}

const fileSpec = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
    description: { type: 'string' },
    variadic: { type: 'boolean' },
    optional: { type: 'boolean' },
    for: { enum: ['creator', 'file_owner', 'all_participants'] },
    owner_of: { type: 'string' },
  },
};

const SPEC_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'kind', 'type', 'interface'],
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
    kind: { enum: ['js', 'wasm', 'python'] },
    type: { enum: ['Single', 'Multiparty'] },
    description: { type: 'string', maxLength: 1000 },
    modules: { type: 'object', additionalProperties: { type: 'string' } },
    wasm: { type: 'string' },
    python: { type: 'string' },
    entry: { type: 'object', additionalProperties: false, properties: { module: { type: 'string' }, export: { type: 'string' } } },
    interface: {
      type: 'object',
      additionalProperties: false,
      required: ['payload', 'arguments', 'inputs', 'outputs'],
      properties: {
        payload: { enum: ['none', 'text', 'json', 'optional-json'] },
        arguments: { type: 'array', items: { type: 'object', required: ['name'], properties: { name: { type: 'string' }, description: { type: 'string' }, required: { type: 'boolean' } } } },
        inputs: { type: 'array', items: fileSpec },
        outputs: { type: 'array', items: fileSpec },
      },
    },
    limits: {
      type: 'object',
      additionalProperties: false,
      properties: { cpuMs: { type: 'integer', minimum: 10, maximum: 600000 }, heapMiB: { type: 'integer', minimum: 8, maximum: 4096 }, memoryPages: { type: 'integer', minimum: 1, maximum: 65536 } },
    },
  },
};
const validateSpec = new Ajv({ allErrors: true, strict: false }).compile(SPEC_SCHEMA);

const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, x) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x));

/**
 * The hash a task records and its collaborators approve: the SHA-256 of a canonical JSON (keys sorted, no
 * spaces) of everything that decides what the function does and where its results go. Two registrations
 * that differ in any of these have different hashes; fields left out are `null`, exactly as registered
 * (no defaults filled in). The `v` tag keeps this hash from ever equalling a hash of something else.
 */
export function functionHash(spec: Pick<FunctionSpec, 'kind' | 'type' | 'modules' | 'wasm' | 'python' | 'entry' | 'interface' | 'limits'>): string {
  const covered = {
    v: 'tessera.function_hash.v1',
    kind: spec.kind,
    type: spec.type,
    code: spec.kind === 'js' ? { modules: spec.modules ?? null } : spec.kind === 'python' ? { python: spec.python ?? null } : { wasm: spec.wasm ?? null },
    entry: spec.entry ?? null,
    interface: spec.interface,
    limits: spec.limits ?? null,
  };
  return createHash('sha256').update(canonical(covered)).digest('hex');
}

/** JS task functions get `io` built from the host callbacks (task-io.sandbox.ts, bundled at build time). */
const JS_PRELUDE = guestSource(import.meta.url, 'task-io');

/** Teaclave's WAMR executor ABI (teaclave-glue.sandbox.ts): its `imports` and `run`, for this entry and argv. */
const TEACLAVE_GLUE = (entry: string, argv: string[]) =>
  `const TEACLAVE = ${JSON.stringify({ entry, argv })};\n${guestSource(import.meta.url, 'teaclave-glue')}\nconst { imports, run } = __guest;`;

/**
 * Functions users register: JS run in the JS engine, WebAssembly in the WASM engine, each bound to its
 * declared inputs and outputs. Stored content-addressed; a task records the function hash (code,
 * interface with each output's recipient, type, entry, limits) it was approved with, and runs only that.
 */
export class UserFunctions {
  constructor(
    private readonly store: Store,
    private readonly js: JsEngine,
    private readonly wasm: WasmEngine,
    private readonly builtinNames: Set<string>,
    /** The operator's maxima for the limits a function may ask for. */
    private readonly maxima: FunctionLimitMaxima = { heapMiB: 512, cpuMs: 60_000, memoryPages: 16_384 },
    /** Functions one user may own (tasks.max_functions_per_user); no bound when left out. */
    private readonly maxPerOwner?: number,
    /** Runs kind "python" functions; without it they are refused at run time. */
    private readonly python?: PythonSandbox,
  ) {}

  /** Why `limits` is over the operator's maxima, or null; checked at registration and again at every run. */
  private overMaxima(limits: FunctionSpec['limits']): string | null {
    const over = (['heapMiB', 'cpuMs', 'memoryPages'] as const).filter((k) => (limits?.[k] ?? 0) > this.maxima[k]);
    return over.length ? over.map((k) => `limits.${k} ${limits![k]} is over this node's maximum of ${this.maxima[k]}`).join('; ') : null;
  }

  register(owner: string, spec: FunctionSpec): RegisteredFunction {
    if (!validateSpec(spec)) {
      const problems = (validateSpec.errors ?? []).map((e) => `${e.instancePath.slice(1).replaceAll('/', '.') || 'the function'} ${e.message}`).join('; ');
      throw new TesseraError('invalid_input', `cannot register the function: ${problems}`);
    }
    const over = this.overMaxima(spec.limits);
    if (over) throw new TesseraError('invalid_input', `cannot register the function: ${over} (tasks.max_function_*)`);
    if (this.builtinNames.has(spec.name)) throw new TesseraError('conflict', `'${spec.name}' is a built-in function's name; choose another`);
    const code = spec.kind === 'js' ? spec.modules : spec.kind === 'python' ? spec.python : spec.wasm;
    if (!code || (spec.kind === 'js' && Object.keys(spec.modules ?? {}).length === 0)) {
      const needs = { js: 'a js function needs modules: {"/main.js": "<source>"}', wasm: 'a wasm function needs its module as base64 in wasm', python: 'a python function needs its source in python' };
      throw new TesseraError('invalid_input', needs[spec.kind]);
    }
    // function_hash covers only the python source for this kind, so nothing else may ride along unhashed.
    if (spec.kind === 'python' && (spec.modules !== undefined || spec.wasm !== undefined)) throw new TesseraError('invalid_input', 'a python function carries its source in python only (no modules or wasm)');
    if (spec.kind === 'wasm') {
      const bytes = Buffer.from(spec.wasm!, 'base64');
      if (bytes.length < 8 || bytes.readUInt32LE(0) !== 0x6d736100) throw new TesseraError('invalid_input', 'wasm is not a base64 WebAssembly module');
    }
    for (const out of spec.interface.outputs) {
      if (out.for === 'file_owner' && !spec.interface.inputs.some((i) => i.name === out.owner_of)) {
        throw new TesseraError('invalid_input', `output '${out.name}' goes to the owner of an input: name it in owner_of`);
      }
    }
    const codeHash = createHash('sha256').update(canonical(code)).digest('hex');
    const descriptor = { ...spec, description: spec.description ?? '' };
    const id = createHash('sha256').update(canonical(descriptor)).digest('hex');
    const record: RegisteredFunction = { ...descriptor, id, owner, code_hash: codeHash, function_hash: functionHash(spec), created_at: new Date().toISOString() };
    this.store.transact((tx) => {
      if (tx.get(USER_FUNCTIONS, id)) return;
      if (this.maxPerOwner !== undefined) {
        const owned = tx.list<RegisteredFunction>(USER_FUNCTIONS).filter(([, f]) => f.owner === owner).length;
        if (owned >= this.maxPerOwner) throw new TesseraError('too_large', `'${owner}' owns ${owned} registered functions, the quota (tasks.max_functions_per_user)`);
      }
      tx.put(USER_FUNCTIONS, id, record);
    });
    return this.get(id)!;
  }

  /**
   * A registered function. Its function_hash is worked out again from what is stored, never taken from the
   * record, so a record changed in the store (or stored before the hash existed) shows what it would run.
   */
  get(id: string): RegisteredFunction | undefined {
    const f = this.store.read((tx) => tx.get<RegisteredFunction>(USER_FUNCTIONS, id));
    return f && { ...f, function_hash: functionHash(f) };
  }

  list(): RegisteredFunction[] {
    return this.store.read((tx) => tx.list<RegisteredFunction>(USER_FUNCTIONS).map(([, f]) => ({ ...f, function_hash: functionHash(f) })));
  }

  /** The registry's view of a registered function: runnable, with its code hash and the function hash approvals consent to. */
  definition(id: string): FunctionDefinition | undefined {
    const f = this.get(id);
    if (!f) return undefined;
    return { name: f.id, kind: f.kind, type: f.type, codeHash: f.code_hash, functionHash: f.function_hash, description: f.description ?? f.name, interface: f.interface, run: (ctx) => this.execute(f, ctx) };
  }

  private async execute(f: RegisteredFunction, ctx: FunctionContext): Promise<string> {
    const inputs = new Map<string, Buffer>();
    for (const [i, spec] of f.interface.inputs.entries()) {
      const ref = ctx.inputFiles[i];
      if (ref && !spec.variadic) inputs.set(spec.name, await ctx.readFile(ref.file_id));
    }
    const outputs = new Map<string, Buffer>();
    const declaredOutputs = new Set(f.interface.outputs.map((o) => o.name));
    // Host functions take exactly the types they document; the boundary has already made them plain copies.
    const named = (name: unknown): string => {
      if (typeof name !== 'string') throw new TypeError('a file name must be a string');
      return name;
    };
    const host = {
      __tessera_input: (name: string) => {
        name = named(name);
        const data = inputs.get(name);
        if (!data) throw new Error(`no input named '${name}'`);
        return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
      },
      __tessera_input_or_null: (name: string) => {
        name = named(name);
        const data = inputs.get(name);
        return data ? data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) : null;
      },
      __tessera_input_text: (name: string) => {
        name = named(name);
        const data = inputs.get(name);
        if (!data) throw new Error(`no input named '${name}'`);
        return data.toString('utf8');
      },
      __tessera_has_output: (name: string) => declaredOutputs.has(named(name)),
      __tessera_output: (name: string, data: unknown) => {
        if (!declaredOutputs.has(named(name))) throw new Error(`no output named '${name}'`);
        if (typeof data === 'string') outputs.set(name, Buffer.from(data, 'utf8'));
        else if (data instanceof ArrayBuffer) outputs.set(name, Buffer.from(data));
        else if (data instanceof Uint8Array) outputs.set(name, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
        else throw new TypeError('an output must be a string, an ArrayBuffer or a typed array');
      },
    };
    const over = this.overMaxima(f.limits);
    if (over) throw new TesseraError('function_failed', `${f.name} cannot run here: ${over} (tasks.max_function_*)`);
    const args = this.arguments(f, ctx.payload);
    let result: unknown;
    if (f.kind === 'python') {
      if (!this.python) throw new TesseraError('unavailable', `${f.name} cannot run: this node runs no Python`);
      // Limits as for js: heapMiB is what the code may allocate, cpuMs its time (wall clock here).
      const out = (await this.python.run(
        { mode: 'function', code: f.python!, export: f.entry?.export ?? 'entrypoint', args, inputs, outputs: [...declaredOutputs] },
        {
          fn: f.name,
          memoryMib: f.limits?.heapMiB,
          timeoutMs: f.limits?.cpuMs,
          signal: ctx.signal,
          limitNames: { time: f.limits?.cpuMs ? 'limits.cpuMs' : 'tasks.function_timeout_ms', memory: f.limits?.heapMiB ? 'limits.heapMiB' : 'tasks.python_memory_mib' },
        },
      )) as { result: string; outputs: Map<string, Buffer> };
      for (const [name, data] of out.outputs) outputs.set(name, data);
      result = out.result;
    } else if (f.kind === 'js') {
      const entryModule = f.entry?.module ?? '/main.js';
      const exportName = f.entry?.export ?? 'entrypoint';
      result = await this.js.run({
        modules: { ...f.modules, '/__tessera_run.js': `import * as m from ${JSON.stringify('.' + (entryModule.startsWith('/') ? entryModule : '/' + entryModule))}; export function run(args) { return m[${JSON.stringify(exportName)}](args, globalThis.__io); }` },
        entry: '/__tessera_run.js',
        exportName: 'run',
        args: [args],
        prelude: JS_PRELUDE,
        host,
        limits: { heapMiB: f.limits?.heapMiB, cpuMs: f.limits?.cpuMs },
        signal: ctx.signal,
      });
    } else {
      const argv = args && typeof args === 'object' ? Object.entries(args as Record<string, unknown>).flatMap(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]) : [];
      result = await this.wasm.run({
        module: Buffer.from(f.wasm!, 'base64'),
        glue: TEACLAVE_GLUE(f.entry?.export ?? 'entrypoint', argv),
        host,
        limits: { memoryPages: f.limits?.memoryPages, cpuMs: f.limits?.cpuMs, heapMiB: f.limits?.heapMiB },
        signal: ctx.signal,
      });
    }
    if (typeof result !== 'string') throw new TesseraError('function_failed', `${f.name} must return a string, not ${result === null ? 'null' : typeof result}`);
    for (const spec of f.interface.outputs) {
      const data = outputs.get(spec.name);
      if (!data) continue;
      await this.save(spec, data, f, ctx);
    }
    return result;
  }

  private arguments(f: RegisteredFunction, payload: string | null): unknown {
    const mode = f.interface.payload;
    if (mode === 'none') return {};
    if (mode === 'text') return payload;
    if (payload === null) {
      if (mode === 'json') throw new TesseraError('missing_value', `${f.name} needs its arguments as a JSON object in the payload`);
      return {};
    }
    try {
      return JSON.parse(payload);
    } catch {
      throw new TesseraError('invalid_input', `${f.name}: the payload must be JSON`);
    }
  }

  private async save(spec: FileSpec, data: Buffer, f: RegisteredFunction, ctx: FunctionContext) {
    if (spec.for === 'all_participants') return void (await ctx.saveForAllParticipants(data));
    if (spec.for === 'file_owner') {
      const index = f.interface.inputs.findIndex((i) => i.name === spec.owner_of);
      return void (await ctx.saveForFileOwner(data, ctx.inputFiles[index].file_id));
    }
    await ctx.saveForCreator(data);
  }
}
