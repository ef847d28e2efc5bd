import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { after, before, test } from 'node:test';
import { type TestNode, tessera } from '../helpers/cli.js';
import { type TestCluster, as, startCluster, upload, url } from '../helpers/cluster.js';
import { decryptDownload, letterRecords } from '../helpers/files.js';
import { https } from '../helpers/https-client.js';
import { KV_HANDLERS, benchEndpoint, deployBenchApp } from '../../bench/kv-app.js';
import { HTTP_REPLY, ingress, jsFunction, workflowClient } from '../helpers/workflows.js';

// Crash safety across a cluster: three nodes on one PostgreSQL and one NATS, mixed load spread over all of
// them (uploads, CCF app KV writes, multi-party tasks created, approved and invoked on different nodes), and each cycle one
// random node is SIGKILLed and brought back. After every cycle: every acknowledged upload downloads through
// another node, whole; every acknowledged approval and run is there; no task ran twice; a task that was
// running on the killed node is taken over by another node (the work queue redelivers it) and ends once;
// and the shared ledger verifies offline; a workflow counter that syncs each event, bumped through random
// nodes, goes on after every cycle from at least its last acknowledged count (it moves when its node dies,
// docs/cluster.md). TESSERA_CLUSTER_CRASH_CYCLES sets the cycles (3; 20 in test:long).

const CYCLES = Number(process.env.TESSERA_CLUSTER_CRASH_CYCLES ?? 3);

let cluster: TestCluster;
let nodes: TestNode[];
let aliceFile = '';

before(async () => {
  cluster = await startCluster({ nodes: 3, users: ['alice', 'bob'], members: ['m0', 'm1', 'm2'], settings: ['ledger.signature_interval_ms=200', 'log.level=warn', 'nats.work_ack_wait_ms=1500'] });
  nodes = cluster.nodes;
  aliceFile = (await upload(nodes[0], 'alice', letterRecords('abde')))!.id;
  counter = await startCounter();
  await deployBenchApp(nodes[0], { '/kv/{key}': { put: benchEndpoint('write', 'readwrite', 'crash'), get: benchEndpoint('read', 'readonly', 'crash') } }, KV_HANDLERS);
});
after(() => cluster?.cleanup());

const pick = () => nodes[randomInt(nodes.length)];

interface Acknowledged {
  files: Map<string, { user: string; plaintext: Buffer }>;
  approved: Set<string>;
  finished: Set<string>;
  /** CCF app KV writes answered 204, by key. */
  kv: Map<string, string>;
}

/** Writers on random nodes until `stopped()`; a failure is the crash, and only answered writes count. */
async function load(ack: Acknowledged, stopped: () => boolean) {
  const loop = async (step: () => Promise<void>) => {
    while (!stopped()) await step().catch(() => undefined);
  };
  await Promise.all([
    loop(async () => {
      const node = pick();
      const key = randomBytes(6).toString('hex');
      const value = randomBytes(8).toString('hex');
      const put = await https(url(node, `/app/kv/${key}`), as(node, 'alice'), { method: 'PUT', body: Buffer.from(value) });
      if (put.status === 204) ack.kv.set(key, value);
    }),
    loop(async () => {
      const plaintext = randomBytes(randomInt(1, 32 * 1024));
      const done = await upload(pick(), 'alice', plaintext);
      if (done) ack.files.set(done.id, { user: 'alice', plaintext });
    }),
    loop(async () => {
      const bobs = await upload(pick(), 'bob', letterRecords('bcd'));
      if (!bobs) return;
      ack.files.set(bobs.id, { user: 'bob', plaintext: letterRecords('bcd') });
      const creator = pick();
      const created = await https(url(creator, '/v1/tasks'), as(creator, 'alice'), { method: 'POST', json: { function_name: 'psi', collaborator_list: ['bob'], files: [aliceFile] } });
      if (created.status !== 201) return;
      const { task_id, task_token } = created.json();
      const approver = pick();
      const approved = await https(url(approver, `/v1/tasks/${task_id}/approve`), as(approver, 'bob'), { method: 'POST', json: { files: [bobs.id] } });
      if (approved.status !== 200) return;
      ack.approved.add(task_id);
      const invoker = pick();
      const run = await https(url(invoker, `/v1/tasks/${task_id}/invoke`), as(invoker, 'alice'), { method: 'POST', json: { task_token } });
      if (run.status === 200 && run.json().result === 'Finished') ack.finished.add(task_id);
    }),
  ]);
}

// The workflow part of the load: a counter that syncs each event, placed on one node of the three.

const COUNTER = `${HTTP_REPLY}
let count = 0;
export function handle_init(payload, state) { count = state ? JSON.parse(state).count : 0; }
export function handle_call(src, msg) { count++; edgeless.sync(JSON.stringify({ count })); return reply(200, String(count)); }`;

/** The counter workflow's id and the highest count it acknowledged. */
let counter = { id: '', acked: 0 };

async function startCounter() {
  const spec = { functions: [jsFunction('counter', COUNTER)], resources: [ingress('counter', { host: '127.0.0.1', method: 'POST', wf_id: 'true' })] };
  const started = await workflowClient(nodes[0]).start(spec, 'crash-counter');
  assert.equal(started.status, 201, started.body.toString());
  return { id: started.json().workflow_id as string, acked: 0 };
}

const bumpCounter = (node: TestNode) => workflowClient(node).ingress(`/bump?wf_id=${counter.id}`, 'x');

/** Bumps the counter through random nodes until `stopped()`; only answered bumps count. */
async function counterLoad(stopped: () => boolean) {
  while (!stopped()) {
    const r = await bumpCounter(pick()).catch(() => null);
    if (r?.status === 200) counter.acked = Math.max(counter.acked, Number(r.body.toString()));
    else await new Promise((res) => setTimeout(res, 50));
  }
}

/** After a cycle: the counter answers again (moved, if its node died) and goes on past its last acknowledged count. */
async function checkCounter(cycle: number) {
  for (let i = 0; i < 300; i++) {
    const r = await bumpCounter(nodes[i % nodes.length]).catch(() => null);
    if (r?.status === 200) {
      const n = Number(r.body.toString());
      assert.ok(n > counter.acked, `cycle ${cycle}: the workflow's synced count went on from ${counter.acked} (got ${n})`);
      counter.acked = n;
      return;
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.fail(`cycle ${cycle}: the counter workflow did not answer again`);
}

async function check(ack: Acknowledged, cycle: number) {
  const reader = nodes[cycle % nodes.length];
  for (const [id, { user, plaintext }] of ack.files) {
    const info = await https(url(reader, `/v1/files/${id}`), as(reader, user));
    assert.equal(info.status, 200, `cycle ${cycle}: acknowledged file ${id} is known to every node`);
    const blob = await https(url(reader, `/v1/files/${id}/content`), as(reader, user));
    assert.equal(blob.status, 200, `cycle ${cycle}: acknowledged file ${id} downloads: ${blob.body.toString().slice(0, 200)}`);
    assert.deepEqual(decryptDownload(info.json().key_config, blob.body), plaintext, `cycle ${cycle}: file ${id} is whole`);
  }
  for (const [key, value] of ack.kv) {
    const got = await https(url(reader, `/app/kv/${key}`), as(reader, 'alice'));
    assert.equal(got.status, 200, `cycle ${cycle}: acknowledged app KV write ${key} is there: ${got.body.toString()}`);
    assert.equal(got.json().value, value, `cycle ${cycle}: app KV value ${key} is the one written`);
  }
  for (const taskId of ack.approved) {
    const task = (await https(url(reader, `/v1/tasks/${taskId}`), as(reader, 'alice'))).json();
    assert.ok(['Ready', 'Running', 'Finished', 'Failed'].includes(task.status), `cycle ${cycle}: approved task ${taskId} is ${task.status}`);
    if (ack.finished.has(taskId)) {
      assert.equal(task.status, 'Finished', `cycle ${cycle}: task ${taskId}, acknowledged Finished, stays so`);
      assert.equal(task.user_private_result_file_id.length, 1, `cycle ${cycle}: task ${taskId} has exactly one result for alice: it ran once`);
    }
  }
}

test(`crash safety across a cluster: ${CYCLES} SIGKILLs of random nodes under load lose no acknowledged write`, async (t) => {
  const ack: Acknowledged = { files: new Map(), approved: new Set(), finished: new Set(), kv: new Map() };
  for (let cycle = 0; cycle < CYCLES; cycle++) {
    let stopped = false;
    const running = Promise.all([load(ack, () => stopped), counterLoad(() => stopped)]);
    await new Promise((r) => setTimeout(r, randomInt(300, 1200)));
    const victim = pick();
    await victim.stop('SIGKILL');
    // The others keep serving while it is down.
    await new Promise((r) => setTimeout(r, 300));
    stopped = true;
    await running;
    await victim.restart();
    await check(ack, cycle);
    await checkCounter(cycle);
    const verified = await tessera(['ledger', 'verify', victim.dir, '--json']);
    assert.equal(verified.code, 0, `cycle ${cycle}: the shared ledger verifies offline\n${verified.stdout}${verified.stderr}`);
  }
  // No task is left Running: one whose node was killed is redelivered to another and ends there. Every
  // task that ended Finished, acknowledged or not, has exactly one result: it ran once in effect.
  const view = async (taskId: string) => (await https(url(nodes[0], `/v1/tasks/${taskId}`), as(nodes[0], 'alice'))).json();
  const deadline = Date.now() + 60_000;
  for (const taskId of ack.approved) {
    let task = await view(taskId);
    while (task.status === 'Running' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      task = await view(taskId);
    }
    assert.notEqual(task.status, 'Running', `task ${taskId} is not left Running`);
    if (task.status === 'Finished') assert.equal(task.user_private_result_file_id.length, 1, `task ${taskId} has exactly one result for alice`);
  }
  assert.ok(ack.files.size > 0 && ack.approved.size > 0 && ack.kv.size > 0, 'writes of every kind were acknowledged');
  t.diagnostic(`cycles ${CYCLES}, acknowledged uploads ${ack.files.size}, approvals ${ack.approved.size}, runs ${ack.finished.size}, app KV writes ${ack.kv.size}, workflow count ${counter.acked}`);
});
