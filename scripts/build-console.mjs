// Builds the web console (src/console/ui/) into dist/console/, the static files the node serves at
// /console/ (src/http/routes/console.ts):
//  - type-checks the UI with its own tsconfig (DOM and Preact JSX; the main build has no DOM types);
//  - bundles it with esbuild: ES modules with code splitting, so each view is a chunk loaded when it is
//    first opened and the first view carries only the shell;
//  - writes a gzip and a Brotli copy of every file next to it (the node serves those as they are, with
//    no compression work per request), and prints the compressed size of the first view's script.
// The first view must stay under FIRST_VIEW_BUDGET compressed bytes (issue 21): the build fails past it.
import { cpSync, mkdirSync, rmSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import ts from 'typescript';

const root = fileURLToPath(new URL('..', import.meta.url));
const ui = join(root, 'src', 'console', 'ui');
const out = join(root, 'dist', 'console');
export const FIRST_VIEW_BUDGET = 200 * 1024;

const config = ts.getParsedCommandLineOfConfigFile(join(ui, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n')); } });
const program = ts.createProgram(config.fileNames, { ...config.options, noEmit: true });
const diagnostics = ts.getPreEmitDiagnostics(program);
if (diagnostics.length > 0) {
  const host = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' };
  console.error(ts.formatDiagnostics(diagnostics, host));
  process.exit(1);
}

// A fresh directory each time: chunks of an earlier build (other hashes) would be served for nothing.
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const result = await build({
  entryPoints: [join(ui, 'main.tsx')],
  outdir: join(out, 'assets'),
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome120', 'firefox120', 'safari17'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: true,
  sourcemap: 'linked',
  metafile: true,
  entryNames: '[name]',
  chunkNames: 'chunk-[hash]',
  legalComments: 'linked',
  logLevel: 'warning',
  // Browser code never needs Node's modules; a library that asks for one fails the build here.
  define: { 'process.env.NODE_ENV': '"production"' },
});
cpSync(join(ui, 'index.html'), join(out, 'index.html'));
cpSync(join(ui, 'console.css'), join(out, 'assets', 'console.css'));

const all = (dir) => readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? all(join(dir, n)) : [join(dir, n)]));
for (const file of all(out)) {
  if (/\.(gz|br|map)$/.test(file)) continue;
  const bytes = readFileSync(file);
  writeFileSync(`${file}.gz`, gzipSync(bytes, { level: 9 }));
  writeFileSync(`${file}.br`, brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
}

// The first view: main.js and every chunk it imports statically (dynamic imports are the lazy views).
const outputs = result.metafile.outputs;
const key = (abs) => relative(root, abs).split('\\').join('/');
const first = new Set();
const walk = (name) => {
  if (first.has(name)) return;
  first.add(name);
  for (const imp of outputs[name].imports) if (imp.kind === 'import-statement') walk(imp.path);
};
walk(key(join(out, 'assets', 'main.js')));
const gz = [...first].reduce((sum, name) => sum + gzipSync(readFileSync(join(root, name)), { level: 9 }).length, 0);
const total = Object.keys(outputs).filter((n) => n.endsWith('.js')).length;
writeFileSync(join(out, 'build.json'), JSON.stringify({ first_view_files: [...first].map((n) => n.replace('dist/console/', '')), first_view_gzip_bytes: gz, chunks: total }, null, 2));
console.log(`console: ${total} script files, first view ${(gz / 1024).toFixed(1)} KiB gzip (budget ${FIRST_VIEW_BUDGET / 1024} KiB)`);
if (gz > FIRST_VIEW_BUDGET) {
  console.error(`console: the first view's script is ${gz} bytes compressed, over the ${FIRST_VIEW_BUDGET}-byte budget`);
  process.exit(1);
}
