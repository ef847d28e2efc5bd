import { readFileSync } from 'node:fs';

// Code that runs inside isolates is written as TypeScript in `*.sandbox.ts` files: tsc type-checks them
// with the rest of src/, and `npm run build` (scripts/build-sandbox.mjs) bundles each with esbuild into
// `<name>.sandbox.bundle.js` beside its compiled output in dist/. This reads that bundle, once per process:
// the string is what an engine runs in a context (a prelude or glue, with the host functions in scope as `H`).

const cache = new Map<string, string>();

/**
 * The bundled guest code of `<name>.sandbox.ts` in the caller's folder: call it as
 * `guestSource(import.meta.url, 'prelude')`.
 */
export function guestSource(callerUrl: string, name: string): string {
  const url = new URL(`./${name}.sandbox.bundle.js`, callerUrl);
  let source = cache.get(url.href);
  if (source === undefined) {
    try {
      source = readFileSync(url, 'utf8');
    } catch (err) {
      throw new Error(`the sandbox bundle ${url.pathname} is missing: run \`npm run build\`, which makes it from ${name}.sandbox.ts`, { cause: err });
    }
    cache.set(url.href, source);
  }
  return source;
}
