import { init as lexerReady, parse } from 'es-module-lexer';
import type ivm from 'isolated-vm';
import { TesseraError } from '../../errors/index.js';

// How a context's modules are found, compiled once and linked, as CCF's QuickJS runtime does it
// (CCF src/js/core/context.cpp, src/js/modules/kv_module_loader.h; QuickJS's default module name
// normaliser). A bundle's modules are keyed '/a/b.js'; inside the runtime a module is named by its key
// without the leading '/' ('a/b.js'), and an import specifier is resolved against that name:
//  - a specifier not starting with '.' is a bundle module name as it stands ('lib/x.js', '/lib/x.js'),
//  - './' and '../' at its start are taken against the importer's folder; nothing else is normalised.
// Each module is compiled and evaluated once per context, however many modules import it, statically or
// with `import()`: two copies would give two classes of the same name (CCF's js-modules test checks this).

/** A module could not be loaded, compiled or evaluated; the message is the one CCF gives. */
export class ModuleLoadError extends TesseraError {}

/** QuickJS's default module name normaliser (js_default_module_normalize_name). */
export function resolveModuleName(base: string, specifier: string): string {
  if (!specifier.startsWith('.')) return specifier;
  const slash = base.lastIndexOf('/');
  let folder = slash >= 0 ? base.slice(0, slash) : '';
  let rest = specifier;
  for (;;) {
    if (rest.startsWith('./')) rest = rest.slice(2);
    else if (rest.startsWith('../')) {
      if (folder === '') break;
      const cut = folder.lastIndexOf('/');
      const last = cut < 0 ? folder : folder.slice(cut + 1);
      if (last === '.' || last === '..') break;
      folder = cut < 0 ? '' : folder.slice(0, cut);
      rest = rest.slice(3);
    } else break;
  }
  return folder === '' ? rest : `${folder}/${rest}`;
}

const keyOf = (name: string) => (name.startsWith('/') ? name : `/${name}`);
const nameOf = (key: string) => key.slice(1);
const reason = (err: unknown) => {
  const e = err as { name?: unknown; message?: unknown } | null;
  return e && typeof e === 'object' && 'message' in e ? `${e.name && e.name !== 'Error' ? String(e.name) : 'Error'}: ${String(e.message)}` : String(err);
};

/**
 * `import()` in a module's source becomes `__tessera_import(<its key>, …)`: isolated-vm gives V8 no
 * dynamic-import hook, so the engine serves it (engine.ts). The lexer finds real import expressions
 * only, not the word in strings, comments or templates; a source it cannot lex is left as it is.
 */
export function rewriteDynamicImports(source: string, key: string): string | null {
  if (!mayImportDynamically(source)) return null;
  const cacheKey = `${key}\0${source}`;
  const known = rewritten.get(cacheKey);
  if (known !== undefined) return known;
  const result = rewrite(source, key);
  if (rewritten.size >= 1000) rewritten.clear();
  rewritten.set(cacheKey, result);
  return result;
}

/** Rewrites by module key and source: every context of an app compiles the same modules again. */
const rewritten = new Map<string, string | null>();
const mentions = new Map<string, boolean>();

/** Whether a source mentions `import(` at all (cached by the string, whose hash V8 keeps). */
export function mayImportDynamically(source: string): boolean {
  let found = mentions.get(source);
  if (found === undefined) {
    found = /\bimport\s*\(/.test(source);
    if (mentions.size >= 1000) mentions.clear();
    mentions.set(source, found);
  }
  return found;
}

function rewrite(source: string, key: string): string | null {
  let imports: ReturnType<typeof parse>[0];
  try {
    [imports] = parse(source);
  } catch {
    return null;
  }
  const dynamic = imports.filter((i) => i.type === 'dynamic' && i.phase === null);
  if (dynamic.length === 0) return null;
  let out = '';
  let at = 0;
  for (const i of dynamic) {
    out += `${source.slice(at, i.importStart)}__tessera_import(${JSON.stringify(key)}, `;
    at = (i as { dynamicStart: number }).dynamicStart + 1;
  }
  return out + source.slice(at);
}

export class ModuleGraph {
  private readonly modules = new Map<string, Promise<ivm.Module>>();
  private readonly keys = new Map<ivm.Module, string>();
  /** Who first imported each module: the chain CCF's messages name. */
  private readonly importers = new Map<string, string | null>();

  constructor(
    private readonly sources: Map<string, string>,
    /** The entry is a wrapper the host wrote: messages start at the module it imports. */
    private readonly wrapper: boolean,
    private readonly compile: (key: string, source: string) => Promise<ivm.Module>,
  ) {}

  /** The key a specifier in module `importer` (a key) names. */
  resolve(importer: string, specifier: string): string {
    return keyOf(resolveModuleName(nameOf(importer), specifier));
  }

  /** The module with this key, compiled once; `importer` is who asked first (null for the entry). */
  load(key: string, importer: string | null): Promise<ivm.Module> {
    const known = this.modules.get(key);
    if (known) return known;
    this.importers.set(key, importer);
    const loading = this.compileOnce(key);
    this.modules.set(key, loading);
    return loading;
  }

  private async compileOnce(key: string): Promise<ivm.Module> {
    const source = this.sources.get(key);
    if (source === undefined) throw this.missing(key);
    await lexerReady;
    const rewritten = rewriteDynamicImports(source, key);
    let module: ivm.Module;
    try {
      module = await this.compile(key, rewritten ?? source);
    } catch (err) {
      if (err instanceof TesseraError) throw err;
      throw this.compileFailure(key, err);
    }
    this.keys.set(module, key);
    return module;
  }

  /** For isolated-vm's instantiate: each import, loaded once. */
  readonly resolver = (specifier: string, referrer: ivm.Module): Promise<ivm.Module> => {
    const importer = this.keys.get(referrer) ?? '/';
    return this.load(this.resolve(importer, specifier), importer);
  };

  /** Modules from the one CCF names first down to `key`. */
  private chain(key: string | null): string[] {
    const out: string[] = [];
    for (let k = key; k !== null && k !== undefined; k = this.importers.get(k) ?? null) out.unshift(k);
    return this.wrapper ? out.slice(1) : out;
  }

  /** CCF: Context::get_module throws this, nested once per module whose imports failed to resolve. */
  private nested(chain: string[], inner: string): string {
    const [top, ...below] = chain;
    return `Failed to resolve dependencies for module '${top}': ${below.map((k) => `ReferenceError: Failed to resolve dependencies for module '${nameOf(k)}': `).join('')}${inner}`;
  }

  private missing(key: string): ModuleLoadError {
    const importer = this.importers.get(key) ?? null;
    const above = this.chain(importer);
    // QuickJS's loader returns no module and sets no exception, so CCF's message ends in "null".
    if (above.length === 0) return new ModuleLoadError('not_found', `Module '${key}' could not be loaded`);
    return new ModuleLoadError('not_found', this.nested(above, 'null'));
  }

  private compileFailure(key: string, err: unknown): ModuleLoadError {
    const above = this.chain(this.importers.get(key) ?? null);
    if (above.length === 0) return new ModuleLoadError('function_failed', `Failed to compile module '${key}': ${reason(err)}`);
    return new ModuleLoadError('function_failed', this.nested(above, `ReferenceError: Failed to compile module '${nameOf(key)}': ${reason(err)}`));
  }

  /** A module threw while the entry's graph was evaluated: CCF names the module its endpoint runs. */
  evaluationFailure(classified: TesseraError, err: unknown): TesseraError {
    if (classified.code !== 'function_failed' || /overflowed its stack/.test(classified.message)) return classified;
    const top = [...this.importers.entries()].find(([, importer]) => importer === null)?.[0];
    const named = top === undefined ? undefined : this.wrapper ? [...this.importers.entries()].find(([, importer]) => importer === top)?.[0] : top;
    return new ModuleLoadError('function_failed', `Failed to execute ${named ?? top}: ${reason(err)}`);
  }
}
