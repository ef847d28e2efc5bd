// Bundles the app with esbuild into one ES module and writes bundle.json, the shape
// `ccf-build-bundle` produces: {"metadata": <app.json>, "modules": [{"name", "module"}]}.
import { build } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ?? join(here, 'bundle.json');
const result = await build({
  entryPoints: [join(here, 'src', 'app.ts')],
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  write: false,
  logLevel: 'warning',
});
const bundle = { metadata: JSON.parse(readFileSync(join(here, 'app.json'), 'utf8')), modules: [{ name: 'app.js', module: result.outputFiles[0].text }] };
writeFileSync(out, JSON.stringify(bundle));
console.log(`wrote ${out} (${result.outputFiles[0].text.length} bytes of JavaScript)`);
