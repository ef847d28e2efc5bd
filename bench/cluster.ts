// npm run bench -- cluster: throughput of 1, 2 and 3 nodes of one service on PostgreSQL and NATS JetStream,
// each node count on a fresh PostgreSQL and nats-server, the same clients spread round-robin over the nodes.
// Two loads: single-party echo tasks over REST (create + invoke: two store commits and a worker-thread run)
// and CCF app KV writes (one commit each). The ratio is to one node of the same run, so it says what adding
// nodes buys on this machine; docs/cluster.md says what moves on real hardware.
import type { TestNode } from '../test/helpers/cli.js';
import { as, startCluster, url } from '../test/helpers/cluster.js';
import { https } from '../test/helpers/https-client.js';
import { KV_HANDLERS, benchEndpoint, deployBenchApp } from './kv-app.js';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 12);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
const NODE_COUNTS = (process.env.BENCH_NODES ?? '1,2,3').split(',').map(Number);

interface Result {
  nodes: number;
  echo_tasks_per_s: number;
  kv_writes_per_s: number;
  errors: number;
}

/** CLIENTS loops, client i on node i mod N, each doing `op` until SECONDS have passed; answered ops per second. */
async function drive(nodes: TestNode[], op: (node: TestNode, client: number, i: number) => Promise<boolean>): Promise<{ perSecond: number; errors: number }> {
  let done = 0;
  let errors = 0;
  const until = performance.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, client) => {
      const node = nodes[client % nodes.length];
      for (let i = 0; performance.now() < until; i++) {
        if (await op(node, client, i).catch(() => false)) done++;
        else errors++;
      }
    }),
  );
  return { perSecond: done / ((performance.now() - started) / 1000), errors };
}

async function measure(count: number): Promise<Result> {
  // The limits a benchmark should not meet: it measures throughput, not admission.
  const cluster = await startCluster({ nodes: count, users: ['alice'], members: ['m0', 'm1', 'm2'], settings: ['log.level=warn'], config: (c) => (c.limits = { ...(c.limits ?? {}), user_requests_per_second: 100000, user_burst: 100000 }) });
  const { nodes } = cluster;
  try {
    await deployBenchApp(nodes[0], { '/kv/{key}': { put: benchEndpoint('write', 'readwrite', 'bench') } }, KV_HANDLERS);
    const echo = await drive(nodes, async (node) => {
      const created = await https(url(node, '/v1/tasks'), as(node, 'alice'), { method: 'POST', json: { function_name: 'echo' } });
      if (created.status !== 201) return false;
      const { task_id, task_token } = created.json();
      const run = await https(url(node, `/v1/tasks/${task_id}/invoke`), as(node, 'alice'), { method: 'POST', json: { task_token, payload: 'echo_payload' } });
      return run.status === 200;
    });
    const kv = await drive(nodes, async (node, client, i) => (await https(url(node, `/app/kv/c${client}-${i}`), as(node, 'alice'), { method: 'PUT', body: Buffer.from('v'.repeat(64)) })).status === 204);
    return { nodes: count, echo_tasks_per_s: Math.round(echo.perSecond * 10) / 10, kv_writes_per_s: Math.round(kv.perSecond * 10) / 10, errors: echo.errors + kv.errors };
  } finally {
    await cluster.cleanup();
  }
}

async function main() {
  const results: Result[] = [];
  for (const count of NODE_COUNTS) {
    results.push(await measure(count));
    console.error(`cluster bench: ${JSON.stringify(results[results.length - 1])}`);
  }
  const one = results.find((r) => r.nodes === 1) ?? results[0];
  console.log(
    JSON.stringify({
      clients: CLIENTS,
      seconds: SECONDS,
      results: results.map((r) => ({ ...r, echo_ratio_to_one_node: Number((r.echo_tasks_per_s / one.echo_tasks_per_s).toFixed(3)), kv_ratio_to_one_node: Number((r.kv_writes_per_s / one.kv_writes_per_s).toFixed(3)) })),
    }),
  );
}

await main();
