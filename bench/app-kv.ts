// The app KV benchmark: a readonly KV-read endpoint and a readwrite KV-write endpoint of a deployed CCF
// app, each against a plain Node HTTPS server doing the same SQLite work (bench/baseline-kv-server.ts),
// in the same run, alternating rounds.
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type TestNode, startNode, tempDir } from '../test/helpers/cli.js';
import { KV_HANDLERS, benchEndpoint, deployBenchApp } from './kv-app.js';
import { median, percentile } from './stats.js';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 8);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 400);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** The connection count at which the read endpoint's p99 is judged. */
const WIDE = Number(process.env.BENCH_WIDE_CONNECTIONS ?? 64);

const endpoint = (fn: string, mode: string, reuse = false) => benchEndpoint(fn, mode, reuse ? `bench-${fn}` : null);

const deploy = (node: TestNode) =>
  deployBenchApp(
    node,
    {
      '/kv/{key}': { get: endpoint('read', 'readonly'), put: endpoint('write', 'readwrite') },
      '/kvr/{key}': { get: endpoint('read', 'readonly', true), put: endpoint('write', 'readwrite', true) },
    },
    KV_HANDLERS,
  );

interface Target {
  port: number;
  path: (key: string) => string;
}

interface Sample {
  perSecond: number;
  p50: number;
  p99: number;
}


async function measure(target: Target, method: 'GET' | 'PUT', agent: Agent, connections = CONNECTIONS, requests = REQUESTS): Promise<Sample> {
  let next = 0;
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (next < requests) {
        const i = next++;
        const key = `k${i % 50}`;
        const t0 = performance.now();
        await new Promise<void>((resolve, reject) => {
          const body = method === 'PUT' ? Buffer.from(`value ${i}`) : undefined;
          const req = request({ host: '127.0.0.1', port: target.port, path: target.path(key), method, agent, servername: 'localhost', headers: body ? { 'content-length': body.length } : {} }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => (res.statusCode! < 300 ? resolve() : reject(new Error(`${method} ${target.path(key)}: ${res.statusCode} ${Buffer.concat(chunks).toString()}`))));
          });
          req.on('error', reject);
          req.end(body);
        });
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { perSecond: requests / ((performance.now() - started) / 1000), p50: median(latencies), p99: percentile(latencies, 99) };
}

async function main() {
  const node = await startNode({ users: ['alice'], members: ['m0', 'm1', 'm2'], config: (c) => (c.log.level = 'warn') });
  await deploy(node);
  const script = fileURLToPath(new URL('./baseline-kv-server.js', import.meta.url));
  const baseline = spawn(process.execPath, [script, node.dir, join(tempDir(), 'baseline.sqlite')], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, BASELINE_KEY_PEM: node.service.key } });
  const baselinePort = await new Promise<number>((resolve) => baseline.stdout!.on('data', (d: Buffer) => {
    const m = /baseline ready (\d+)/.exec(d.toString());
    if (m) resolve(Number(m[1]));
  }));
  try {
    const alice = node.identity('alice');
    const agent = new Agent({ keepAlive: true, maxSockets: WIDE, cert: alice.cert, key: alice.key, ca: node.ca });
    const baseAgent = new Agent({ keepAlive: true, maxSockets: WIDE, cert: node.service.cert, key: node.service.key, ca: node.ca });
    const fresh: Target = { port: node.ports.https, path: (k) => `/app/kv/${k}` };
    const reused: Target = { port: node.ports.https, path: (k) => `/app/kvr/${k}` };
    const plain: Target = { port: baselinePort, path: (k) => `/kv/${k}` };
    await measure(fresh, 'PUT', agent); // warm-up, and the keys exist for reads
    await measure(reused, 'PUT', agent);
    await measure(plain, 'PUT', baseAgent);
    const results: Record<string, { tessera: number[]; baseline: number[] }> = {};
    for (let r = 0; r < ROUNDS; r++) {
      for (const [kind, method, target] of [['read', 'GET', fresh], ['write', 'PUT', fresh], ['read_interpreter_reuse', 'GET', reused], ['write_interpreter_reuse', 'PUT', reused]] as const) {
        results[kind] ??= { tessera: [], baseline: [] };
        results[kind].baseline.push((await measure(plain, method, baseAgent)).perSecond);
        results[kind].tessera.push((await measure(target, method, agent)).perSecond);
      }
      process.stderr.write(`  round ${r + 1}/${ROUNDS}\n`);
    }
    const wide = { tessera: [] as Sample[], baseline: [] as Sample[] };
    for (let r = 0; r < ROUNDS; r++) {
      wide.baseline.push(await measure(plain, 'GET', baseAgent, WIDE, WIDE * 10));
      wide.tessera.push(await measure(fresh, 'GET', agent, WIDE, WIDE * 10));
      process.stderr.write(`  ${WIDE} connections, round ${r + 1}/${ROUNDS}: read p99 ${wide.tessera[r].p99.toFixed(1)} ms, baseline ${wide.baseline[r].p99.toFixed(1)} ms\n`);
    }
    const at = (xs: Sample[], k: keyof Sample) => Number(median(xs.map((x) => x[k])).toFixed(2));
    const read_wide = { connections: WIDE, requests_per_round: WIDE * 10, tessera_p50_ms: at(wide.tessera, 'p50'), tessera_p99_ms: at(wide.tessera, 'p99'), tessera_req_per_s: Math.round(at(wide.tessera, 'perSecond')), baseline_p50_ms: at(wide.baseline, 'p50'), baseline_p99_ms: at(wide.baseline, 'p99'), baseline_req_per_s: Math.round(at(wide.baseline, 'perSecond')) };
    const summary = Object.fromEntries(
      Object.entries(results).map(([kind, v]) => [
        kind,
        { tessera_req_per_s: Math.round(median(v.tessera)), baseline_req_per_s: Math.round(median(v.baseline)), ratio_vs_baseline: Number((median(v.tessera) / median(v.baseline)).toFixed(3)) },
      ]),
    );
    console.log(JSON.stringify({ benchmark: 'CCF app KV endpoints vs plain Node HTTPS + SQLite', connections: CONNECTIONS, requests_per_round: REQUESTS, rounds: ROUNDS, ...summary, read_wide }, null, 2));
    agent.destroy();
    baseAgent.destroy();
  } finally {
    baseline.kill('SIGTERM');
    await node.stop(); // gracefully, so that TESSERA_NODE_ARGS=--cpu-prof can write its profile
    await node.cleanup();
  }
}

await main();
