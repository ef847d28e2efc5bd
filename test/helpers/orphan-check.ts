// The end-of-run orphan check (RELIABILITY.md, "Nothing left behind"), loaded by `npm test` and
// `npm run test:long` with --test-global-setup. globalSetup marks the run: every process the run starts
// inherits TESSERA_TEST_RUN=tessera-run-<id> and TMPDIR=<tmp>/tessera-run-<id>. Function processes get a
// scrubbed environment, but their working directory (a function directory made by a test) and, for
// http-stream, their FN_LISTENER socket path are under that TMPDIR. globalTeardown, once every test file
// has finished, looks through /proc for live processes so marked, other than the runner itself; any it
// finds (after a short grace for processes already dying) are printed, killed by pid, and fail the run.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const GRACE_MS = 5000;

let run: { mark: string; dir: string } | undefined;
let done = false;

export interface MarkedProcess {
  pid: number;
  ppid: number;
  cmdline: string;
  cwd: string;
}

/**
 * Live (not zombie) processes, other than this one, whose environment carries `mark`, or whose working
 * directory is `dir` or below it (when given).
 */
export function markedProcesses(mark: string, dir?: string): MarkedProcess[] {
  const found: MarkedProcess[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid …: comm may hold spaces and parentheses, so split after the last ')'.
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z' || state === 'X') continue;
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${name}/cwd`);
      } catch {
        // another user's process, when not root
      }
      let environ = '';
      try {
        environ = readFileSync(`/proc/${name}/environ`, 'latin1');
      } catch {
        // likewise
      }
      if (!environ.includes(mark) && (dir === undefined || (cwd !== dir && !cwd.startsWith(`${dir}/`)))) continue;
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'latin1').split('\0').filter(Boolean).join(' ');
      found.push({ pid: Number(name), ppid: Number(ppid), cmdline, cwd });
    } catch {
      // exited while we looked
    }
  }
  return found;
}

export async function globalSetup() {
  const mark = `tessera-run-${randomBytes(6).toString('hex')}`;
  const dir = join(tmpdir(), mark);
  mkdirSync(dir, { recursive: true });
  run = { mark, dir };
  // Inherited by every test file process, and by everything they start.
  process.env.TESSERA_TEST_RUN = mark;
  process.env.TMPDIR = dir;
}

export async function globalTeardown() {
  if (!run || done) return;
  done = true;
  const { mark, dir } = run;
  const deadline = Date.now() + GRACE_MS;
  let left = markedProcesses(mark, dir);
  while (left.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    left = markedProcesses(mark, dir);
  }
  if (left.length) {
    const lines = left.map((p) => `  pid ${p.pid} (parent ${p.ppid}) in ${p.cwd || '?'}: ${p.cmdline}`);
    process.stderr.write(`\norphan check: ${left.length} process(es) of this test run outlived it; killing them by pid:\n${lines.join('\n')}\n`);
    for (const p of left) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    process.exitCode = 1;
  } else {
    process.stderr.write(`orphan check: no process of this test run (${mark}) is left\n`);
  }
  rmSync(dir, { recursive: true, force: true });
}
