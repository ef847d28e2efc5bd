// npm run bench -- cluster: throughput of 1, 2 and 3 nodes of one service on PostgreSQL and NATS JetStream,
// each node count on a fresh PostgreSQL and nats-server, the same clients spread round-robin over the nodes.
// Two loads: single-party echo tasks over REST (create + invoke: two store commits and a worker-thread run)
// and CCF app KV writes (one commit each). The ratio is to one node of the same run, so it says what adding
// nodes buys on this machine; docs/cluster.md says what moves on real hardware.
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { type TestNode, serveDataDir, tempDir, tessera, useEphemeralPorts } from '../test/helpers/cli.js';
import { https } from '../test/helpers/https-client.js';
import { startNats } from '../test/helpers/nats-server.js';
import { startPostgres } from '../test/helpers/postgres.js';
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
  const pg = await startPostgres();
  const nats = await startNats();
  const root = tempDir('tessera-bench-cluster-');
  const nodes: TestNode[] = [];
  try {
    const settings = ['store.backend=postgres', `store.url=${pg.url}`, 'files.blob_store=nats', `nats.url=${nats.url}`, 'log.level=warn'].flatMap((s) => ['--set', s]);
    const init = await tessera(['init', '--data', join(root, 'node1'), '--users', 'alice', '--members', 'm0,m1,m2', ...settings]);
    if (init.code !== 0) throw new Error(init.stderr);
    for (let n = 2; n <= count; n++) await tessera(['cluster', 'add-node', '--from', join(root, 'node1'), '--data', join(root, `node${n}`)]);
    for (let n = 1; n <= count; n++) {
      useEphemeralPorts(join(root, `node${n}`), (c) => {
        // The limits a benchmark should not meet: it measures throughput, not admission.
        c.limits = { ...(c.limits ?? {}), user_requests_per_second: 100000, user_burst: 100000 };
      });
      nodes.push(await serveDataDir(join(root, `node${n}`), join(root, 'node1')));
    }
    await deployBenchApp(nodes[0], { '/kv/{key}': { put: benchEndpoint('write', 'readwrite', 'bench') } }, KV_HANDLERS);
    const alice = (node: TestNode) => ({ ...node.identity('alice'), ca: node.ca });
    const url = (node: TestNode, path: string) => `https://127.0.0.1:${node.ports.https}${path}`;
    const echo = await drive(nodes, async (node) => {
      const created = await https(url(node, '/v1/tasks'), alice(node), { method: 'POST', json: { function_name: 'echo' } });
      if (created.status !== 201) return false;
      const { task_id, task_token } = created.json();
      const run = await https(url(node, `/v1/tasks/${task_id}/invoke`), alice(node), { method: 'POST', json: { task_token, payload: 'echo_payload' } });
      return run.status === 200;
    });
    const kv = await drive(nodes, async (node, client, i) => (await https(url(node, `/app/kv/c${client}-${i}`), alice(node), { method: 'PUT', body: Buffer.from('v'.repeat(64)) })).status === 204);
    return { nodes: count, echo_tasks_per_s: Math.round(echo.perSecond * 10) / 10, kv_writes_per_s: Math.round(kv.perSecond * 10) / 10, errors: echo.errors + kv.errors };
  } finally {
    for (const node of nodes) await node.cleanup();
    await nats.stop();
    await pg.destroy();
    rmSync(root, { recursive: true, force: true });
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
