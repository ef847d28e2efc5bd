import { randomBytes } from 'node:crypto';
// A real PostgreSQL 15 (Debian's package) for the store's tests: its own temp directory, a unix socket in
// it and no TCP listener, ended by its pid. The tests run as root and postgres refuses to, so initdb and
// the server run as the existing `postgres` user through setpriv, which execs (unlike runuser, which stays
// as a parent), so the pid we hold is the server's own.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { tempDir } from './cli.js';

/** Debian's PostgreSQL (15 on bookworm): the newest version installed under /usr/lib/postgresql. */
const BIN = (() => {
  const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  return join('/usr/lib/postgresql', versions[0] ?? '15', 'bin');
})();

/** A TCP port nothing listens on now: only the socket's name (.s.PGSQL.<port>) uses it, but shared memory keys derive from it too. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface PostgresServer {
  /** The socket directory (pg's `host` for a unix socket), the port in the socket's name, and the superuser. */
  host: string;
  port: number;
  user: string;
  database: string;
  /** A connection string for the same (pg's `?host=` form for a socket directory). */
  url: string;
  /** The server's pid now (changes with restart()). */
  readonly pid: number;
  /** A new client of the test's own, as superuser, connected. */
  client(): Promise<pg.Client>;
  /** A fresh schema name with `prefix`, a place of its own for one test; `drop` removes it (if the server is up). */
  newSchema(prefix: string): { schema: string; drop(): Promise<void> };
  /** Fast shutdown (SIGINT), and wait for the server to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same data directory and socket. */
  restart(): Promise<void>;
  /** Stops it (if running) and removes its directory. */
  destroy(): Promise<void>;
}

/** PostgreSQL refuses to run as root: as root the server runs as Debian's `postgres` user; otherwise as us. */
const asRoot = process.getuid?.() === 0;

function ids(): { uid: number; gid: number } {
  if (!asRoot) return { uid: process.getuid!(), gid: process.getgid!() };
  return { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) };
}

/** The command that runs `argv` as the server's user, keeping the pid (setpriv execs). */
const asPostgres = (argv: string[]): [string, string[]] => (asRoot ? ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', ...argv]] : [argv[0], argv.slice(1)]);

export async function startPostgres(): Promise<PostgresServer> {
  const dir = tempDir('tessera-pg-');
  const data = join(dir, 'data');
  const sock = join(dir, 'sock');
  mkdirSync(sock);
  const { uid, gid } = ids();
  if (asRoot) {
    chownSync(dir, uid, gid);
    chownSync(sock, uid, gid);
  }
  // --no-sync: initdb's own fsyncs only slow the test; the server itself keeps fsync=on.
  execFileSync(...asPostgres([join(BIN, 'initdb'), '-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-locale', '--no-sync']), { cwd: dir, stdio: 'pipe' });
  const port = await freePort();
  let proc: ChildProcess | null = null;

  const launch = async () => {
    const p = spawn(...asPostgres([join(BIN, 'postgres'), '-D', data, '-k', sock, '-p', String(port), '-c', 'listen_addresses=', '-c', 'max_connections=50']), {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let out = '';
    const ready = await new Promise<boolean>((resolve) => {
      p.stderr!.on('data', (d) => {
        out += d;
        if (out.includes('database system is ready to accept connections')) resolve(true);
      });
      p.on('exit', () => resolve(false));
      p.on('error', () => resolve(false));
    });
    if (!ready) throw new Error(`postgres did not start: ${out}`);
    // Keep draining its log so the pipe never fills.
    p.stderr!.on('data', () => {});
    proc = p;
  };

  const stop = async () => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    process.kill(p.pid!, 'SIGINT');
    await exited;
    proc = null;
  };

  await launch();
  const server: PostgresServer = {
    host: sock,
    port,
    user: 'postgres',
    database: 'postgres',
    url: `postgresql://postgres@/postgres?host=${encodeURIComponent(sock)}&port=${port}`,
    get pid() {
      return proc?.pid ?? -1;
    },
    client: async () => {
      const c = new pg.Client({ host: sock, port, user: 'postgres', database: 'postgres' });
      c.on('error', () => {});
      await c.connect();
      return c;
    },
    newSchema: (prefix) => {
      const schema = `${prefix}_${randomBytes(6).toString('hex')}`;
      return {
        schema,
        drop: async () => {
          if (server.pid < 0) return;
          const c = await server.client();
          await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
          await c.end();
        },
      };
    },
    stop,
    restart: async () => {
      await stop();
      await launch();
    },
    destroy: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}
