// Python for mesapy_from_buffer and kind "python" functions: a confined python3 process per run (what
// Tessera ships, src/sandbox/process/python/) against Pyodide (WebAssembly, npm `pyodide`), on the same scripts.
// Baseline, in the same process tree: plain `python3 -I -S -B -c`, unconfined, one process per run.
// Cold start = from nothing to the entrypoint's answer; per call = one more run on a started runtime
// (for the process design every run is a fresh process, so per call = cold start). Memory = peak RSS.
import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PythonSandbox } from '../src/sandbox/process/python/sandbox.js';
import { median } from './stats.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const PYODIDE_COLD = Number(process.env.BENCH_PYODIDE_COLD ?? 3);
const SCRIPTS: Record<string, string> = {
  entrypoint: 'def entrypoint(argv):\n    return 1\n',
  sum_loop: 'def entrypoint(argv):\n    s = 0\n    for i in range(5000000):\n        s += i\n    return s\n',
};
const MAXRSS = "import resource\ndef entrypoint(argv):\n    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n";

const ms = async (f: () => Promise<unknown>) => {
  const t = performance.now();
  await f();
  return performance.now() - t;
};
const stats = (xs: number[]) => ({ median: Number(median(xs).toFixed(1)), min: Number(Math.min(...xs).toFixed(1)), max: Number(Math.max(...xs).toFixed(1)) });

// Plain python3: the script and a call of its entrypoint, nothing else.
const run = promisify(execFile);
const plain = (code: string) => run('/usr/bin/python3', ['-I', '-S', '-B', '-c', `${code}\nprint(entrypoint([]))`]);

const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-python-'));
chmodSync(dir, 0o711);
const sandbox = new PythonSandbox({ confinement: 'bubblewrap', uid: 65534, gid: 65534, runDir: join(dir, 'run'), memoryMib: 256, timeoutMs: 60_000, maxMessageBytes: 1 << 20 });
const confined = (code: string, allowedModules?: string[]) =>
  sandbox.run({ mode: 'mesapy', code, argv: [], onCall: async () => ({}) }, { fn: 'bench', allowedModules });

function pyodide(): Promise<{ wall_ms: number; load_ms: number; rss_after_load_mib: number; rss_end_mib: number; per_call_ms: Record<string, number[]> }> {
  const script = fileURLToPath(new URL('./pyodide-child.js', import.meta.url));
  const t = performance.now();
  const child = spawn(process.execPath, [script, JSON.stringify({ scripts: SCRIPTS, rounds: ROUNDS })], { stdio: ['ignore', 'pipe', 'inherit'] });
  const out: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  return new Promise((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve({ wall_ms: performance.now() - t, ...JSON.parse(Buffer.concat(out).toString()) }) : reject(new Error(`pyodide child exited with ${code}`)))),
  );
}

await confined(SCRIPTS.entrypoint); // the one-off bubblewrap probe is not a run's cost
const result: Record<string, any> = { rounds: ROUNDS, plain_python3: {}, confined_process: {}, pyodide: {} };
for (const [name, code] of Object.entries(SCRIPTS)) {
  const p: number[] = [], c: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    p.push(await ms(() => plain(code)));
    c.push(await ms(() => confined(code)));
  }
  result.plain_python3[name] = stats(p);
  result.confined_process[name] = stats(c);
  process.stderr.write(`  ${name}: plain ${median(p).toFixed(1)} ms, confined ${median(c).toFixed(1)} ms\n`);
}
result.plain_python3.peak_rss_mib = Number((Number((await plain(MAXRSS)).stdout) / 1024).toFixed(1));
const m = (await confined(MAXRSS, ['resource'])) as { marshal: Buffer };
result.confined_process.peak_rss_mib = Number((m.marshal.readInt32LE(1) / 1024).toFixed(1));

const colds: number[] = [], loads: number[] = [], rss: number[] = [];
let calls: Record<string, number[]> = {};
for (let r = 0; r < PYODIDE_COLD; r++) {
  const x = await pyodide();
  // Cold start: process start, Pyodide load and the first entrypoint call.
  colds.push(x.wall_ms - x.per_call_ms.entrypoint.slice(1).reduce((a, b) => a + b, 0) - x.per_call_ms.sum_loop.reduce((a, b) => a + b, 0));
  loads.push(x.load_ms);
  rss.push(x.rss_end_mib);
  calls = x.per_call_ms;
  process.stderr.write(`  pyodide cold ${colds[r].toFixed(0)} ms (load ${x.load_ms.toFixed(0)} ms), rss ${x.rss_end_mib.toFixed(0)} MiB\n`);
}
result.pyodide = {
  cold_start_ms: stats(colds),
  load_ms: stats(loads),
  per_call_warm: { entrypoint: stats(calls.entrypoint), sum_loop: stats(calls.sum_loop) },
  peak_rss_mib: Number(Math.max(...rss).toFixed(1)),
};
result.ratios = {
  confined_vs_plain_cold_start: Number((result.confined_process.entrypoint.median / result.plain_python3.entrypoint.median).toFixed(2)),
  pyodide_vs_plain_cold_start: Number((result.pyodide.cold_start_ms.median / result.plain_python3.entrypoint.median).toFixed(2)),
  pyodide_vs_confined_cold_start: Number((result.pyodide.cold_start_ms.median / result.confined_process.entrypoint.median).toFixed(2)),
  pyodide_warm_vs_plain_sum_loop: Number((result.pyodide.per_call_warm.sum_loop.median / result.plain_python3.sum_loop.median).toFixed(2)),
  pyodide_vs_confined_memory: Number((result.pyodide.peak_rss_mib / result.confined_process.peak_rss_mib).toFixed(2)),
};
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({ benchmark: 'Python runtimes: confined python3 process vs Pyodide, baseline plain python3', ...result }, null, 2));
