// One user cannot claim unbounded tasks, registered functions, running workflows or process functions
// (issue 16: per-user quotas in tessera.toml). Each quota refuses alice's creation past it with 413 and
// the setting named, while bob, with a quota of his own, is not affected.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type TestNode, startNode, tessera } from '../helpers/cli.js';
import { fnDir, nodeYaml } from '../helpers/fn-fixtures.js';
import { https } from '../helpers/https-client.js';
import { WireClient } from '../helpers/wire-client.js';
import { jsFunction, workflowClient } from '../helpers/workflows.js';
import { identitiesDirOf } from '../../src/node/datadir.js';

let node: TestNode;
before(async () => {
  node = await startNode({
    users: ['alice', 'bob'],
    config: (c) => {
      c.log.level = 'warn';
      c.tasks = { max_tasks_per_user: 2, max_functions_per_user: 2 };
      c.workflows = { max_workflows_per_user: 2 };
      c.fn = { allow_direct_deploy: true, max_functions_per_user: 2 };
    },
  });
});
after(() => node?.cleanup());

const as = (user: string) => ({ ...node.identity(user), ca: node.ca });
const url = (p: string) => `https://127.0.0.1:${node.ports.https}${p}`;
const post = (user: string, p: string, json: unknown) => https(url(p), as(user), { method: 'POST', json });
const statuses = (rs: { status: number }[]) => rs.map((r) => r.status);

test('tasks.max_tasks_per_user: the third task is refused over REST and TMS; bob still creates his', async () => {
  const createTask = (user: string) => post(user, '/v1/tasks', { function_name: 'echo', files: [], collaborator_list: [] });
  const made = [await createTask('alice'), await createTask('alice')];
  assert.deepEqual(statuses(made), [201, 201], made.map((r) => r.body.toString()).join(' '));
  const third = await createTask('alice');
  assert.equal(third.status, 413, third.body.toString());
  assert.match(third.json().error.message, /'alice' has created 2 tasks, the quota \(tasks\.max_tasks_per_user\)/);
  // The wire's TMS Create goes through the same check.
  const alice = node.identity('alice');
  const tms = await WireClient.connect(node.ports.tms_external, { cert: alice.cert, key: alice.key, ca: node.ca });
  const reply = await tms.request({ type: 'Create', user_id: 'alice', user_token: alice.token, function_name: 'echo', collaborator_list: [], files: [] });
  tms.close();
  assert.equal(reply.type, 'Error', JSON.stringify(reply));
  assert.match(reply.message, /tasks\.max_tasks_per_user/);
  assert.equal((await createTask('bob')).status, 201, 'bob has a quota of his own');
});

test('tasks.max_functions_per_user: the third registered function is refused; bob still registers his', async () => {
  const fn = (name: string) => ({
    name,
    kind: 'js',
    type: 'Single',
    modules: { '/main.js': 'export function entrypoint() { return "ok"; }' },
    interface: { payload: 'json', arguments: [], inputs: [], outputs: [] },
  });
  const made = [await post('alice', '/v1/functions', fn('a1')), await post('alice', '/v1/functions', fn('a2'))];
  assert.deepEqual(statuses(made), [201, 201], made.map((r) => r.body.toString()).join(' '));
  assert.equal((await post('alice', '/v1/functions', fn('a1'))).status, 201, 'registering a function again claims nothing new');
  const third = await post('alice', '/v1/functions', fn('a3'));
  assert.equal(third.status, 413, third.body.toString());
  assert.match(third.json().error.message, /'alice' owns 2 registered functions, the quota \(tasks\.max_functions_per_user\)/);
  assert.equal((await post('bob', '/v1/functions', fn('b1'))).status, 201, 'bob has a quota of his own');
});

test('workflows.max_workflows_per_user: a third running workflow is refused, and allowed again once one stops; bob still starts his', async () => {
  const spec = { functions: [jsFunction('idle', 'export function handle_cast(src, msg) {}')], resources: [] };
  const alice = workflowClient(node, 'alice');
  const made = [await alice.start(spec, 'w1'), await alice.start(spec, 'w2')];
  assert.deepEqual(statuses(made), [201, 201], made.map((r) => r.body.toString()).join(' '));
  const third = await alice.start(spec, 'w3');
  assert.equal(third.status, 413, third.body.toString());
  assert.match(third.json().error.message, /'alice' runs 2 workflows, the quota \(workflows\.max_workflows_per_user\)/);
  assert.equal((await workflowClient(node, 'bob').start(spec, 'w1')).status, 201, 'bob has a quota of his own');
  assert.equal((await alice.stop(made[0].json().workflow_id)).status, 200);
  assert.equal((await alice.start(spec, 'w3')).status, 201, 'a stopped workflow frees its place');
});

test('fn.max_functions_per_user: a third process function deployed directly is refused; a new version is not counted; bob still deploys his', async () => {
  const deploy = (user: string, name: string, app: string, body = 'ok') =>
    tessera(['fn', 'deploy', fnDir(name, nodeYaml(name), { 'func.js': `console.log(${JSON.stringify(body)});` }), '--app', app, '-i', `${identitiesDirOf(node.dir)}/${user}`, '--url', url(''), '--insecure-skip-verification']);
  for (const name of ['f1', 'f2']) {
    const r = await deploy('alice', name, 'alice-app');
    assert.equal(r.code, 0, r.stderr);
  }
  const version = await deploy('alice', 'f1', 'alice-app', 'v2');
  assert.equal(version.code, 0, `a new version of a function alice has is not a new function: ${version.stderr}`);
  const third = await deploy('alice', 'f3', 'alice-app');
  assert.notEqual(third.code, 0);
  assert.match(third.stderr, /'alice' owns 2 process functions, the quota \(fn\.max_functions_per_user\)/);
  // The package was uploaded before the refusal; deploying it over REST is the 413.
  const digest = /sha256 ([0-9a-f]{64})/.exec(third.stdout + third.stderr)![1];
  const rest = await post('alice', '/v1/fns', { package: digest, app: 'alice-app' });
  assert.equal(rest.status, 413, rest.body.toString());
  assert.match(rest.json().error.message, /fn\.max_functions_per_user/);
  const bob = await deploy('bob', 'f1', 'bob-app');
  assert.equal(bob.code, 0, `bob has a quota of his own: ${bob.stderr}`);
});
