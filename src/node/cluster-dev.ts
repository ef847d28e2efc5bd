import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TesseraError } from '../errors/index.js';
import { addClusterNode } from './cluster.js';
import { trustNode } from './cluster-trust.js';
import { nodeIdOfPem } from '../governance/nodes.js';
import { memberClient } from '../sdk/member.js';
import { parseAssignment } from './config-edit.js';
import { initDataDir } from './init.js';
import { defaultFnDir } from './datadir.js';

// `tessera cluster dev`: a cluster to try on one machine. A PostgreSQL (Debian's `postgresql`) and a
// nats-server with JetStream (Debian's `nats-server`), both in a temporary directory on free ports, a first
// node made with `init --set` to use them, more nodes made with `cluster add-node`, and every node served by
// its own `tessera serve` process. Everything it starts it ends by process id, and the directory goes too.

export interface DevCluster {
  dir: string;
  postgresUrl: string;
  natsUrl: string;
  nodes: Array<{ name: string; dataDir: string; https: string; proc: ChildProcess }>;
  identities: string;
  stop(): Promise<void>;
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

/** Spawns `argv` and resolves once its output contains `ready`; rejects with that output if it exits first. */
function spawnUntil(argv: [string, string[]], ready: RegExp, what: string, timeoutMs = 60_000): Promise<{ proc: ChildProcess; output: () => string }> {
  const proc = spawn(argv[0], argv[1], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new TesseraError('unavailable', `${what} did not start within ${timeoutMs / 1000} s:\n${out.slice(-2000)}`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      out = (out + d).slice(-65536);
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve({ proc, output: () => out });
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.on('error', (err) => {
      clearTimeout(timer);
      reject(new TesseraError('not_found', `${what} could not be started: ${err.message}`));
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new TesseraError('unavailable', `${what} exited with ${code} before it was ready:\n${out.slice(-2000)}`));
    });
  });
}

/** Debian's PostgreSQL binaries: the newest version under /usr/lib/postgresql. */
function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  if (!versions.length) throw new TesseraError('not_found', 'PostgreSQL is not installed: apt-get install postgresql');
  return join(root, versions[0], 'bin');
}

/** PostgreSQL refuses to run as root: as root, it runs as Debian's `postgres` user (setpriv keeps the pid). */
function asServerUser(dir: string): (argv: string[]) => [string, string[]] {
  if (process.getuid?.() !== 0) return (argv) => [argv[0], argv.slice(1)];
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
  chownSync(dir, uid, gid);
  return (argv) => ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', ...argv]];
}

async function stopProcess(proc: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM') {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill(signal);
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

export interface DevClusterOptions {
  nodes: number;
  users: string[];
  members: string[];
  /** The first node's port base; node i (from 1) listens from base + 100 × (i - 1); 0: free ports for all. */
  portBase: number;
  /** The CLI script to run `serve` with (the running one). */
  cli: string;
  onStep?: (message: string) => void;
}

export async function startDevCluster(opts: DevClusterOptions): Promise<DevCluster> {
  const step = opts.onStep ?? (() => {});
  const dir = mkdtempSync(join(tmpdir(), 'tessera-cluster-'));
  // Traversable (not listable) by the postgres user the database runs as when we are root.
  chmodSync(dir, 0o711);
  const started: ChildProcess[] = [];
  const nodes: DevCluster['nodes'] = [];
  let postgres: ChildProcess | undefined;
  let nats: ChildProcess | undefined;
  const stop = async () => {
    await Promise.all(nodes.map((n) => stopProcess(n.proc)));
    await Promise.all(started.filter((p) => !nodes.some((n) => n.proc === p)).map((p) => stopProcess(p)));
    // SIGINT: PostgreSQL's fast shutdown.
    await stopProcess(postgres, 'SIGINT');
    await stopProcess(nats);
    // Each node's process-function directory (fn.cache_dir's default) is outside its data directory.
    for (const node of nodes) rmSync(defaultFnDir(node.dataDir), { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const bin = postgresBin();
    const pgDir = join(dir, 'postgres');
    const sock = join(pgDir, 'sock');
    mkdirSync(sock, { recursive: true });
    const as = asServerUser(pgDir);
    if (process.getuid?.() === 0) chownSync(sock, Number(execFileSync('id', ['-u', 'postgres']).toString()), Number(execFileSync('id', ['-g', 'postgres']).toString()));
    try {
      execFileSync(...as([join(bin, 'initdb'), '-D', join(pgDir, 'data'), '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-locale']), { stdio: 'pipe' });
    } catch (err) {
      throw new TesseraError('unavailable', `PostgreSQL's initdb failed: ${String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim()}`);
    }
    const pgPort = await freePort();
    postgres = (await spawnUntil(as([join(bin, 'postgres'), '-D', join(pgDir, 'data'), '-k', sock, '-p', String(pgPort), '-c', 'listen_addresses=']), /ready to accept connections/, 'PostgreSQL')).proc;
    started.push(postgres);
    const postgresUrl = `postgresql://postgres@/postgres?host=${encodeURIComponent(sock)}&port=${pgPort}`;
    step(`PostgreSQL on ${sock} (port ${pgPort})`);

    const natsPort = await freePort();
    nats = (await spawnUntil(['nats-server', ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', join(dir, 'nats')]], /Server is ready/, 'nats-server (apt-get install nats-server)')).proc;
    started.push(nats);
    const natsUrl = `nats://127.0.0.1:${natsPort}`;
    step(`NATS JetStream on ${natsUrl}`);

    const settings = ['store.backend=postgres', `store.url=${postgresUrl}`, 'files.blob_store=nats', `nats.url=${natsUrl}`].map(parseAssignment);
    const first = join(dir, 'node1');
    const identities = join(dir, 'node1-identities');
    if (opts.nodes > 1 && opts.members.length === 0) throw new TesseraError('invalid_input', 'a cluster of more than one node needs members: they trust each joining node (--members)');
    await initDataDir({ dir: first, users: opts.users, members: opts.members, settings });
    for (let i = 2; i <= opts.nodes; i++) await addClusterNode({ from: first, dir: join(dir, `node${i}`), name: `node${i}` });
    step(`${opts.nodes} data directories under ${dir}`);

    for (let i = 1; i <= opts.nodes; i++) {
      const dataDir = join(dir, `node${i}`);
      const base = opts.portBase === 0 ? 0 : opts.portBase + 100 * (i - 1);
      const serving = spawnUntil([process.execPath, ['--no-node-snapshot', opts.cli, 'serve', '--data', dataDir, '--port-base', String(base)]], /^tessera ready .*$/m, `node${i}`);
      // A joining node waits, Pending, until members trust it: the members made here do so, through node1.
      if (i > 1) {
        serving.catch(() => {});
        const nodeId = nodeIdOfPem(readFileSync(join(dataDir, 'node', 'cert.pem'), 'utf8'));
        const ca = readFileSync(join(first, 'ca.pem'), 'utf8');
        const members = opts.members.map((m) => memberClient({ url: nodes[0].https, cert: readFileSync(join(identities, m, 'cert.pem'), 'utf8'), key: readFileSync(join(identities, m, 'key.pem'), 'utf8'), ca }));
        try {
          await trustNode({ members, nodeId });
        } catch (err) {
          void serving.then(({ proc }) => proc.kill('SIGKILL'), () => {});
          throw err;
        }
        step(`node${i} trusted by the members (transition_node_to_trusted)`);
      }
      const { proc, output } = await serving;
      const https = /https=(\S+)/.exec(output())?.[1] ?? `https://127.0.0.1:${base}`;
      nodes.push({ name: `node${i}`, dataDir, https, proc });
      step(`node${i} serves ${https}`);
    }
    return { dir, postgresUrl, natsUrl, nodes, identities, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
