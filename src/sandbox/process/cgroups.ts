import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// Memory, PIDs and CPU of each function process, through the kernel's control groups: version 2 where
// the machine has the unified hierarchy with those controllers, otherwise version 1's memory, pids and
// cpu hierarchies. Each process gets a group of its own under NODE = tessera-fn-<node pid>, beneath the
// node's own group; the function's supervising shell writes itself into it before it starts anything, so
// everything the function ever forks is counted. Groups left by a node that died are removed at start.

export interface ProcessLimits {
  memoryMb: number;
  pids: number;
  /** CPU time per wall-clock period, in CPUs (1 = one core). */
  cpus: number;
}

export interface ProcessGroup {
  /** The shell line that moves the calling shell (`$$`) into the group. */
  join: string;
  /** Removes the group once its processes are gone (retries while the kernel finishes reaping). */
  remove(): void;
}

export type CgroupVersion = 'v2' | 'v1';

const ROOT = '/sys/fs/cgroup';
const PERIOD_US = 100000;

function ownPath(controller: string | null): string | null {
  // /proc/self/cgroup: "hierarchy-id:controllers:path"; v2 is the line "0::path".
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const [, controllers, path] = line.split(':');
    if (path === undefined) continue;
    if (controller === null ? controllers === '' && line.startsWith('0:') : controllers.split(',').includes(controller)) return path;
  }
  return null;
}

const tryWrite = (path: string, value: string) => {
  try {
    writeFileSync(path, value);
    return true;
  } catch {
    return false;
  }
};

function isDead(pid: number) {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Subdirectories (child groups) of a group. */
function children(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return [];
  }
}

/** Removes a group tree bottom-up (only empty groups can go; one still in use stays for a later sweep). */
function removeTree(dir: string) {
  for (const name of children(dir)) removeTree(join(dir, name));
  try {
    rmdirSync(dir);
  } catch {
    // still has processes, or already gone
  }
}

export class Cgroups {
  private counter = 0;

  private constructor(
    readonly version: CgroupVersion,
    /** Per controller (v1) or the single unified directory (v2): the node's parent group for functions. */
    private readonly bases: Record<string, string>,
  ) {}

  /** The groups this machine lets the node make, or null with the reason it cannot. */
  static detect(): { cgroups: Cgroups | null; reason?: string } {
    const name = `tessera-fn-${process.pid}`;
    try {
      if (existsSync(join(ROOT, 'cgroup.controllers'))) {
        const own = ownPath(null);
        if (own === null) return { cgroups: null, reason: 'no unified cgroup for this process' };
        const parent = join(ROOT, own);
        const available = readFileSync(join(parent, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
        for (const c of ['memory', 'pids', 'cpu']) if (!available.includes(c)) return { cgroups: null, reason: `the cgroup v2 controller '${c}' is not delegated to ${parent}` };
        Cgroups.sweep({ unified: parent });
        const base = join(parent, name);
        mkdirSync(base);
        if (!tryWrite(join(base, 'cgroup.subtree_control'), '+memory +pids +cpu')) {
          rmdirSync(base);
          return { cgroups: null, reason: `cannot enable memory, pids and cpu below ${base}` };
        }
        return { cgroups: new Cgroups('v2', { unified: base }) };
      }
      const bases: Record<string, string> = {};
      for (const c of ['memory', 'pids', 'cpu']) {
        const own = ownPath(c);
        const mount = join(ROOT, c);
        if (own === null || !existsSync(mount)) return { cgroups: null, reason: `no cgroup v1 '${c}' hierarchy` };
        bases[c] = join(mount, own);
      }
      Cgroups.sweep(bases);
      for (const c of Object.keys(bases)) {
        bases[c] = join(bases[c], name);
        mkdirSync(bases[c], { recursive: true });
      }
      return { cgroups: new Cgroups('v1', bases) };
    } catch (err) {
      return { cgroups: null, reason: (err as Error).message };
    }
  }

  /** Removes the groups of nodes that are no longer running. */
  private static sweep(parents: Record<string, string>) {
    for (const parent of Object.values(parents)) {
      for (const name of children(parent)) {
        const m = /^tessera-fn-(\d+)$/.exec(name);
        if (m && Number(m[1]) !== process.pid && isDead(Number(m[1]))) removeTree(join(parent, name));
      }
    }
  }

  /** A new group with these limits. */
  create(limits: ProcessLimits): ProcessGroup {
    const id = `p${++this.counter}`;
    const dirs: string[] = [];
    const memory = String(limits.memoryMb * 1024 * 1024);
    const quota = String(Math.max(1000, Math.round(limits.cpus * PERIOD_US)));
    if (this.version === 'v2') {
      const dir = join(this.bases.unified, id);
      mkdirSync(dir);
      dirs.push(dir);
      writeFileSync(join(dir, 'memory.max'), memory);
      tryWrite(join(dir, 'memory.swap.max'), '0');
      writeFileSync(join(dir, 'pids.max'), String(limits.pids));
      writeFileSync(join(dir, 'cpu.max'), `${quota} ${PERIOD_US}`);
    } else {
      for (const [c, base] of Object.entries(this.bases)) {
        const dir = join(base, id);
        mkdirSync(dir);
        dirs.push(dir);
        if (c === 'memory') {
          writeFileSync(join(dir, 'memory.limit_in_bytes'), memory);
          // Without swap accounting the file is absent; with it, swap may not stretch the limit.
          tryWrite(join(dir, 'memory.memsw.limit_in_bytes'), memory);
        } else if (c === 'pids') writeFileSync(join(dir, 'pids.max'), String(limits.pids));
        else {
          writeFileSync(join(dir, 'cpu.cfs_period_us'), String(PERIOD_US));
          writeFileSync(join(dir, 'cpu.cfs_quota_us'), quota);
        }
      }
    }
    const join_ = dirs.map((d) => `echo $$ > '${join(d, 'cgroup.procs')}'`).join(' && ');
    let removed = false;
    return {
      join: join_,
      remove: () => {
        if (removed) return;
        removed = true;
        let tries = 0;
        const attempt = () => {
          const left = dirs.filter((d) => {
            try {
              rmdirSync(d);
              return false;
            } catch (err) {
              return (err as NodeJS.ErrnoException).code !== 'ENOENT';
            }
          });
          dirs.splice(0, dirs.length, ...left);
          if (dirs.length && ++tries < 50) setTimeout(attempt, 100).unref();
        };
        attempt();
      },
    };
  }

  /** Removes the node's parent groups (at shutdown, after every function process has exited). */
  close() {
    for (const base of Object.values(this.bases)) removeTree(base);
  }
}
