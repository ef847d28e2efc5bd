// Fn process benchmark, end to end: a real node (started through the CLI) runs an unmodified
// @fnproject/fdk echo function, deployed with `tessera fn deploy`, confined with bubblewrap and cgroups.
//
// Hot calls: a load generator in a process of its own (bench/fn-load.ts) runs CALLERS concurrent callers,
// each on its own kept-alive connection, for ROUND_S seconds per round:
//   - Tessera:  POST /invoke/<id> over HTTPS, mutual TLS and alice's bearer token, as a client would;
//   - baseline: POST /call straight to the function's own hot processes' unix sockets, with Fn-Call-Id and
//     Fn-Deadline (what Fn's agent sends), the same CALLERS callers spread evenly over the same N sockets
//     Tessera's pool uses (caller i on socket i mod N). Same processes, same function, same client
//     concurrency: the baseline is the most the function processes themselves can answer, and the ratio is
//     what the node (TLS, auth, routing, the pool, the second HTTP hop) leaves of it. The pool serves one
//     call at a time per process (as Fn's agent does); the direct callers are not held to that, so the
//     baseline is the generous one.
//   - for information ('serial'): one caller per socket, so one call at a time per process, the pool's
//     own discipline with nothing in between (BENCH_FN_SERIAL=0 leaves it out).
// The rounds alternate (direct, tessera, serial, direct, tessera, serial) so that machine noise falls on
// all. Each round also reports CPU per call of the load generator, the node and the function processes
// (from /proc), which says where the time goes better than throughput on a shared 2-core machine.
// max_processes_per_function is one per core (BENCH_FN_PROCESSES): 2 on the 2-core reference machine.
// bench/fn-floor.ts (not in the suite) puts minimal Node proxies in the node's place, for comparison.
//
// Cold start: a new version of a function (new code, so a new id and no hot process) is deployed, and its
// first POST /invoke over an already open HTTPS connection is timed to its answer: the node checks and
// unpacks the package, starts bwrap, the cgroup and Node, and the FDK announces its socket and answers.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { type TestNode, startNode, tessera } from '../test/helpers/cli.js';
import { fnDir, nodeYaml } from '../test/helpers/fn-fixtures.js';
import type { LoadCommand, LoadConfig, LoadResult } from './fn-load.js';
import { mean, median, percentile } from './stats.js';
import { identitiesDirOf } from '../src/node/datadir.js';

/** Hot processes per function (fn.max_processes_per_function): one per core of this machine by default. */
const PROCESSES = Number(process.env.BENCH_FN_PROCESSES ?? Math.max(1, Math.min(4, availableParallelism())));
/** Concurrent callers of the load generator, on both paths. */
const CALLERS = Number(process.env.BENCH_CALLERS ?? 8);
/** Pairs of measured rounds (direct, tessera), and the length of each round. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const ROUND_S = Number(process.env.BENCH_ROUND_S ?? 4);
/** Cold starts measured (one fresh function version each). */
const COLD = Number(process.env.BENCH_COLD ?? 5);
/** Also measure, for information, one caller per socket (one call at a time per process, as the pool does). */
const SERIAL = process.env.BENCH_FN_SERIAL !== '0';
const TARGET_RATIO = 0.5;
const TARGET_COLD_MS = 150;

const round = (x: number, digits = 3) => Number(x.toFixed(digits));
const summary = (xs: number[]) => ({ mean_ms: round(mean(xs)), p50_ms: round(median(xs)), p99_ms: round(percentile(xs, 99)), max_ms: round(xs.reduce((a, b) => Math.max(a, b), 0)) });

/** utime + stime (ms) and parent of every process, from /proc. */
function processTable(): Map<number, { ppid: number; cpuMs: number }> {
  const table = new Map<number, { ppid: number; cpuMs: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      table.set(Number(name), { ppid: Number(fields[1]), cpuMs: ((Number(fields[11]) + Number(fields[12])) * 1000) / 100 }); // USER_HZ = 100
    } catch {
      // exited meanwhile
    }
  }
  return table;
}

/** CPU time so far of the node itself and of every process under it (the function processes), ms. */
function nodeCpu(nodePid: number): { node: number; functions: Map<number, number> } {
  const table = processTable();
  const functions = new Map<number, number>();
  const under = new Set([nodePid]);
  // Parents before children is not guaranteed by pid order: repeat until nothing is added.
  for (let added = true; added; ) {
    added = false;
    for (const [pid, p] of table) {
      if (!under.has(pid) && under.has(p.ppid)) {
        under.add(pid);
        functions.set(pid, p.cpuMs);
        added = true;
      }
    }
  }
  return { node: table.get(nodePid)?.cpuMs ?? 0, functions };
}
const functionsDelta = (a: Map<number, number>, b: Map<number, number>) => [...b].reduce((sum, [pid, ms]) => sum + ms - (a.get(pid) ?? 0), 0);

/** The load generator, a child process of its own; commands go one at a time. */
function startLoad(config: LoadConfig) {
  const script = fileURLToPath(new URL('./fn-load.js', import.meta.url));
  const child: ChildProcess = spawn(process.execPath, [...(process.env.BENCH_LOAD_ARGS ?? '').split(' ').filter(Boolean), script, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const pending: Array<{ resolve: (r: LoadResult) => void; reject: (e: Error) => void }> = [];
  lines.on('line', (line) => pending.shift()?.resolve(JSON.parse(line) as LoadResult));
  child.on('exit', (code) => {
    for (const p of pending.splice(0)) p.reject(new Error(`the load generator exited with ${code}`));
  });
  return {
    run: (cmd: LoadCommand) =>
      new Promise<LoadResult>((resolve, reject) => {
        pending.push({ resolve, reject });
        child.stdin!.write(`${JSON.stringify(cmd)}\n`);
      }),
    pid: child.pid!,
    /** Ends the load generator (stdin closed: it exits on its own) and waits for it. */
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.stdin!.end();
        setTimeout(() => child.kill('SIGKILL'), 5000).unref(); // by its pid, if it does not
      }),
  };
}

/** POST over a kept-alive connection of `agent`; resolves with the status and body. */
function post(agent: Agent, port: number, path: string, token: string, body: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, servername: 'localhost', path, method: 'POST', agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface Round {
  kind: 'direct' | 'tessera' | 'serial';
  calls: number;
  seconds: number;
  calls_per_s: number;
  p50_ms: number;
  /** CPU per call, ms: the load generator, the node, and the function processes (everything under the node). */
  cpu_per_call_ms: { load_generator: number; node: number; function_processes: number };
}

async function main() {
  const loadAtStart = loadavg()[0];
  const node: TestNode = await startNode({
    users: ['alice'],
    config: (c) => {
      c.log.level = 'warn';
      c.fn = { allow_direct_deploy: true, max_processes_per_function: PROCESSES };
    },
  });
  // Where the node runs its functions (src/node/node.ts: fnRun): the socket directories are run/fn-*.
  const fnRun = join(tmpdir(), `tessera-fn-${createHash('sha256').update(node.dir).digest('hex').slice(0, 12)}`);
  const url = `https://127.0.0.1:${node.ports.https}`;
  const identity = join(identitiesDirOf(node.dir), 'alice');
  const alice = node.identity('alice');
  const agent = new Agent({ keepAlive: true, maxSockets: CALLERS, ca: node.ca, cert: alice.cert, key: alice.key });
  const dirs: string[] = [];
  const deploy = async (app: string, name: string, source: string) => {
    const dir = fnDir(name, nodeYaml(name), { 'func.js': source });
    dirs.push(join(dir, '..'));
    const r = await tessera(['fn', 'deploy', dir, '--app', app, '-i', identity, '--url', url, '--insecure-skip-verification']);
    if (r.code !== 0) throw new Error(`tessera fn deploy: ${r.stderr}`);
    return r.stdout.trim();
  };
  let load: ReturnType<typeof startLoad> | undefined;
  try {
    if (!existsSync(join(fnRun, 'run'))) throw new Error(`the node's function run directory is not where expected: ${fnRun}/run`);
    const id = await deploy('bench', 'echo', "require('@fnproject/fdk').handle((input) => ({ echo: input }));");
    const body = Buffer.from('{"n":1}');

    // The pool grows to PROCESSES hot processes under CALLERS concurrent calls.
    for (let i = 0; i < 5; i++) {
      const replies = await Promise.all(Array.from({ length: CALLERS }, () => post(agent, node.ports.https, `/invoke/${id}`, alice.token, body)));
      for (const r of replies) if (r.status !== 200) throw new Error(`warm-up call: ${r.status} ${r.body}`);
    }
    const sockets = readdirSync(join(fnRun, 'run'))
      .filter((d) => d.startsWith('fn-'))
      .map((d) => join(fnRun, 'run', d, 'lsnr.sock'))
      .filter((s) => existsSync(s));
    if (sockets.length !== PROCESSES) throw new Error(`expected ${PROCESSES} hot processes after the warm-up, found ${sockets.length} sockets under ${fnRun}/run`);

    load = startLoad({ callers: CALLERS, port: node.ports.https, fnId: id, ca: node.ca, cert: alice.cert, key: alice.key, token: alice.token, sockets });
    await load.run({ kind: 'direct', seconds: 1 });
    await load.run({ kind: 'tessera', seconds: 1 });

    const rounds: Round[] = [];
    const lat = { direct: [] as number[], tessera: [] as number[], serial: [] as number[] };
    const total = { direct: { calls: 0, seconds: 0 }, tessera: { calls: 0, seconds: 0 }, serial: { calls: 0, seconds: 0 } };
    for (let i = 0; i < ROUNDS; i++) {
      for (const kind of ['direct', 'tessera', ...(SERIAL ? ['serial' as const] : [])] as const) {
        const before = nodeCpu(node.proc.pid!);
        const r = await load.run(kind === 'serial' ? { kind: 'direct', seconds: ROUND_S, callers: sockets.length } : { kind, seconds: ROUND_S });
        const after = nodeCpu(node.proc.pid!);
        for (const l of r.latencies) lat[kind].push(l);
        total[kind].calls += r.calls;
        total[kind].seconds += r.seconds;
        const row: Round = {
          kind,
          calls: r.calls,
          seconds: round(r.seconds, 2),
          calls_per_s: Math.round(r.calls / r.seconds),
          p50_ms: round(median(r.latencies)),
          cpu_per_call_ms: { load_generator: round(r.cpu_ms / r.calls), node: round((after.node - before.node) / r.calls), function_processes: round(functionsDelta(before.functions, after.functions) / r.calls) },
        };
        rounds.push(row);
        const c = row.cpu_per_call_ms;
        process.stderr.write(`  ${kind.padEnd(7)} ${String(row.calls_per_s).padStart(6)} calls/s, p50 ${row.p50_ms} ms; CPU per call: load generator ${c.load_generator} ms, node ${c.node} ms, function processes ${c.function_processes} ms\n`);
      }
    }
    await load.stop();
    load = undefined;
    const perSecond = (k: Round['kind']) => Math.round(total[k].calls / total[k].seconds);
    const perRound = (k: Round['kind']) => rounds.filter((r) => r.kind === k);
    const pairRatios = perRound('tessera').map((t, i) => round(t.calls_per_s / perRound('direct')[i].calls_per_s));

    // Cold starts: each a new version of the 'cold' function, so a new id with no process yet.
    const cold: number[] = [];
    for (let i = 0; i < COLD; i++) {
      const coldId = await deploy('cold', 'cold', `// version ${i}\nrequire('@fnproject/fdk').handle((input) => ({ echo: input }));`);
      await post(agent, node.ports.https, '/invoke/none', alice.token, body); // the connection is open and warm: only the call is timed
      const t0 = performance.now();
      const r = await post(agent, node.ports.https, `/invoke/${coldId}`, alice.token, body);
      cold.push(performance.now() - t0);
      if (r.status !== 200) throw new Error(`cold call: ${r.status} ${r.body}`);
    }
    process.stderr.write(`  cold starts: ${cold.map((c) => c.toFixed(0)).join(', ')} ms\n`);

    const ratio = perSecond('tessera') / perSecond('direct');
    console.log(
      JSON.stringify(
        {
          benchmark: 'Fn http-stream process (@fnproject/fdk, node), confined, over HTTPS /invoke from a separate process',
          setup: {
            max_processes_per_function: PROCESSES,
            callers: CALLERS,
            rounds: `${ROUNDS} × (direct ${ROUND_S} s, tessera ${ROUND_S} s), alternating`,
            tessera_path: 'POST /invoke/<id>, HTTPS, mutual TLS + bearer token, one kept-alive connection per caller',
            baseline_path: `POST /call to the function's own ${PROCESSES} unix socket(s), ${CALLERS} callers spread evenly over them (caller i on socket i mod ${PROCESSES}), one kept-alive connection per caller`,
            cores: availableParallelism(),
            load_average_1min: { at_start: round(loadAtStart, 2), at_end: round(loadavg()[0], 2) },
          },
          hot_call: {
            tessera_calls: total.tessera.calls,
            direct_calls: total.direct.calls,
            tessera_calls_per_s: perSecond('tessera'),
            direct_calls_per_s: perSecond('direct'),
            throughput_ratio_vs_direct: round(ratio),
            pair_ratios: pairRatios,
            tessera: summary(lat.tessera),
            direct_socket: summary(lat.direct),
            ...(SERIAL
              ? {
                  serial_socket: {
                    about: `for information: ${PROCESSES} caller(s), one per socket, one call at a time per process (the pool's own discipline, with nothing in between)`,
                    calls_per_s: perSecond('serial'),
                    tessera_ratio_vs_serial: round(perSecond('tessera') / perSecond('serial')),
                    ...summary(lat.serial),
                  },
                }
              : {}),
            rounds,
          },
          cold_start_ms: { samples: COLD, median: round(median(cold), 1), max: round(Math.max(...cold), 1), all: cold.map((c) => round(c, 1)), fn_published: '~300 ms (docker container start)' },
          targets: { ratio_at_least: TARGET_RATIO, ratio_met: ratio >= TARGET_RATIO, cold_median_under_ms: TARGET_COLD_MS, cold_met: median(cold) < TARGET_COLD_MS },
        },
        null,
        2,
      ),
    );
  } finally {
    agent.destroy();
    await load?.stop();
    await node.stop(); // gracefully, so that TESSERA_NODE_ARGS=--cpu-prof can write its profile and the pools end their processes
    await node.cleanup();
    rmSync(fnRun, { recursive: true, force: true });
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

await main();
