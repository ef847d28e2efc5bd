// npm run bench: single-party task throughput over the MesaTEE wire protocol, against a baseline
// TLS server doing only the framing and JSON (bench/baseline-server.ts), both as child processes
// on this machine, run alternately so that noise hits both alike.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type TestNode, startNode } from '../test/helpers/cli.js';
import { WireClient } from '../test/helpers/wire-client.js';
import { median, percentile } from './stats.js';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 8);
const TASKS_PER_CONNECTION = Number(process.env.BENCH_TASKS ?? 150);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

interface Sample {
  tasksPerSecond: number;
  p50: number;
  p99: number;
}


/** Each connection pair runs Create then Invoke, TASKS_PER_CONNECTION times, all connections at once. */
async function measure(open: () => Promise<{ tms: WireClient; fns: WireClient }>, creds: Record<string, string>): Promise<Sample> {
  const pairs = await Promise.all(Array.from({ length: CONNECTIONS }, open));
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(
    pairs.map(async ({ tms, fns }) => {
      for (let i = 0; i < TASKS_PER_CONNECTION; i++) {
        const t0 = performance.now();
        const task = await tms.request({ type: 'Create', function_name: 'echo', collaborator_list: [], files: [], ...creds });
        const reply = await fns.request({ task_id: task.task_id ?? 'x', function_name: 'echo', task_token: task.task_token ?? 'x', payload: 'echo_payload' });
        if (reply.type === 'Error') throw new Error(reply.message);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  for (const { tms, fns } of pairs) {
    tms.close();
    fns.close();
  }
  return { tasksPerSecond: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

async function startBaseline(dir: string, keyPem: string) {
  const script = fileURLToPath(new URL('./baseline-server.js', import.meta.url));
  const proc = spawn(process.execPath, [script, dir], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, BASELINE_KEY_PEM: keyPem } });
  const port = await new Promise<number>((resolve) => {
    proc.stdout!.on('data', (d: Buffer) => {
      const m = /baseline ready (\d+)/.exec(d.toString());
      if (m) resolve(Number(m[1]));
    });
  });
  return { port, stop: () => proc.kill('SIGTERM') };
}

async function main() {
  const node: TestNode = await startNode({ users: ['alice'], config: (c) => (c.log.level = 'warn') });
  const baseline = await startBaseline(node.dir, node.service.key);
  try {
    const alice = node.identity('alice');
    const creds = { user_id: 'alice', user_token: alice.token };
    const id = { cert: alice.cert, key: alice.key, ca: node.ca };
    const openNode = async () => ({ tms: await WireClient.connect(node.ports.tms_external, id), fns: await WireClient.connect(node.ports.fns, id) });
    const openBaseline = async () => ({ tms: await WireClient.connect(baseline.port, id), fns: await WireClient.connect(baseline.port, id) });

    await measure(openNode, creds); // warm-up: JIT, token cache, SQLite page cache
    await measure(openBaseline, creds);
    const tessera: Sample[] = [];
    const base: Sample[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      base.push(await measure(openBaseline, creds));
      tessera.push(await measure(openNode, creds));
      process.stderr.write(`  round ${r + 1}/${ROUNDS}: tessera ${tessera[r].tasksPerSecond.toFixed(0)} tasks/s, baseline ${base[r].tasksPerSecond.toFixed(0)} round-trip pairs/s\n`);
    }
    const summary = {
      benchmark: 'single-party echo task (TMS Create + FNS Invoke) over mutual TLS',
      connections: CONNECTIONS,
      tasks_per_round: CONNECTIONS * TASKS_PER_CONNECTION,
      rounds: ROUNDS,
      tessera: { tasks_per_s: median(tessera.map((s) => s.tasksPerSecond)), p50_ms: median(tessera.map((s) => s.p50)), p99_ms: median(tessera.map((s) => s.p99)) },
      baseline: { pairs_per_s: median(base.map((s) => s.tasksPerSecond)), p50_ms: median(base.map((s) => s.p50)), p99_ms: median(base.map((s) => s.p99)) },
    };
    const ratio = summary.tessera.tasks_per_s / summary.baseline.pairs_per_s;
    console.log(JSON.stringify({ ...summary, throughput_ratio_vs_baseline: Number(ratio.toFixed(3)) }, null, 2));
  } finally {
    baseline.stop();
    await node.stop(); // gracefully, so that TESSERA_NODE_ARGS=--cpu-prof can write its profile
    await node.cleanup();
  }
}

await main();
