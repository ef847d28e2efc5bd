// Child of bench/python.ts: loads Pyodide (npm `pyodide`, WebAssembly) in a fresh Node process, the
// cheapest place it can run (inside an isolated-vm isolate it would need its loader shimmed and cost at
// least this), then runs the benchmark's scripts and reports times and memory as one JSON line.
import { loadPyodide } from 'pyodide';

const { scripts, rounds } = JSON.parse(process.argv[2]) as { scripts: Record<string, string>; rounds: number };
const t0 = performance.now();
const py = await loadPyodide();
const loadMs = performance.now() - t0;
const rssAfterLoad = process.memoryUsage().rss;
const perCall: Record<string, number[]> = {};
for (const [name, code] of Object.entries(scripts)) {
  perCall[name] = [];
  for (let r = 0; r < rounds; r++) {
    // A fresh namespace each call, as a task would need (one interpreter per task would be the cold start).
    const t = performance.now();
    py.runPython(`${code}\nentrypoint([])`, { globals: py.toPy({}) });
    perCall[name].push(performance.now() - t);
  }
}
process.stdout.write(JSON.stringify({ load_ms: loadMs, rss_after_load_mib: rssAfterLoad / 1048576, rss_end_mib: process.memoryUsage().rss / 1048576, per_call_ms: perCall }) + '\n');
