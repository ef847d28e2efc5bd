import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'smol-toml';
import { TesseraError } from '../errors/index.js';

// The measurement of a Tessera node: what auditors sign and clients check. It is a SHA-256 over, in
// this order (see docs/trust-model.md):
//   1. "tessera-measurement-v1\n"
//   2. "code\n", then for each file under dist/src ending in .js, sorted by its '/'-separated path:
//      path, NUL, SHA-256(content) in hex, "\n"
//   3. "dependencies\n", then for each runtime (non-dev) package in package-lock.json, sorted by path:
//      path, NUL, version, NUL, integrity, "\n"
//   4. "settings\n", then the measured settings as canonical JSON (keys sorted)
// mr_signer is the SHA-256 of the product name, the same for every build of Tessera: there is no
// vendor key in a software build to measure.

export const SERVICES = ['tms', 'tdfs', 'kms', 'fns', 'node'] as const;

export interface Measurement {
  mr_enclave: string;
  mr_signer: string;
}

/** The settings that change what functions may do, so a change to them is a change to what auditors approved. */
export interface MeasuredSettings {
  function_timeout_ms: number;
  max_function_input_bytes: number;
  /** How process functions are confined, and who may deploy them: a node that runs them unconfined is a different node. */
  fn_confinement: string;
  fn_allow_direct_deploy: boolean;
  fn_allow_egress: boolean;
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const canonical = (value: unknown): string =>
  JSON.stringify(value, (_k, v) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v));

function codeFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...codeFiles(path));
    else if (entry.name.endsWith('.js')) out.push(path);
  }
  return out;
}

/** Measures the installation at `root` (by default, the one this code runs from). */
export function measure(settings: MeasuredSettings, root = ROOT): Measurement {
  const code = join(root, 'dist', 'src');
  const lockPath = join(root, 'package-lock.json');
  if (!existsSync(code)) throw new TesseraError('not_found', `no built code at ${code}; run 'npm run build'`);
  if (!existsSync(lockPath)) throw new TesseraError('not_found', `no package-lock.json at ${root}: dependencies cannot be measured`);
  const hash = createHash('sha256').update('tessera-measurement-v1\n').update('code\n');
  const files = codeFiles(code)
    .map((p) => ({ path: relative(code, p).split(sep).join('/'), full: p }))
    .filter((f) => !f.path.endsWith('.test.js'))
    .sort((a, b) => (a.path < b.path ? -1 : 1));
  for (const f of files) hash.update(`${f.path}\0${createHash('sha256').update(readFileSync(f.full)).digest('hex')}\n`);
  hash.update('dependencies\n');
  const lock = JSON.parse(readFileSync(lockPath, 'utf8')) as { packages: Record<string, { version?: string; integrity?: string; dev?: boolean }> };
  for (const [path, pkg] of Object.entries(lock.packages).filter(([p, pkg]) => p !== '' && !pkg.dev).sort(([a], [b]) => (a < b ? -1 : 1))) {
    hash.update(`${path}\0${pkg.version ?? ''}\0${pkg.integrity ?? ''}\n`);
  }
  hash.update('settings\n').update(canonical(settings));
  return { mr_enclave: hash.digest('hex'), mr_signer: createHash('sha256').update('tessera').digest('hex') };
}

/** enclave_info.toml: one table per service, as in late MesaTEE. All services share one process, so one measurement. */
export function enclaveInfoToml(m: Measurement): string {
  return stringify(Object.fromEntries(SERVICES.map((s) => [s, { mr_enclave: m.mr_enclave, mr_signer: m.mr_signer }]))) + '\n';
}
