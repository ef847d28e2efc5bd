import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { TesseraError } from '../../../errors/index.js';
import { type ConfinementMode, Confiner } from '../confine.js';
import { endTied, spawnTied } from '../lifetime.js';
import { ALLOWED_PYTHON_MODULES } from './allowed-modules.js';
import { PYTHON_RUNNER } from './runner-source.js';

// Python runs as Debian's python3 in a process confined as process functions are (../confine.ts):
// bubblewrap's namespaces with no network, a read-only root of /usr and a few files of /etc only (none
// of the node's files), an unprivileged uid, seccomp, and rlimits; one process per run. docs/python.md
// says why a process and not Pyodide (measured in bench/python.ts).

export interface PythonSettings {
  confinement: ConfinementMode;
  uid: number;
  gid: number;
  /** Where the confiner keeps its seccomp filter and the empty code directory; traversable by uid. */
  runDir: string;
  /** What the code may allocate (tasks.python_memory_mib), unless a registered function asks for less. */
  memoryMib: number;
  /** The wall-time limit (tasks.function_timeout_ms); also the CPU-time backstop inside the process. */
  timeoutMs: number;
  /** The most the process may send back in one message (inputs and outputs are bounded by files.*). */
  maxMessageBytes: number;
}

/** A file call of mesapy_from_buffer's `mesatee` module; the answer is base64 content or a file id. */
export type PythonCall =
  | { method: 'readFile'; file_id: string }
  | { method: 'saveForCreator' | 'saveForAllParticipants'; data: string }
  | { method: 'saveForFileOwner'; data: string; file_id: string };

export type PythonRequest =
  | { mode: 'mesapy'; code: string; argv: string[]; onCall(call: PythonCall): Promise<{ data?: string; id?: string }> }
  | { mode: 'function'; code: string; export: string; args: unknown; inputs: Map<string, Buffer>; outputs: string[] };

export type PythonResult = { marshal: Buffer } | { result: string; outputs: Map<string, Buffer> };

export interface RunOptions {
  /** Named in every failure. */
  fn: string;
  memoryMib?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** The settings the limits came from, named in failures (the node's keys by default). */
  limitNames?: { time: string; memory: string };
  /** False where the caller's owner enforces the wall time itself (a built-in's worker pool). */
  wallTimer?: boolean;
  /** Tests only: a wider set, to show that the process, not the import guard, is what confines. */
  allowedModules?: readonly string[];
}

const PYTHON = ['/usr/bin/python3', '-I', '-S', '-B', '-c', PYTHON_RUNNER];

export class PythonSandbox {
  private confiner: Confiner | null = null;
  private readonly codeDir: string;

  constructor(
    private readonly settings: PythonSettings,
    /** Told of each process group started and ended: a worker thread's owner must end them if it ends the thread. */
    private readonly onProcess?: (pid: number, running: boolean) => void,
  ) {
    this.codeDir = join(settings.runDir, 'python-empty');
  }

  /** Made on first use: probing bubblewrap costs a process start, which a node without Python tasks need not pay. */
  private confine(): Confiner {
    if (!this.confiner) {
      mkdirSync(this.codeDir, { recursive: true });
      chmodSync(this.codeDir, 0o755);
      const { confinement: mode, uid, gid, runDir } = this.settings;
      this.confiner = new Confiner({ mode, uid, gid, pids: 8, cpus: 1, runDir, cgroups: null });
    }
    return this.confiner;
  }

  async run(req: PythonRequest, opts: RunOptions): Promise<PythonResult> {
    const { fn } = opts;
    const memoryMib = opts.memoryMib ?? this.settings.memoryMib;
    const timeoutMs = opts.timeoutMs ?? this.settings.timeoutMs;
    const confiner = this.confine();
    if (confiner.mode === 'bubblewrap' && confiner.unavailable) {
      throw new TesseraError('unavailable', `${fn} cannot run Python on this node: ${confiner.unavailable}`);
    }
    const names = opts.limitNames ?? { time: 'tasks.function_timeout_ms', memory: 'tasks.python_memory_mib' };
    const allowed = [...(opts.allowedModules ?? ALLOWED_PYTHON_MODULES), ...(req.mode === 'mesapy' ? ['mesatee'] : [])];
    // The interpreter's own start-up is outside the payload's budget (the runner adds the limit to it);
    // the data rlimit the confiner sets is only a coarse outer bound.
    const launch = confiner.launch({ codeDir: this.codeDir, command: PYTHON, env: {}, memoryMb: memoryMib + 64, network: false, openFiles: 64 });
    const child = spawnTied(launch.setup, launch.argv, { cwd: launch.cwd, env: launch.env, stdio: ['pipe', 'pipe', 'pipe'] });
    if (child.pid !== undefined) {
      const pid = child.pid;
      this.onProcess?.(pid, true);
      child.once('exit', () => this.onProcess?.(pid, false));
    }
    child.once('exit', () => launch.release());
    child.stderr!.resume();
    child.stdin!.on('error', () => {});
    const request = {
      mode: req.mode,
      code: req.code,
      allowed,
      memory_bytes: memoryMib * 1024 * 1024,
      cpu_seconds: Math.ceil(timeoutMs / 1000) + 1,
      ...(req.mode === 'mesapy'
        ? { argv: req.argv, export: 'entrypoint' }
        : { export: req.export, args: req.args, outputs: req.outputs, inputs: Object.fromEntries([...req.inputs].map(([k, v]) => [k, v.toString('base64')])) }),
    };
    child.stdin!.write(JSON.stringify(request) + '\n');
    try {
      return await this.converse(child, req, opts, { memoryMib, timeoutMs, allowed, names });
    } finally {
      await endTied(child);
    }
  }

  private converse(child: ChildProcess, req: PythonRequest, opts: RunOptions, limits: Limits): Promise<PythonResult> {
    const { fn } = opts;
    return new Promise<PythonResult>((resolve, reject) => {
      let settled = false;
      const settle = (f: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        f();
      };
      const fail = (err: TesseraError) => settle(() => reject(err));
      const timer = opts.wallTimer === false ? undefined : setTimeout(() => fail(new TesseraError('timeout', `${fn} ran longer than ${limits.timeoutMs} ms (${limits.names.time})`)), limits.timeoutMs);
      const onAbort = () => fail(opts.signal!.reason instanceof TesseraError ? opts.signal!.reason : new TesseraError('timeout', `${fn} was stopped`));
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      // 'close', not 'exit': the last lines of stdout (the answer) may still be unread at 'exit'.
      child.once('close', (code, signal) => {
        const why = signal === 'SIGXCPU' ? `used more than ${Math.ceil(limits.timeoutMs / 1000) + 1} s of CPU` : signal ? `was ended by ${signal}` : `exited with status ${code}`;
        fail(new TesseraError('function_failed', `${fn}: the Python process ${why} without a result (its memory limit is ${limits.memoryMib} MiB, ${limits.names.memory})`));
      });
      const lines = createInterface({ input: child.stdout!, crlfDelay: Infinity });
      let bytes = 0;
      lines.on('line', (line) => {
        bytes += line.length;
        if (bytes > this.settings.maxMessageBytes) return fail(new TesseraError('too_large', `${fn}: the Python code sent back more than ${this.settings.maxMessageBytes} bytes`));
        let msg: any;
        try {
          msg = JSON.parse(line);
        } catch {
          return fail(new TesseraError('function_failed', `${fn}: the Python process broke its protocol`));
        }
        if (msg.t === 'done') {
          if (req.mode === 'mesapy') return settle(() => resolve({ marshal: Buffer.from(String(msg.marshal), 'hex') }));
          const outputs = new Map(Object.entries((msg.outputs ?? {}) as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
          return settle(() => resolve({ result: String(msg.result), outputs }));
        }
        if (msg.t === 'error') return fail(failure(fn, String(msg.kind), String(msg.message), limits));
        if (msg.t === 'call' && req.mode === 'mesapy') {
          bytes = 0;
          req.onCall(msg as PythonCall).then(
            (answer) => child.stdin!.write(JSON.stringify({ ok: true, ...answer }) + '\n'),
            (err: Error) => child.stdin!.write(JSON.stringify({ ok: false, error: err.message }) + '\n'),
          );
          return;
        }
        fail(new TesseraError('function_failed', `${fn}: the Python process broke its protocol`));
      });
    });
  }
}

interface Limits {
  memoryMib: number;
  timeoutMs: number;
  allowed: string[];
  names: { time: string; memory: string };
}

function failure(fn: string, kind: string, message: string, limits: Limits): TesseraError {
  switch (kind) {
    case 'import':
      return new TesseraError('function_failed', `${fn}: ${message} (allowed: ${limits.allowed.join(', ')}; docs/python.md)`);
    case 'memory':
      return new TesseraError('too_large', `${fn}: the Python code allocated past its memory limit of ${limits.memoryMib} MiB (${limits.names.memory})`);
    case 'syntax':
      return new TesseraError('invalid_input', `${fn}: the Python code does not compile: ${message}`);
    case 'entrypoint':
    case 'result':
      return new TesseraError('invalid_input', `${fn}: ${message}`);
    default:
      return new TesseraError('function_failed', `${fn}: the Python code raised ${message}`);
  }
}
