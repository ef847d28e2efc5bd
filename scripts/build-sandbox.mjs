// Builds the code that runs inside isolates, into the strings src/sandbox/guest-source.ts hands to an engine:
//  - every src/**/*.sandbox.ts is bundled with esbuild into dist/src/**/<name>.sandbox.bundle.js. tsc has
//    type-checked them already (npm run build runs it first). Each bundle is a script, not a module: an
//    IIFE that finds the host functions as `H` in the scope the sandbox boundary wraps it in;
//  - every src/**/*.sandbox.js is hand-written guest JavaScript whose text is itself the product (the default
//    constitution, which members read): it is type-checked here by TypeScript (checkJs, strict but for
//    implicit any) with the declarations of its sibling <name>.sandbox.d.mts, and copied unchanged as its
//    "bundle".
import { copyFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import ts from 'typescript';

const root = fileURLToPath(new URL('..', import.meta.url));
const files = (dir, suffix) => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name), suffix) : e.name.endsWith(suffix) ? [join(dir, e.name)] : []));
const outOf = (file) => join(root, 'dist', relative(root, file)).replace(/\.sandbox\.[jt]s$/, '.sandbox.bundle.js');

// src/sandbox/guest/ holds guest modules that several bundles import (the part of the `ccf` global apps
// and governance share); they are bundled into those, never run on their own.
const shared = join(root, 'src', 'sandbox', 'guest');
const sources = files(join(root, 'src'), '.sandbox.ts').filter((f) => !f.startsWith(shared + sep));
await Promise.all(
  sources.map((file) =>
    build({
      entryPoints: [file],
      outfile: outOf(file),
      bundle: true,
      format: 'iife',
      // A bundle's exports, if it has any, are a `var __guest` in the scope it runs in (functions/user.ts and
      // the setup script of sandbox/boundary.ts use them). One without exports declares nothing: some run
      // as scripts of their own, where a `var` would be a global that guest code sees.
      // (`export {}` and `export type` make a file a module for tsc and export nothing.)
      ...(/^export\s+(?!type\b|\{\s*\})/m.test(readFileSync(file, 'utf8')) ? { globalName: '__guest' } : {}),
      platform: 'neutral',
      target: 'es2022',
      // Kept readable: a stack trace from guest code points at lines someone can find in the source.
      minify: false,
      legalComments: 'none',
      logLevel: 'warning',
    }),
  ),
);

const verbatim = files(join(root, 'src'), '.sandbox.js');
for (const file of verbatim) {
  const declarations = file.replace(/\.js$/, '.d.mts');
  const program = ts.createProgram(existsSync(declarations) ? [file, declarations] : [file], {
    allowJs: true,
    checkJs: true,
    noEmit: true,
    strict: true,
    // The text has no annotations (they would change what members read), so parameters are `any`; the
    // declarations file checks the exports against what CCF calls instead.
    noImplicitAny: false,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2022.d.ts'],
    types: [],
  });
  const diagnostics = ts.getPreEmitDiagnostics(program);
  if (diagnostics.length > 0) {
    const host = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' };
    console.error(ts.formatDiagnostics(diagnostics, host));
    process.exit(1);
  }
  copyFileSync(file, outOf(file));
}
console.log(`sandbox bundles: ${[...sources, ...verbatim].map((f) => relative(root, f)).join(', ')}`);
