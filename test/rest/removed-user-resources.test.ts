// Issue 16 #5, the rest of it: what a removed user ran, not only what it stored. bob deploys a process
// function and runs a workflow with an http-ingress route, synced state and a delayed cast that keeps
// syncing; then `tessera user remove bob; tessera user add bob`, on the data directory of the running
// node. The new bob owns, lists, calls, stops and is counted for none of it; his workflow of the same name
// starts without the old state; the old route and function answer nobody, and the old function's processes
// are stopped. alice, who ran the same kinds of things alongside, keeps them running throughout.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { certIdOfPem } from '../../src/crypto/certificates.js';
import { functionId } from '../../src/functions/process/service.js';
import { type TestNode, startNode, tessera } from '../helpers/cli.js';
import { fnDir, nodeYaml } from '../helpers/fn-fixtures.js';
import { https } from '../helpers/https-client.js';
import { HTTP_REPLY, ingress, jsFunction, workflowClient } from '../helpers/workflows.js';
import { identitiesDirOf } from '../../src/node/datadir.js';

let node: TestNode;
const as = (user: string) => ({ ...node.identity(user), ca: node.ca });
const url = (p: string) => `https://127.0.0.1:${node.ports.https}${p}`;

/**
 * A vault behind an ingress route: a POST syncs its body; a GET answers the state handle_init got and the
 * state now. A delayed cast to itself every 20 ms syncs the state again, so an instance left running keeps
 * writing its state for as long as it runs.
 */
const VAULT = `${HTTP_REPLY}
let seen = ''; let current = ''; let ticks = 0;
export function handle_init(payload, state) { seen = state ?? ''; current = seen; edgeless.delayed_cast(20, 'self', 'tick'); }
export function handle_cast(src, msg) {
  if (msg !== 'tick') return;
  ticks++;
  if (current) edgeless.sync(current);
  edgeless.delayed_cast(20, 'self', 'tick');
}
export function handle_call(src, msg) {
  const req = JSON.parse(msg);
  if (req.method === 'Post') { current = String.fromCharCode(...req.body); edgeless.sync(current); return reply(200, 'synced'); }
  return reply(200, 'init saw [' + seen + '] now [' + current + ']');
}`;
const payroll = (host: string) => ({ functions: [jsFunction('vault', VAULT)], resources: [ingress('vault', { host })] });

/** A process function whose answer (a string, which the FDK sends JSON-encoded) names its owner; kept hot for 300 s, so only the node can end its processes early. */
const deploy = async (user: string, app: string, answer: string) => {
  const name = `${user}fn`;
  const dir = fnDir(name, nodeYaml(name, 'idle_timeout: 300\ntriggers:\n- name: hello\n  type: http\n  source: /hello\n'), {
    'func.js': `require('@fnproject/fdk').handle(() => ${JSON.stringify(answer)}, { inputMode: 'string' });`,
  });
  const r = await tessera(['fn', 'deploy', dir, '--app', app, '-i', `${identitiesDirOf(node.dir)}/${user}`, '--url', url(''), '--insecure-skip-verification']);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
};
const invoke = (user: string, id: string) => https(url(`/invoke/${id}`), as(user), { method: 'POST', body: Buffer.from('{}'), headers: { 'content-type': 'text/plain' } });
const fns = async (user: string) => (await https(url('/v1/fns'), as(user))).json().fns as Array<{ id: string; owner: string; app: string; package: string }>;

/** Live processes whose command line or working directory names the package: a function's bwrap (its code directory is bound) or, unconfined, the function itself. */
function processesOf(digest: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (['Z', 'X'].includes(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0])) continue;
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${entry}/cwd`);
      } catch {
        // another uid's process: its command line still shows the bound code directory
      }
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(digest) || cwd.includes(digest)) found.push(Number(entry));
    } catch {
      // the process ended while it was being read
    }
  }
  return found;
}

const idOf = (r: { json(): any }) => r.json().workflow_id as string;
const old = { fn: '', digest: '', archivedFn: '', workflow: '' };
const aliceOf = { fn: '', workflow: '' };

before(async () => {
  node = await startNode({
    users: ['alice', 'bob'],
    config: (c) => {
      c.log.level = 'warn';
      c.fn = { allow_direct_deploy: true, max_functions_per_user: 1 };
      c.workflows = { max_workflows_per_user: 1 };
    },
  });
  const alice = workflowClient(node, 'alice');
  const bob = workflowClient(node, 'bob');

  // bob's function, called once so that its processes run; alice's alongside.
  old.fn = await deploy('bob', 'bobapp', "old bob's function");
  aliceOf.fn = await deploy('alice', 'aliceapp', "alice's function");
  for (const [user, id, answer] of [['bob', old.fn, "old bob's function"], ['alice', aliceOf.fn, "alice's function"]]) {
    const r = await invoke(user, id);
    assert.deepEqual([r.status, r.body.toString()], [200, JSON.stringify(answer)]);
  }
  old.digest = (await fns('bob')).find((f) => f.id === old.fn)!.package;
  assert.notDeepEqual(processesOf(old.digest), [], "bob's function has processes running");
  const bobCert = node.identity('bob').cert;
  old.archivedFn = functionId(`removed:${certIdOfPem(bobCert)}`, 'bobapp', old.digest);

  // bob's and alice's 'payroll', each with a secret synced and kept being synced.
  const b = await bob.start(payroll('bob.example'), 'payroll');
  assert.equal(b.status, 201, b.body.toString());
  old.workflow = idOf(b);
  assert.equal((await bob.ingressAt('bob.example', '/set', { body: 'bob-secret' })).body.toString(), 'synced');
  const a = await alice.start(payroll('alice.example'), 'payroll');
  assert.equal(a.status, 201, a.body.toString());
  aliceOf.workflow = idOf(a);
  assert.equal((await alice.ingressAt('alice.example', '/set', { body: 'alice-secret' })).body.toString(), 'synced');

  const removed = await tessera(['user', 'remove', 'bob', '--data', node.dir]);
  assert.equal(removed.code, 0, removed.stderr);
  const added = await tessera(['user', 'add', 'bob', '--data', node.dir]);
  assert.equal(added.code, 0, added.stderr);
  assert.notEqual(node.identity('bob').cert, bobCert, 'the new bob has a certificate of his own');
});
after(() => node?.cleanup());

test("the new bob owns, lists, calls and removes none of the old bob's process functions; nobody calls them", async () => {
  const listed = await fns('bob');
  assert.deepEqual(listed.filter((f) => f.owner === 'bob' || f.id === old.fn), [], JSON.stringify(listed));
  for (const user of ['bob', 'alice']) {
    for (const id of [old.fn, old.archivedFn]) {
      const r = await invoke(user, id);
      assert.equal(r.status, 404, `${user} calls ${id === old.fn ? 'the old id' : 'the archived id'}: ${r.status} ${r.body.toString()}`);
    }
    const t = await https(url('/t/bobapp/hello'), as(user), { method: 'POST', body: Buffer.from('x') });
    assert.equal(t.status, 404, `${user} through the old trigger: ${t.status} ${t.body.toString()}`);
  }
  for (const id of [old.fn, old.archivedFn]) {
    const del = await https(url(`/v1/fns/${id}`), as('bob'), { method: 'DELETE' });
    assert.equal(del.status, 404, del.body.toString());
  }
  // The app stays the archive's: the new bob cannot deploy into it and take its trigger.
  const dir = fnDir('bobfn', nodeYaml('bobfn'), { 'func.js': "require('@fnproject/fdk').handle(() => 'x');" });
  const into = await tessera(['fn', 'deploy', dir, '--app', 'bobapp', '-i', `${identitiesDirOf(node.dir)}/bob`, '--url', url(''), '--insecure-skip-verification']);
  assert.notEqual(into.code, 0);
  assert.match(into.stderr, /app 'bobapp' belongs to the archive of a removed user/);
});

test("the old bob's function processes are stopped by the running node", async () => {
  await workflowClient(node, 'bob').until(async () => (processesOf(old.digest).length === 0 ? true : undefined), "the end of the old bob's function processes");
});

test("the new bob sees, stops and inherits none of the old bob's workflows: no route, no state", async () => {
  const bob = workflowClient(node, 'bob');
  assert.deepEqual((await bob.list()).json().workflows, []);
  assert.equal((await bob.inspect(old.workflow)).status, 404);
  assert.equal((await bob.stop(old.workflow)).status, 404);
  // The old route answers nobody: not the new bob, not alice.
  for (const user of ['bob', 'alice']) {
    const r = await workflowClient(node, user).ingressAt('bob.example', '/get');
    assert.equal(r.status, 404, `${user} at the old route: ${r.status} ${r.body.toString()}`);
  }
  // His own 'payroll' on the same host: it starts (the old one holds neither the name, the route nor his
  // quota of one workflow) and gets no old state, even though the old instance kept syncing until stopped.
  const mine = await bob.start(payroll('bob.example'), 'payroll');
  assert.equal(mine.status, 201, mine.body.toString());
  assert.equal((await bob.ingressAt('bob.example', '/get')).body.toString(), 'init saw [] now []');
  assert.equal((await bob.stop(idOf(mine))).status, 200);
});

test("the new bob's quota counts none of the old bob's process functions", async () => {
  const id = await deploy('bob', 'newbobapp', "new bob's function");
  const r = await invoke('bob', id);
  assert.deepEqual([r.status, r.body.toString()], [200, JSON.stringify("new bob's function")]);
  assert.deepEqual((await fns('bob')).filter((f) => f.owner === 'bob').map((f) => f.id), [id]);
});

test('alice is unaffected: her function and her workflow keep answering, her state is hers', async () => {
  const r = await invoke('alice', aliceOf.fn);
  assert.deepEqual([r.status, r.body.toString()], [200, JSON.stringify("alice's function")]);
  const alice = workflowClient(node, 'alice');
  assert.deepEqual((await alice.list()).json().workflows.map((w: { workflow_id: string }) => w.workflow_id), [aliceOf.workflow]);
  assert.equal((await alice.ingressAt('alice.example', '/get')).body.toString(), 'init saw [] now [alice-secret]');
});
