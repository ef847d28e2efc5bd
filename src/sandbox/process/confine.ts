import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { type Cgroups, type ProcessGroup } from './cgroups.js';
import { findOnPath } from './lifetime.js';
import { seccompProgram } from './seccomp.js';

// How a function process is confined (docs/fn.md, "Confinement"). With bubblewrap, each process gets new
// user, PID, mount, IPC, UTS and cgroup namespaces (and a network namespace of its own, with only a
// loopback, unless it may reach out); a read-only root that holds only /usr and the loader's links, a few
// files of /etc, the node-provided runtime, its package read-only at /function, a private /tmp and the
// socket directory; and, where the node runs as root, an unprivileged uid of its own choosing. Memory, PIDs and
// CPU are held by control groups (cgroups.ts). `none` runs the process as the node's user, in the
// package directory, and exists only for machines without bubblewrap, where the operator must ask for it.

export type ConfinementMode = 'bubblewrap' | 'none';

export interface ConfinerOptions {
  mode: ConfinementMode;
  /** The uid and gid functions run as when the node runs as root. */
  uid: number;
  gid: number;
  pids: number;
  cpus: number;
  /** Where socket directories and the runtime copy go; must be traversable by `uid`. */
  runDir: string;
  cgroups: Cgroups | null;
}

export interface LaunchRequest {
  /** The package's code on the host (read-only). */
  codeDir: string;
  command: string[];
  /** The function's variables, FN_* already last: nothing here comes from the node's own environment. */
  env: Record<string, string>;
  memoryMb: number;
  /** Whether the function may open network connections (its own network namespace otherwise). */
  network: boolean;
  openFiles: number;
  /** The http-stream socket directory on the host (made by socketDir()). */
  socketDir?: string;
}

export interface Launch {
  /** Shell lines run by the supervising shell before the function starts (cgroup, ulimits). */
  setup: string;
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  /** FN_LISTENER as the function sees it. */
  listener?: string;
  /** Frees the process's cgroup once it has exited. */
  release(): void;
}

/** Inside the sandbox: Fn's own paths. */
export const FUNCTION_DIR = '/function';
const SOCKET_DIR = '/tmp/iofs';
const RUNTIME_BIN = '/opt/tessera/bin';
const SANDBOX_PATH = `${RUNTIME_BIN}:/usr/local/bin:/usr/bin:/bin`;
/** Files of /etc that runtimes read: TLS roots, the loader's cache, Java's alternatives, the time zone. */
const ETC = ['/etc/ssl', '/etc/ca-certificates', '/etc/ld.so.cache', '/etc/alternatives', '/etc/localtime', '/etc/java-17-openjdk', '/etc/ruby'];
/** ...and, with network access, name resolution. */
const ETC_NETWORK = ['/etc/resolv.conf', '/etc/hosts', '/etc/nsswitch.conf', '/etc/gai.conf'];

/** /lib, /lib64, /bin, /sbin as the host has them: links into /usr on a merged-/usr system, or directories. */
function loaderLinks(): string[] {
  const out: string[] = [];
  for (const p of ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']) {
    let st;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) out.push('--symlink', readlinkSync(p), p);
    else if (st.isDirectory()) out.push('--ro-bind', p, p);
  }
  return out;
}

/** bubblewrap's read-only binds of those of `paths` this host has. */
const roBinds = (paths: string[]) => paths.filter((p) => existsSync(p)).flatMap((p) => ['--ro-bind', p, p]);

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** Whether `uid` (not root) could reach `path`: every ancestor searchable, the file itself readable. */
function reachable(path: string, uid: number, gid: number): boolean {
  const parts = path.split(sep).filter(Boolean);
  let at = '/';
  for (let i = 0; i <= parts.length; i++) {
    const st = statSync(at);
    const bits = st.uid === uid ? (st.mode >> 6) & 7 : st.gid === gid ? (st.mode >> 3) & 7 : st.mode & 7;
    const need = i === parts.length ? 5 : 1;
    if ((bits & need) !== need) return false;
    if (i < parts.length) at = join(at, parts[i]);
  }
  return true;
}

export class Confiner {
  readonly bwrap: string | null;
  /** Why bubblewrap cannot be used here, if it cannot. */
  readonly unavailable: string | null;
  private readonly switchUid: boolean;
  private nodeBinary: string | null = null;
  /** What every launch binds or runs, found once: the host's layout does not change under a running node. */
  private readonly setpriv: string | null;
  private readonly rootLinks: string[];
  private readonly etcBinds: string[];
  private readonly networkEtcBinds: string[];
  /** The seccomp filter's file, opened as fd 5 by the supervising shell for bubblewrap; null if none for this machine. */
  readonly seccompFile: string | null;

  constructor(private readonly opts: ConfinerOptions) {
    this.switchUid = isRoot();
    mkdirSync(opts.runDir, { recursive: true });
    // The node's umask (077) would leave it closed to the function's uid.
    chmodSync(opts.runDir, 0o711);
    this.setpriv = findOnPath('setpriv');
    this.rootLinks = loaderLinks();
    this.etcBinds = roBinds(ETC);
    this.networkEtcBinds = roBinds(ETC_NETWORK);
    const bwrap = findOnPath('bwrap');
    this.bwrap = bwrap;
    this.unavailable = bwrap ? this.probe(bwrap) : 'bubblewrap (bwrap) is not installed: apt-get install bubblewrap';
    const program = seccompProgram();
    this.seccompFile = program ? join(opts.runDir, 'seccomp.bpf') : null;
    if (program) writeFileSync(this.seccompFile!, program, { mode: 0o644 });
  }

  get mode(): ConfinementMode {
    return this.opts.mode;
  }

  get limitsBy(): string {
    return this.opts.cgroups ? `cgroup ${this.opts.cgroups.version}` : 'rlimits (no cgroups)';
  }

  /** Can bwrap make the namespaces here, as the uid functions will run as? */
  private probe(bwrap: string): string | null {
    try {
      const argv = this.asFunctionUser([bwrap, '--unshare-all', '--die-with-parent', '--ro-bind', '/usr', '/usr', ...this.rootLinks, '--', '/bin/true']);
      execFileSync(argv[0], argv.slice(1), { stdio: 'pipe', timeout: 10000, env: { PATH: '/usr/bin:/bin' } });
      return null;
    } catch (err) {
      const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim();
      return `bubblewrap cannot create its namespaces here (${stderr || (err as Error).message}); user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone / user.max_user_namespaces)`;
    }
  }

  private asFunctionUser(argv: string[]): string[] {
    return this.switchUid && this.setpriv ? [this.setpriv, `--reuid=${this.opts.uid}`, `--regid=${this.opts.gid}`, '--clear-groups', '--', ...argv] : argv;
  }

  /** A fresh directory for one process's socket, owned by the function's uid. */
  socketDir(): string {
    const dir = mkdtempSync(join(this.opts.runDir, 'fn-'));
    if (this.opts.mode === 'bubblewrap' && this.switchUid) chownSync(dir, this.opts.uid, this.opts.gid);
    return dir;
  }

  /**
   * The node's own executable, where the function's uid can run it: a hard link (or, across file
   * systems, a copy) in the run directory when the node's install is in a place that uid cannot reach.
   */
  private runtimeNode(): string {
    if (this.nodeBinary) return this.nodeBinary;
    let path = process.execPath;
    if (this.switchUid && !reachable(path, this.opts.uid, this.opts.gid)) {
      const dir = join(this.opts.runDir, 'runtime');
      mkdirSync(dir, { recursive: true });
      chmodSync(dir, 0o755);
      const target = join(dir, 'node');
      if (!existsSync(target)) {
        try {
          linkSync(path, target);
        } catch {
          copyFileSync(path, target);
          chmodSync(target, 0o755);
        }
      }
      path = target;
    }
    this.nodeBinary = path;
    return path;
  }

  launch(req: LaunchRequest): Launch {
    if (this.opts.mode === 'bubblewrap' && (this.unavailable || !this.bwrap)) throw new Error(this.unavailable ?? 'bubblewrap is not available');
    const group: ProcessGroup | null = this.opts.cgroups?.create({ memoryMb: req.memoryMb, pids: this.opts.pids, cpus: this.opts.cpus }) ?? null;
    const setup = [group?.join, `ulimit -n ${req.openFiles}`, group ? '' : `ulimit -d ${req.memoryMb * 1024 * 2}`].filter(Boolean).join('\n');
    const release = () => group?.remove();
    if (this.opts.mode === 'none') {
      return {
        setup,
        argv: req.command,
        env: { PATH: [dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':'), ...req.env, ...(req.socketDir ? { FN_LISTENER: `unix:${join(req.socketDir, 'lsnr.sock')}` } : {}) },
        cwd: req.codeDir,
        listener: req.socketDir ? `unix:${join(req.socketDir, 'lsnr.sock')}` : undefined,
        release,
      };
    }
    const seccomp = this.seccompFile ? `exec 5< '${this.seccompFile}'` : '';
    const argv = [
      this.bwrap!,
      '--unshare-user', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try',
      ...(req.network ? [] : ['--unshare-net']),
      '--die-with-parent', '--new-session',
      ...(this.seccompFile ? ['--seccomp', '5'] : []),
      '--uid', String(this.opts.uid), '--gid', String(this.opts.gid), '--hostname', 'fn',
      '--ro-bind', '/usr', '/usr',
      ...this.rootLinks,
      ...this.etcBinds,
      ...(req.network ? this.networkEtcBinds : []),
      '--ro-bind', this.runtimeNode(), `${RUNTIME_BIN}/node`,
      '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp',
      ...(req.socketDir ? ['--bind', req.socketDir, SOCKET_DIR] : []),
      '--ro-bind', req.codeDir, FUNCTION_DIR,
      // bwrap's root is a tmpfs owned by the function's uid: without this, /, and /etc and /opt that bwrap
      // makes in it, are writable, not the read-only root fn.confinement promises. Remounted once every mount
      // point is made; /tmp and the socket directory are mounts of their own and stay writable.
      '--remount-ro', '/',
      '--chdir', FUNCTION_DIR,
      '--',
      ...req.command,
    ];
    const listener = req.socketDir ? `unix:${SOCKET_DIR}/lsnr.sock` : undefined;
    return {
      setup: [setup, seccomp].filter(Boolean).join('\n'),
      argv: this.asFunctionUser(argv),
      // Only what the function is given: the node's own environment (the sealing key's path, tokens) never passes.
      env: { PATH: SANDBOX_PATH, HOME: '/tmp', ...req.env, ...(listener ? { FN_LISTENER: listener } : {}) },
      cwd: '/',
      listener,
      release,
    };
  }
}

