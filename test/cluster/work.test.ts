import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse, stringify } from 'smol-toml';
import { type TestNode, nodeMasterKey, tempDir, tessera } from '../helpers/cli.js';
import { loadConfig } from '../../src/node/config.js';
import { dataDirPaths } from '../../src/node/datadir.js';
import { openStore } from '../../src/node/open-store.js';
import { fnDir, nodeYaml } from '../helpers/fn-fixtures.js';
import { identitiesDirOf } from '../../src/node/datadir.js';
import { type TestCluster, as, startCluster, url } from '../helpers/cluster.js';
import { https } from '../helpers/https-client.js';

// Work through NATS JetStream (issue 22): an 'api' node queues tasks and runs none, 'worker' nodes run them
// and serve no user API; a worker SIGKILLed in the middle of a task has it taken over by another worker once
// nats.work_ack_wait_ms has passed, and the task still ends once, with its result back to the invoker.

let cluster: TestCluster;
let api: TestNode;
let workerA: TestNode;
let workerB: TestNode;

function setRole(node: TestNode, role: string) {
  const path = join(node.dir, 'tessera.toml');
  const config = parse(readFileSync(path, 'utf8')) as Record<string, any>;
  config.node.role = role;
  writeFileSync(path, stringify(config));
}

before(async () => {
  cluster = await startCluster({ nodes: 3, users: ['alice', 'bob'], settings: ['nats.work_ack_wait_ms=1500', 'fn.allow_direct_deploy=true', 'ledger.signature_interval_ms=200', 'log.level=info'] });
  [api, workerA, workerB] = cluster.nodes;
  setRole(api, 'api');
  setRole(workerA, 'worker');
  setRole(workerB, 'worker');
  for (const node of cluster.nodes) await node.restart();
});
after(() => cluster?.cleanup());

async function createTask(node: TestNode, functionName: string) {
  const created = await https(url(node, '/v1/tasks'), as(node, 'alice'), { method: 'POST', json: { function_name: functionName, collaborator_list: [], files: [] } });
  assert.equal(created.status, 201, created.body.toString());
  return created.json() as { task_id: string; task_token: string };
}

const invoke = (node: TestNode, task: { task_id: string; task_token: string }, payload: string) =>
  https(url(node, `/v1/tasks/${task.task_id}/invoke`), as(node, 'alice'), { method: 'POST', json: { task_token: task.task_token, payload } });

const taskView = async (node: TestNode, id: string) => (await https(url(node, `/v1/tasks/${id}`), as(node, 'alice'))).json();

test('an api node queues a task and a worker runs it; a worker answers no user request', async () => {
  const task = await createTask(api, 'echo');
  const run = await invoke(api, task, 'through the queue');
  assert.equal(run.status, 200, run.body.toString());
  assert.equal(run.json().result, 'through the queue');
  assert.equal((await taskView(api, task.task_id)).status, 'Finished');

  // A worker serves what a node says of itself, and nothing of the users' API; no MesaTEE listener is open.
  assert.deepEqual(Object.keys(workerA.ports), ['https']);
  assert.equal((await https(url(workerA, '/v1/health'), as(workerA, 'alice'))).status, 200);
  assert.equal((await https(url(workerA, '/node/state'), as(workerA, 'alice'))).status, 200);
  assert.equal((await https(url(workerA, '/v1/tasks'), as(workerA, 'alice'), { method: 'POST', json: { function_name: 'echo', collaborator_list: [], files: [] } })).status, 404);
});

test('a worker killed while it runs a task: another worker takes it over, and the task ends once', async () => {
  // A function that runs for 4 s, so that the kill lands while it runs.
  const fn = {
    name: 'slow',
    kind: 'js',
    type: 'Single',
    description: 'answers after 4 s',
    modules: { '/main.js': 'export function entrypoint(payload) { const until = Date.now() + 4000; while (Date.now() < until) {} return "slept " + payload; }' },
    interface: { payload: 'text', arguments: [], inputs: [], outputs: [] },
    limits: { cpuMs: 8000 },
  };
  const registered = await https(url(api, '/v1/functions'), as(api, 'alice'), { method: 'POST', json: fn });
  assert.equal(registered.status, 201, registered.body.toString());
  const task = await createTask(api, registered.json().function_id);

  // Only worker A pulls work, so it is the one that takes the task.
  await workerB.stop('SIGTERM');
  const running = invoke(api, task, 'once');
  const taken = Date.now();
  while ((await taskView(api, task.task_id)).status !== 'Running' && Date.now() - taken < 10_000) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 1000));
  await workerA.stop('SIGKILL');
  await workerB.restart();

  const answer = await running;
  assert.equal(answer.status, 200, answer.body.toString());
  assert.equal(answer.json().result, 'slept once');
  assert.match(workerB.logs(), /took over a task whose node stopped while running it/);
  const ended = await taskView(api, task.task_id);
  assert.equal(ended.status, 'Finished');

  // Worker A back: it does not run the task again, and the record is unchanged.
  await workerA.restart();
  await new Promise((r) => setTimeout(r, 2000));
  assert.deepEqual(await taskView(api, task.task_id), ended);
  assert.doesNotMatch(workerA.logs(), /took over a task/);
});

test('a task invoked twice at once through the queue runs once', async () => {
  const task = await createTask(api, 'echo');
  const answers = await Promise.all([invoke(api, task, 'a'), invoke(api, task, 'b')]);
  const statuses = answers.map((a) => a.status).sort();
  assert.deepEqual(statuses, [200, 403], answers.map((a) => a.body.toString()).join('\n'));
});

test('node.role other than "all" is refused for one node on SQLite, with the reason', async () => {
  const root = tempDir('tessera-role-');
  after(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'data');
  const init = await tessera(['init', '--data', dir, '--users', 'alice']);
  assert.equal(init.code, 0, init.stderr);
  const served = await tessera(['serve', '--data', dir, '--role', 'worker', '--port-base', '0']);
  assert.notEqual(served.code, 0);
  assert.match(served.stderr, /node\.role = "worker" is for a node of a cluster \(store\.backend = "postgres"\)/);
  const bad = await tessera(['serve', '--data', dir, '--role', 'boss']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /one of all, api, worker/);
});

test('NATS away: an invocation is refused as unavailable and the task stays Ready; once NATS is back it runs', async () => {
  const task = await createTask(api, 'echo');
  await cluster.nats.halt();
  try {
    const refused = await invoke(api, task, 'later');
    assert.equal(refused.status, 503, refused.body.toString());
    assert.match(refused.json().error.message, /NATS did not take task .* into the work queue/);
    assert.equal((await taskView(api, task.task_id)).status, 'Ready');
  } finally {
    await cluster.nats.start();
  }
  // The nodes find the restarted server by themselves.
  let run = await invoke(api, task, 'later');
  for (let i = 0; run.status === 503 && i < 40; i++) {
    await new Promise((r) => setTimeout(r, 250));
    run = await invoke(api, task, 'later');
  }
  assert.equal(run.status, 200, run.body.toString());
  assert.equal(run.json().result, 'later');
});

test('an Fn function deployed through one node: a detached call is queued and run by a worker, with the package from NATS', async () => {
  const dir = fnDir('shout', nodeYaml('shout'), { 'func.js': "const fdk = require('@fnproject/fdk'); fdk.handle((input) => { console.error('detached call ran with ' + input); return 'ok'; }, { inputMode: 'string' });" });
  const deployed = await tessera(['fn', 'deploy', dir, '--app', 'demo', '-i', `${identitiesDirOf(join(cluster.root, 'node1'))}/alice`, '--url', url(api, ''), '--insecure-skip-verification']);
  assert.equal(deployed.code, 0, deployed.stderr);
  const id = deployed.stdout.trim();
  const call = await https(url(api, `/invoke/${id}`), as(api, 'alice'), { method: 'POST', body: Buffer.from('hello-cluster'), headers: { 'content-type': 'text/plain', 'fn-invoke-type': 'detached' } });
  assert.equal(call.status, 202, call.body.toString());
  const started = Date.now();
  const ranOn = () => [workerA, workerB].find((w) => w.logs().includes('detached call ran with hello-cluster'));
  while (!ranOn() && Date.now() - started < 30_000) await new Promise((r) => setTimeout(r, 200));
  assert.ok(ranOn(), `a worker ran the detached call\n${workerA.logs().slice(-2000)}\n${workerB.logs().slice(-2000)}`);
  assert.ok(!api.logs().includes('detached call ran with'), 'the api node ran none of it');
});

test('a delivered task result does not stay in the store: it is pruned within two sweeps (10–20 s)', async () => {
  const task = await createTask(api, 'echo');
  const run = await invoke(api, task, 'kept briefly');
  assert.equal(run.status, 200, run.body.toString());
  const paths = dataDirPaths(api.dir);
  const store = openStore(loadConfig(paths.config), paths, nodeMasterKey(api.dir));
  try {
    const held = () => store.read((tx) => tx.get('tasks.outcomes', task.task_id)) !== undefined;
    assert.ok(held(), 'the result waits, sealed, for its invoker');
    const started = Date.now();
    while (held() && Date.now() - started < 40_000) await new Promise((r) => setTimeout(r, 500));
    assert.ok(!held(), 'and is gone once delivered');
  } finally {
    store.close();
  }
});
