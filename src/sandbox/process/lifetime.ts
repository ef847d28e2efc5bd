import { type ChildProcess, type StdioOptions, execFileSync, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';

// A function's processes never outlive the node that started them (fn.md, "Lifetime"):
// - each function process leads its own process group, and every way the node ends one (shutdown,
//   redeploy, idle reap, a broken or timed-out process, a cold call's deadline) kills the whole group and
//   waits for the leader to exit; when the leader exits by itself, what it left in its group goes too;
// - if the node dies without closing them (SIGKILL, a crash), the group goes too: the function runs under
//   a small shell that `setpriv --pdeathsig TERM` (util-linux) ties to the node, and that kills its whole
//   group when the kernel signals the node's death; a guard closes the window in which the node could die
//   before the signal was armed. Without a setpriv that knows --pdeathsig, a watchdog in the function's
//   group polls the node every second and kills the group once the node is gone.
// A process that leaves its group on purpose (setsid) escapes both; containers are not built (fn.md).

/** How a function process is tied to the node: the kernel's parent-death signal, or a polling watchdog. */
export type LifetimeMode = 'pdeathsig' | 'watchdog';

let detected: { mode: LifetimeMode; setpriv?: string } | undefined;

/** The first executable `name` on PATH, then in the system directories; null if there is none. */
export function findOnPath(name: string): string | null {
  for (const dir of [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/bin', '/bin', '/usr/sbin', '/sbin']) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // next
    }
  }
  return null;
}

function findSetpriv(): string | undefined {
  const path = findOnPath('setpriv');
  if (!path) return undefined;
  try {
    // util-linux before 2.33 has setpriv without --pdeathsig.
    execFileSync(path, ['--pdeathsig', 'KILL', '--', '/bin/sh', '-c', ':'], { stdio: 'ignore', timeout: 5000 });
    return path;
  } catch {
    return undefined;
  }
}

/** The mode this host supports (detected once). */
export function lifetimeMode(): LifetimeMode {
  if (!detected) {
    const setpriv = findSetpriv();
    detected = setpriv ? { mode: 'pdeathsig', setpriv } : { mode: 'watchdog' };
  }
  return detected.mode;
}

/**
 * The argv prefix that has a child die with its parent (`setpriv --pdeathsig KILL --`), or none where
 * setpriv cannot: for helpers (tests, tools) whose children must not outlive them.
 */
export function parentDeathPrefix(): string[] {
  return lifetimeMode() === 'pdeathsig' && detected?.setpriv ? [detected.setpriv, '--pdeathsig', 'KILL', '--'] : [];
}

export interface TiedSpawnOptions {
  cwd: string;
  env: Record<string, string>;
  stdio: StdioOptions;
  /** Overrides the detected mode (tests). */
  mode?: LifetimeMode;
}

/**
 * Runs `command` after the shell commands `setup` (ulimits), as a new process group tied to this node's
 * life. The returned child is the group's leader: the supervising shell (pdeathsig), which exits with the
 * function's status, or the function itself (watchdog).
 */
export function spawnTied(setup: string, command: string[], opts: TiedSpawnOptions): ChildProcess {
  const mode = opts.mode ?? lifetimeMode();
  const node = process.pid;
  let argv: string[];
  if (mode === 'pdeathsig') {
    if (!parentDeathPrefix().length) throw new Error('setpriv --pdeathsig is not available');
    // The signal is armed before the shell starts, so a parent that is still the node when the shell
    // starts will signal it; a parent that already changed (the node died first) is caught by the guard.
    // Until the trap is set, TERM simply ends the shell, which has started nothing yet. The function keeps
    // the shell's stdin (an asynchronous command would otherwise get /dev/null).
    // (Being an asynchronous command, it starts with SIGINT and SIGQUIT ignored; the node never sends them.)
    const script = [`[ "$PPID" = ${node} ] || exit 125`, `trap 'kill -KILL 0' TERM`, setup, 'exec 3<&0', '"$@" <&3 3<&- &', 'exec 0</dev/null 3<&-', 'wait $!'];
    argv = [detected!.setpriv!, '--pdeathsig', 'TERM', '--', '/bin/sh', '-c', script.filter(Boolean).join('\n')];
  } else {
    // The watchdog shares the function's group (killed with it) and holds none of its pipes.
    const watchdog = `( while kill -0 ${node} 2>/dev/null; do sleep 1; done; kill -KILL 0 ) </dev/null >/dev/null 2>&1 &`;
    argv = ['/bin/sh', '-c', [watchdog, setup, 'exec "$@"'].filter(Boolean).join('\n')];
  }
  const child = spawn(argv[0], [...argv.slice(1), 'fn', ...command], { cwd: opts.cwd, env: opts.env, stdio: opts.stdio, detached: true });
  // Whatever the function left behind in its group (its own children, the watchdog) goes with it.
  child.once('exit', () => killGroup(child));
  return child;
}

function killGroup(child: ChildProcess) {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // ESRCH: the group is already empty.
  }
}

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/**
 * Kills a tied process's whole group and resolves once the leader has exited (after at most `waitMs`: a
 * process in uninterruptible sleep takes SIGKILL only when it wakes).
 */
export function endTied(child: ChildProcess | undefined, waitMs = 5000): Promise<void> {
  if (!child || child.pid === undefined || exited(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, waitMs);
    timer.unref();
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    killGroup(child);
  });
}
