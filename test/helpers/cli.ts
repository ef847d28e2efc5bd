import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'smol-toml';
import { defaultFnDir, identitiesDirOf } from '../../src/node/datadir.js';
import { parentDeathPrefix } from '../../src/sandbox/process/lifetime.js';
import { KeyFiles } from '../../src/kms/key-files.js';
import { unsealMasterKey } from '../../src/kms/master-key.js';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const TESSERA = join(REPO, 'bin', 'tessera.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real `tessera` command, as a user would. */
/** Every test process keeps its sealing key in a temporary directory, never in the real home. */
const sealingDir = mkdtempSync(join(tmpdir(), 'tessera-sealing-'));
process.on('exit', () => rmSync(sealingDir, { recursive: true, force: true }));
// Contexts too (~/.config/tessera/contexts.json): a developer's current context must not steer the tests.
export const TEST_ENV = { ...process.env, TESSERA_SEALING_KEY_FILE: join(sealingDir, 'sealing.key'), TESSERA_CONFIG_DIR: join(sealingDir, 'config') };

/** A test node's master key, as the node unseals it (every test node of a process shares the sealing key). */
export const nodeMasterKey = (dir: string) => unsealMasterKey(join(dir, 'master.key.sealed'), TEST_ENV.TESSERA_SEALING_KEY_FILE);
/** A test node's private key files (its CA's, its own), which are kept sealed. */
export const nodeKeyFiles = (dir: string) => new KeyFiles(nodeMasterKey(dir));

/**
 * [file, args] for a child of this test process that dies with it (`setpriv --pdeathsig KILL`), so that
 * a test process killed by the runner leaves no node or CLI behind. The pid stays the child's own.
 */
export function tied(file: string, args: string[]): [string, string[]] {
  const prefix = parentDeathPrefix();
  return prefix.length ? [prefix[0], [...prefix.slice(1), file, ...args]] : [file, args];
}

/** The `tessera` CLI under this Node, as [file, args] for spawn or execFile. */
export const tesseraCommand = (args: string[], bin = TESSERA, nodeArgs: string[] = []) => tied(process.execPath, ['--no-node-snapshot', ...nodeArgs, bin, ...args]);

/** `env` adds to the command's environment (e.g. a skewed clock: helpers/faketime.ts). */
export function tessera(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(...tesseraCommand(args), { cwd: opts.cwd ?? REPO, env: { ...TEST_ENV, ...opts.env } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

export const tempDir = (prefix = 'tessera-test-') => mkdtempSync(join(tmpdir(), prefix));

export interface Identity {
  cert: string;
  key: string;
  token: string;
}

export interface TestNode {
  dir: string;
  proc: ChildProcess;
  ports: Record<string, number>;
  ca: string;
  /** The node's own service identity. */
  service: { cert: string; key: string };
  identity(name: string): Identity;
  logs(): string;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Stops the node with `signal` (SIGTERM: gracefully; SIGKILL: a crash) and starts it again on the same data. */
  restart(signal?: NodeJS.Signals): Promise<void>;
  cleanup(): Promise<void>;
}

function patchConfig(dir: string, patch: (config: Record<string, any>) => void) {
  const path = join(dir, 'tessera.toml');
  const config = parse(readFileSync(path, 'utf8')) as Record<string, any>;
  patch(config);
  writeFileSync(path, stringify(config));
}

/** Puts every listener of a fresh data directory on an ephemeral port. */
export function useEphemeralPorts(dir: string, extra?: (config: Record<string, any>) => void) {
  patchConfig(dir, (config) => {
    config.http.port = 0;
    for (const [key, value] of Object.entries(config.wire)) {
      if (typeof value === 'object' && value && 'port' in value) (value as { port: number }).port = 0;
    }
    extra?.(config);
  });
}

function spawnServe(dir: string, bin = TESSERA, env: Record<string, string> = {}, inheritFile = false, wrapper?: (dir: string) => string[]): Promise<{ proc: ChildProcess; ports: Record<string, number>; output: string[] }> {
  // TESSERA_NODE_ARGS adds Node flags to the node only (e.g. --cpu-prof), which NODE_OPTIONS cannot carry.
  const extra = (process.env.TESSERA_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // inheritFile: the node starts with fd 99 open across exec, as a careless parent (here bash) leaves one.
  // (Node marks inherited descriptors close-on-exec only up to the first gap after 15: uv_disable_stdio_inheritance.)
  // wrapper: an argv prefix that must exec its arguments (so the pid stays the node's), e.g. unshare into a small file system.
  const prefix = wrapper?.(dir) ?? [];
  const [file, args] = prefix.length
    ? tied(prefix[0], [...prefix.slice(1), process.execPath, '--no-node-snapshot', ...extra, bin, 'serve', '--data', dir])
    : tesseraCommand(['serve', '--data', dir], bin, extra);
  const command: [string, string[]] = inheritFile ? ['/bin/bash', ['-c', 'exec 99</dev/null; exec "$@"', 'bash', file, ...args]] : [file, args];
  const proc = spawn(...command, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...TEST_ENV, ...env } });
  const output: string[] = [];
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => {
      // Not left running: it is ended by its pid.
      proc.kill('SIGKILL');
      reject(new Error(`node did not become ready:\n${output.join('')}`));
    }, 30_000);
    proc.stderr!.on('data', (d) => output.push(d.toString()));
    proc.stdout!.on('data', (d: Buffer) => {
      output.push(d.toString());
      buffer += d.toString();
      const line = buffer.split('\n').find((l) => l.startsWith('tessera ready'));
      if (!line) return;
      buffer = '';
      clearTimeout(timer);
      const ports: Record<string, number> = {};
      for (const part of line.split(' ').slice(2)) {
        const [name, addr] = part.split('=');
        ports[name] = Number(addr.split(':').pop());
      }
      resolve({ proc, ports, output });
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node exited with ${code} before ready:\n${output.join('')}`));
    });
  });
}

/**
 * `env` adds to the node's environment (e.g. its TMPDIR). `wrapper` gives an argv prefix for `tessera serve`
 * (not init), given the data directory; it must end by exec'ing its arguments.
 */
export async function startNode(opts: { users?: string[]; members?: string[]; config?: (c: Record<string, any>) => void; bin?: string; env?: Record<string, string>; inheritFile?: boolean; wrapper?: (dir: string) => string[] } = {}): Promise<TestNode> {
  const dir = join(tempDir(), 'data');
  const init = await tessera(['init', '--data', dir, '--users', (opts.users ?? ['alice', 'bob']).join(','), '--members', (opts.members ?? []).join(',')]);
  if (init.code !== 0) throw new Error(`init failed: ${init.stderr}`);
  useEphemeralPorts(dir, opts.config);
  let running = await spawnServe(dir, opts.bin, opts.env, opts.inheritFile, opts.wrapper);
  const node: TestNode = {
    dir,
    get proc() {
      return running.proc;
    },
    get ports() {
      return running.ports;
    },
    ca: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    service: { cert: readFileSync(join(dir, 'node', 'cert.pem'), 'utf8'), key: nodeKeyFiles(dir).read(join(dir, 'node', 'key.sealed'), 'node') },
    identity: (name) => {
      const base = join(identitiesDirOf(dir), name);
      return {
        cert: readFileSync(join(base, 'cert.pem'), 'utf8'),
        key: readFileSync(join(base, 'key.pem'), 'utf8'),
        token: readFileSync(join(base, 'token'), 'utf8').trim(),
      };
    },
    logs: () => running.output.join(''),
    stop: (signal = 'SIGTERM') =>
      new Promise((resolve) => {
        // A process killed by a signal has signalCode set and exitCode null.
        if (running.proc.exitCode !== null || running.proc.signalCode !== null) return resolve(running.proc.exitCode);
        running.proc.once('exit', (code) => resolve(code));
        running.proc.kill(signal);
      }),
    restart: async (signal: NodeJS.Signals = 'SIGTERM') => {
      await node.stop(signal);
      running = await spawnServe(dir, opts.bin, opts.env, opts.inheritFile, opts.wrapper);
    },
    cleanup: async () => {
      await node.stop('SIGKILL');
      rmSync(join(dir, '..'), { recursive: true, force: true });
      // The node's process-function cache and run directory (fn.cache_dir's default) live outside the data directory.
      rmSync(defaultFnDir(dir, opts.env?.TMPDIR ?? tmpdir()), { recursive: true, force: true });
    },
  };
  return node;
}

/** Measures a data directory and has `auditors` sign the result, with the real CLI. */
export async function auditedEnclaveInfo(dataDir: string, auditors: string[], opts: { bin?: string; types?: string[] } = {}) {
  const dir = tempDir('tessera-audit-');
  const run = async (args: string[]) => {
    const r = await new Promise<CliResult>((resolve) =>
      execFile(...tesseraCommand(args, opts.bin ?? TESSERA), { cwd: dir, env: TEST_ENV }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );
    if (r.code !== 0) throw new Error(`tessera ${args.join(' ')} failed: ${r.stderr}`);
    return r;
  };
  await run(['measure', '--data', dataDir, '-o', 'enclave_info.toml']);
  const out = [];
  for (const [i, name] of auditors.entries()) {
    const type = opts.types?.[i] ?? 'ecdsa';
    await run(['audit', 'keygen', name, '--type', type]);
    await run(['audit', 'sign', '--key', `${name}.key.pem`, 'enclave_info.toml']);
    out.push({ name, publicKey: join(dir, `${name}.pub.pem`), privateKey: join(dir, `${name}.key.pem`), signatureFile: join(dir, `${name}.sign.sha256`) });
  }
  return { dir, enclaveInfo: join(dir, 'enclave_info.toml'), auditors: out, run };
}

/**
 * `tessera serve` on a data directory made elsewhere (a restored backup, a store a test set up by hand), as a
 * TestNode. Its users' credentials are read from `identitiesOf`'s DATA-identities (a restored directory has
 * none of its own: credentials are never in a backup). `env` adds to the node's environment.
 */
export async function serveDataDir(dir: string, identitiesOf = dir, opts: { env?: Record<string, string> } = {}): Promise<TestNode> {
  let running = await spawnServe(dir, TESSERA, opts.env);
  const node: TestNode = {
    dir,
    get proc() {
      return running.proc;
    },
    get ports() {
      return running.ports;
    },
    ca: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    service: { cert: readFileSync(join(dir, 'node', 'cert.pem'), 'utf8'), key: nodeKeyFiles(dir).read(join(dir, 'node', 'key.sealed'), 'node') },
    identity: (name) => {
      const base = join(identitiesDirOf(identitiesOf), name);
      return { cert: readFileSync(join(base, 'cert.pem'), 'utf8'), key: readFileSync(join(base, 'key.pem'), 'utf8'), token: readFileSync(join(base, 'token'), 'utf8').trim() };
    },
    logs: () => running.output.join(''),
    stop: (signal = 'SIGTERM') =>
      new Promise((resolve) => {
        if (running.proc.exitCode !== null || running.proc.signalCode !== null) return resolve(running.proc.exitCode);
        running.proc.once('exit', (code) => resolve(code));
        running.proc.kill(signal);
      }),
    // On the same data directory; its ports are ephemeral, so they change.
    restart: async (signal: NodeJS.Signals = 'SIGTERM') => {
      await node.stop(signal);
      running = await spawnServe(dir, TESSERA, opts.env);
    },
    cleanup: async () => {
      await node.stop('SIGKILL');
      rmSync(defaultFnDir(dir), { recursive: true, force: true });
    },
  };
  return node;
}
