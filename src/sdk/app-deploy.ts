import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { TesseraError } from '../errors/index.js';
import type { MemberClient } from './member.js';

// `tessera app deploy`: a CCF app bundle from an app directory laid out as CCF's tooling reads it, and the
// wait for a proposal's votes.
//
// The layout is CCF's (doc/build_apps/js_app_bundle.rst, "Folder Layout"): `app.json` holds the metadata
// (`{"endpoints": {...}}`), and every file under `src/` is a module named by its path relative to `src/`
// with `/` separators (`sub/foo.js`). That is what CCF's test infrastructure does
// (tests/infra/consortium.py, read_bundle_from_dir and read_modules) and what `ccf-build-bundle`
// (js/ccf-app/src/scripts/build_bundle.ts) writes into bundle.json. Like the Python, which globs `**/*`,
// names beginning with a dot (.DS_Store, .eslintrc) are left out. Before submitting, each endpoint's
// `js_module` must name one of the modules: CCF's check and its message
// (`{method} {url}: module '{name}' not found in bundle`).

export interface AppBundle {
  metadata: { endpoints: Record<string, Record<string, Record<string, unknown>>> } & Record<string, unknown>;
  modules: { name: string; module: string }[];
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function listModules(srcDir: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir).sort()) {
      if (entry.startsWith('.')) continue;
      const path = join(dir, entry);
      const st = statSync(path); // follows symbolic links, as CCF's glob does
      if (st.isDirectory()) walk(path);
      else if (st.isFile()) found.push(path);
    }
  };
  walk(srcDir);
  return found;
}

/** The endpoints' module references that no module answers, as CCF's check words them. */
export function missingModules(bundle: AppBundle): string[] {
  // The node strips a leading `/` from module names and from js_module alike, so `/app.js` and `app.js` are one module.
  const strip = (n: string) => n.replace(/^\/+/, '');
  const names = new Set(bundle.modules.map((m) => strip(m.name)));
  const problems: string[] = [];
  for (const [url, methods] of Object.entries(bundle.metadata.endpoints)) {
    for (const [method, info] of Object.entries(methods ?? {})) {
      const module = isObject(info) ? info.js_module : undefined;
      if (typeof module !== 'string') problems.push(`${method} ${url}: js_module must be a string`);
      else if (!names.has(strip(module))) {
        // A TypeScript source of the same name means the app was not built (CCF's npm-app builds into dist/).
        const ts = strip(module).replace(/\.m?js$/, '.ts');
        const hint = ts !== strip(module) && names.has(ts) ? ` (src/${ts} is TypeScript: build the app first and deploy the folder the build writes, with app.json beside its src/)` : '';
        problems.push(`${method} ${url}: module '${module}' not found in bundle${hint}`);
      }
    }
  }
  return problems;
}

function checkMetadata(metadata: unknown, where: string): asserts metadata is AppBundle['metadata'] {
  if (!isObject(metadata) || !isObject(metadata.endpoints)) throw new TesseraError('invalid_input', `${where} must be a JSON object with "endpoints" (CCF's app.json: {"endpoints": {"/path": {"get": {"js_module": …, "js_function": …}}}})`);
  for (const [url, methods] of Object.entries(metadata.endpoints)) {
    if (!isObject(methods)) throw new TesseraError('invalid_input', `${where}: endpoint ${url} must map HTTP methods to their descriptions`);
  }
}

/**
 * The bundle from `path`: an app directory (app.json and src/), or a bundle.json as `ccf-build-bundle`
 * writes it ({metadata, modules}). Every problem is a TesseraError naming the file at fault.
 */
export function readAppBundle(path: string): AppBundle {
  if (!existsSync(path)) throw new TesseraError('not_found', `${path} does not exist: give the app's directory (app.json and src/)`);
  if (statSync(path).isFile()) {
    let bundle: unknown;
    try {
      bundle = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new TesseraError('invalid_input', `${path} is not an app directory, nor a bundle.json: ${(err as Error).message}`);
    }
    if (!isObject(bundle) || !('metadata' in bundle) || !Array.isArray(bundle.modules)) throw new TesseraError('invalid_input', `${path} is not a bundle ({"metadata": {"endpoints": …}, "modules": [{"name", "module"}]}), nor an app directory`);
    checkMetadata(bundle.metadata, `${path}: metadata`);
    for (const m of bundle.modules) {
      if (!isObject(m) || typeof m.name !== 'string' || typeof m.module !== 'string') throw new TesseraError('invalid_input', `${path}: every module needs a string "name" and a string "module"`);
    }
    const problems = missingModules(bundle as unknown as AppBundle);
    if (problems.length) throw new TesseraError('invalid_input', problems.join('\n'));
    return bundle as unknown as AppBundle;
  }
  const appJson = join(path, 'app.json');
  if (!existsSync(appJson)) {
    // CCF's npm-app keeps app.json at its root and builds into dist/ (app.json copied beside dist/src).
    const built = existsSync(join(path, 'dist', 'app.json')) ? ` (${join(path, 'dist')} has one: deploy that)` : '';
    throw new TesseraError('invalid_input', `${path} is not a CCF app directory: it has no app.json${built}. An app directory holds app.json ({"endpoints": …}) and src/ with the modules`);
  }
  let metadata: unknown;
  try {
    metadata = JSON.parse(readFileSync(appJson, 'utf8'));
  } catch (err) {
    throw new TesseraError('invalid_input', `${appJson} is not valid JSON: ${(err as Error).message}`);
  }
  checkMetadata(metadata, appJson);
  const srcDir = join(path, 'src');
  if (!existsSync(srcDir) || !statSync(srcDir).isDirectory()) throw new TesseraError('invalid_input', `${path} has no src/ folder: CCF's layout keeps the app's modules under src/ (js_module names are relative to it)`);
  const files = listModules(srcDir);
  if (!files.length) throw new TesseraError('invalid_input', `${srcDir} holds no modules`);
  const modules = files.map((file) => ({ name: relative(srcDir, file).split(sep).join('/'), module: readFileSync(file, 'utf8') }));
  const bundle: AppBundle = { metadata, modules };
  const problems = missingModules(bundle);
  if (problems.length) throw new TesseraError('invalid_input', problems.join('\n'));
  return bundle;
}

/** The body of a `set_js_app` proposal for `bundle` (CCF's, doc/build_apps/js_app_bundle.rst "Deployment"). */
export const setJsAppProposal = (bundle: AppBundle, disableBytecodeCache = false) => ({ actions: [{ name: 'set_js_app', args: { bundle, disable_bytecode_cache: disableBytecodeCache } }] });

export const removeJsAppProposal = () => ({ actions: [{ name: 'remove_js_app', args: {} }] });

export interface ProposalStatus {
  proposalId: string;
  proposalState: string;
  ballotCount: number;
  failure?: { reason: string };
  [k: string]: unknown;
}

/**
 * Asks for the proposal's state every `intervalMs` until it is no longer Open or `timeoutMs` has passed;
 * `progress` hears each state seen. Resolves with the last state and whether it timed out.
 */
export async function waitForProposal(
  client: MemberClient,
  proposalId: string,
  opts: { timeoutMs: number; intervalMs?: number; progress?: (status: ProposalStatus, elapsedMs: number) => void },
): Promise<{ status: ProposalStatus; timedOut: boolean }> {
  const started = Date.now();
  for (;;) {
    const r = await client.call('GET', `/gov/members/proposals/${proposalId}`);
    if (r.status !== 200) throw new TesseraError(r.status === 404 ? 'not_found' : 'unavailable', `reading proposal ${proposalId}: ${r.status} ${r.text}`);
    const status = JSON.parse(r.text) as ProposalStatus;
    const elapsed = Date.now() - started;
    opts.progress?.(status, elapsed);
    if (status.proposalState !== 'Open') return { status, timedOut: false };
    if (elapsed >= opts.timeoutMs) return { status, timedOut: true };
    await new Promise((resolve) => setTimeout(resolve, Math.min(opts.intervalMs ?? 500, Math.max(0, opts.timeoutMs - elapsed))));
  }
}
