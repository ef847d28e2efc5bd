// npm run bench [-- NAME ...]: runs the benchmarks, each in its own process, prints the target table,
// and (for a whole-suite run) writes docs/BENCHMARKS.md and docs/bench-latency.svg.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { peakRss } from '../test/helpers/proc.js';
import { latencySvg, markdown, type Ran, table } from './report.js';
import { BENCHMARKS, type Benchmark } from './targets.js';

const HELP = `Usage: npm run bench [-- [options] [NAME ...]]

Runs Tessera's benchmark suite. Each benchmark runs in its own process, next to its baseline in the
same run, and reports ratios against it. With no NAME, all run and the report is written to
docs/BENCHMARKS.md (plus docs/bench-latency.svg).

Benchmarks: ${BENCHMARKS.map((b) => b.name).join(', ')}

Options:
  --write    write docs/BENCHMARKS.md even when only some benchmarks ran
  --list     list the benchmarks and what each measures
  -h, --help this text

Examples:
  npm run bench                      # the whole suite, about 5 minutes on 2 cores
  npm run bench -- psi               # one benchmark
  npm run bench -- fn workflows      # two
  BENCH_ROUNDS=5 npm run bench -- files
  BENCH_PSI_LOG2=20 npm run bench -- psi   # skip the 2^24 run
`;

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const { values, positionals } = parseArgs({ allowPositionals: true, options: { help: { type: 'boolean', short: 'h' }, list: { type: 'boolean' }, write: { type: 'boolean' } } });
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
if (values.list) {
  for (const b of BENCHMARKS) process.stdout.write(`${b.name.padEnd(10)} ${b.about}\n`);
  process.exit(0);
}
const unknown = positionals.filter((p) => !BENCHMARKS.some((b) => b.name === p));
if (unknown.length) {
  process.stderr.write(`unknown benchmark ${unknown.map((u) => `'${u}'`).join(', ')}; choose from: ${BENCHMARKS.map((b) => b.name).join(', ')}\n`);
  process.exit(2);
}
const selected = positionals.length ? BENCHMARKS.filter((b) => positionals.includes(b.name)) : BENCHMARKS;

const hwm = (pid: number) => {
  try {
    return peakRss(pid) / 1024 / 1024;
  } catch {
    return 0;
  }
};

function run(b: Benchmark): Promise<Ran> {
  const script = fileURLToPath(new URL(`./${b.script}`, import.meta.url));
  const started = performance.now();
  const child = spawn(process.execPath, ['--no-node-snapshot', '--expose-gc', script], { stdio: ['ignore', 'pipe', 'inherit'], cwd: REPO });
  let peak = 0;
  const poll = setInterval(() => (peak = Math.max(peak, hwm(child.pid!))), 250);
  const out: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  return new Promise((resolve, reject) => {
    child.on('exit', (code, signal) => {
      clearInterval(poll);
      const text = Buffer.concat(out).toString();
      if (code !== 0) return reject(new Error(`benchmark ${b.name} exited with ${signal ?? code}`));
      let raw: any;
      try {
        raw = JSON.parse(text.slice(text.indexOf('{')));
      } catch {
        return reject(new Error(`benchmark ${b.name} printed no JSON result:\n${text}`));
      }
      resolve({ name: b.name, about: b.about, seconds: (performance.now() - started) / 1000, peakRssMiB: peak, rows: b.rows(raw), latencies: b.latencies?.(raw) ?? [], raw });
    });
  });
}

const ran: Ran[] = [];
const failed: string[] = [];
const suiteStarted = performance.now();
for (const [i, b] of selected.entries()) {
  process.stderr.write(`[${i + 1}/${selected.length}] ${b.name}: ${b.about}\n`);
  try {
    const r = await run(b);
    process.stderr.write(`[${i + 1}/${selected.length}] ${b.name} done in ${r.seconds.toFixed(0)} s\n`);
    ran.push(r);
  } catch (err) {
    process.stderr.write(`[${i + 1}/${selected.length}] ${b.name} FAILED: ${(err as Error).message}\n`);
    failed.push(b.name);
  }
}
process.stdout.write(`\n${table(ran)}\n\nsuite: ${((performance.now() - suiteStarted) / 1000).toFixed(0)} s\n`);
if (failed.length) {
  process.stderr.write(`failed: ${failed.join(', ')}; docs/BENCHMARKS.md was left as it was\n`);
  process.exit(1);
}

if (!positionals.length || values.write) {
  const findingsFile = `${REPO}/bench/FINDINGS.md`;
  const findings = existsSync(findingsFile) ? readFileSync(findingsFile, 'utf8') : '';
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO }).toString().trim();
  } catch {}
  writeFileSync(`${REPO}/docs/BENCHMARKS.md`, markdown(ran, findings, commit));
  writeFileSync(`${REPO}/docs/bench-latency.svg`, latencySvg(ran.flatMap((r) => r.latencies)));
  process.stdout.write('wrote docs/BENCHMARKS.md and docs/bench-latency.svg\n');
}
