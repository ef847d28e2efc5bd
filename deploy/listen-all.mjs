// Binds the HTTPS listener and every MesaTEE listener of a new data directory to 0.0.0.0 (`tessera init`
// writes 127.0.0.1), for a container whose ports are published (deploy/docker-entrypoint.sh). Run once, at
// the first start: later edits of tessera.toml stay as the operator made them.
//
//   node deploy/listen-all.mjs DATA/tessera.toml
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'smol-toml';

const path = process.argv[2];
if (!path) {
  console.error('usage: node deploy/listen-all.mjs DATA/tessera.toml');
  process.exit(2);
}
const config = parse(readFileSync(path, 'utf8'));
config.http = { ...(config.http ?? {}), host: '0.0.0.0' };
for (const [name, listener] of Object.entries(config.wire ?? {})) {
  if (listener && typeof listener === 'object' && 'port' in listener) config.wire[name] = { ...listener, host: '0.0.0.0' };
}
writeFileSync(path, stringify(config), { mode: 0o600 });
console.error(`listen-all: ${path} binds 0.0.0.0`);
