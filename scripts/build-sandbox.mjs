// Bundles every src/**/*.sandbox.ts (code that runs inside isolates) with esbuild into
// dist/src/**/<name>.sandbox.bundle.js, the string src/sandbox/guest-source.ts hands to an engine.
// tsc has type-checked them already (npm run build runs it first). Each bundle is a script, not a
// module: an IIFE that finds the host functions as `H` in the scope the sandbox boundary wraps it in.
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const files = (dir) => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.sandbox.ts') ? [join(dir, e.name)] : []));
const sources = files(join(root, 'src'));
await Promise.all(
  sources.map((file) =>
    build({
      entryPoints: [file],
      outfile: join(root, 'dist', relative(root, file)).replace(/\.sandbox\.ts$/, '.sandbox.bundle.js'),
      bundle: true,
      format: 'iife',
      // A bundle's exports, if it has any, are a `var __guest` in the scope it runs in (functions/user.ts uses them).
      globalName: '__guest',
      platform: 'neutral',
      target: 'es2022',
      // Kept readable: a stack trace from guest code points at lines someone can find in the source.
      minify: false,
      legalComments: 'none',
      logLevel: 'warning',
    }),
  ),
);
console.log(`sandbox bundles: ${sources.map((f) => relative(root, f)).join(', ')}`);
