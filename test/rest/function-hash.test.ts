import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type TestNode, auditedEnclaveInfo, startNode, tessera } from '../helpers/cli.js';
import { decryptDownload, encryptForUpload, sha256 } from '../helpers/files.js';
import { https } from '../helpers/https-client.js';
import { openNodeStore } from '../helpers/node-store.js';
import { identitiesDirOf } from '../../src/node/datadir.js';

// Issue 16: collaborators approved a hash of the code alone, so a function re-registered with an output's
// `for` changed showed them the same hash. function_hash now covers the interface too, and a collaborator
// sees it, and what it covers, with `tessera task show`, and can approve only that hash.

let node: TestNode;
let trust: string[];
before(async () => {
  node = await startNode({ users: ['alice', 'bob'], config: (c) => (c.log.level = 'warn') });
  const audit = await auditedEnclaveInfo(node.dir, ['godzilla']);
  trust = ['--url', `https://127.0.0.1:${node.ports.https}`, '--enclave-info', audit.enclaveInfo, '--auditor', `${audit.auditors[0].publicKey}:${audit.auditors[0].signatureFile}`];
});
after(() => node.cleanup());

const id = (u: string) => ({ ...node.identity(u), ca: node.ca });
const url = (p: string) => `https://127.0.0.1:${node.ports.https}${p}`;
const post = (u: string, p: string, json: unknown) => https(url(p), id(u), { method: 'POST', json });
const get = (u: string, p: string) => https(url(p), id(u));
const as = (user: string) => ['--identity', join(identitiesDirOf(node.dir), user), ...trust];
async function cli(args: string[]) {
  const r = await tessera(args);
  return { ...r, stdout: r.stdout.trim() };
}
async function ok(args: string[]) {
  const r = await cli(args);
  assert.equal(r.code, 0, `tessera ${args.join(' ')}\n${r.stderr}`);
  return r.stdout;
}
async function upload(u: string, content: string) {
  const plain = Buffer.from(content);
  const c = (await post(u, '/v1/files', { file_name: 'f', sha256: sha256(plain), file_size: plain.length })).json();
  assert.equal((await https(c.access_path, id(u), { method: 'PUT', body: encryptForUpload(c.key_config, plain), headers: { 'content-type': 'application/octet-stream' } })).status, 200);
  return c.file_id as string;
}
async function read(u: string, fileId: string) {
  const info = (await get(u, `/v1/files/${fileId}`)).json();
  return decryptDownload(info.key_config, (await https(info.access_path, id(u))).body).toString();
}

// Bob reviewed this: alice learns how many of her lines bob also has, and bob gets his own lines back,
// cleaned. `cleaned` goes to the owner of input b, that is bob.
const reviewed = {
  name: 'overlap',
  kind: 'js',
  type: 'Multiparty',
  description: 'counts common lines; returns b its own lines, trimmed',
  modules: {
    '/main.js':
      "export function entrypoint(args, io) { const a = io.inputText('a').split('\\n'); const b = io.inputText('b').split('\\n').map((l) => l.trim()); io.output('count', String(a.filter((l) => b.includes(l)).length)); io.output('cleaned', b.join('\\n')); return 'done'; }",
  },
  interface: {
    payload: 'none',
    arguments: [],
    inputs: [{ name: 'a' }, { name: 'b' }],
    outputs: [
      { name: 'count', for: 'file_owner', owner_of: 'a' },
      { name: 'cleaned', for: 'file_owner', owner_of: 'b' },
    ],
  },
};
// Alice's re-registration: the same code, `cleaned` now goes to the creator.
const rerouted = {
  ...reviewed,
  interface: { ...reviewed.interface, outputs: [reviewed.interface.outputs[0], { name: 'cleaned', for: 'creator' }] },
};
const BOB_SECRET = ' bob-secret-1\n shared\n bob-secret-2';

test("the same code with one output's `for` changed has another function_hash, shown to the collaborator", async () => {
  const r1 = await post('bob', '/v1/functions', reviewed);
  const r2 = await post('alice', '/v1/functions', rerouted);
  assert.equal(r1.status, 201, r1.body.toString());
  assert.equal(r2.status, 201, r2.body.toString());
  const [good, evil] = [r1.json(), r2.json()];
  assert.equal(good.code_hash, evil.code_hash, 'the code is the same');

  // The finding's scenario: alice creates a task with her re-registration, naming bob.
  const aliceFile = await upload('alice', 'shared\nalice-only');
  const bobFile = await upload('bob', BOB_SECRET);
  const goodTask = await ok(['task', 'create', good.function_id, '--collaborator', 'bob', '--file', aliceFile, ...as('alice')]);
  const evilTask = await ok(['task', 'create', evil.function_id, '--collaborator', 'bob', '--file', aliceFile, ...as('alice')]);
  const goodView = (await get('bob', `/v1/tasks/${goodTask}`)).json();
  const evilView = (await get('bob', `/v1/tasks/${evilTask}`)).json();
  assert.notEqual(evilView.function_hash, goodView.function_hash, 'bob sees that the tasks run different functions');
  // The hash bob reviewed is the registered function's.
  const goodHash = (await get('bob', `/v1/functions/${good.function_id}`)).json().function_hash;
  const evilHash = (await get('bob', `/v1/functions/${evil.function_id}`)).json().function_hash;
  assert.match(goodHash, /^[0-9a-f]{64}$/);
  assert.equal(goodView.function_hash, goodHash);
  assert.equal(evilView.function_hash, evilHash);

  // What bob sees with `tessera task show`: the hash, what it covers, and where each output goes.
  const shownEvil = await ok(['task', 'show', evilTask, ...as('bob')]);
  assert.match(shownEvil, new RegExp(`function_hash  ${evilHash}`));
  assert.doesNotMatch(shownEvil, new RegExp(goodHash));
  assert.match(shownEvil, /covers\s+.*code.*interface.*outputs with who receives each \(for, owner_of\)/);
  assert.match(shownEvil, /output\s+cleaned → the creator \(alice\)/);
  const shownGood = await ok(['task', 'show', goodTask, ...as('bob')]);
  assert.match(shownGood, new RegExp(`function_hash  ${goodHash}`));
  assert.match(shownGood, /output\s+cleaned → the owner of input 'b'/);
  assert.match(await ok(['task', 'get', evilTask, ...as('bob')]), new RegExp(`hash\\s+${evilHash}`));

  // Bob approves only the hash he reviewed: the rerouted task is refused, stays Created, and cannot run.
  const refused = await cli(['task', 'approve', evilTask, '--file', bobFile, '--function-hash', goodHash, ...as('bob')]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, new RegExp(`not approved: task ${evilTask} runs ${evil.function_id} with function_hash ${evilHash}, not the ${goodHash} you gave`));
  assert.equal((await get('bob', `/v1/tasks/${evilTask}`)).json().status, 'Created');
  const tried = await cli(['task', 'invoke', evilTask, ...as('alice')]);
  assert.equal(tried.code, 1);
  assert.match(tried.stderr, /still awaits approvals/);
  assert.deepEqual((await get('alice', `/v1/tasks/${evilTask}`)).json().user_private_result_file_id, []);

  // The reviewed routing, approved by its hash: bob gets his data back, alice only her count.
  assert.equal(await ok(['task', 'approve', goodTask, '--file', bobFile, '--function-hash', goodHash, ...as('bob')]), 'approved; the task is Ready');
  assert.equal(await ok(['task', 'invoke', goodTask, ...as('alice')]), 'done');
  const aliceResults = (await get('alice', `/v1/tasks/${goodTask}`)).json().user_private_result_file_id;
  const bobResults = (await get('bob', `/v1/tasks/${goodTask}`)).json().user_private_result_file_id;
  assert.deepEqual(await Promise.all(aliceResults.map((f: string) => read('alice', f))), ['1']);
  assert.deepEqual(await Promise.all(bobResults.map((f: string) => read('bob', f))), ['bob-secret-1\nshared\nbob-secret-2']);
});

test("an output's `for` changed in the store after approval: the task no longer runs", async () => {
  const { function_id } = (await post('bob', '/v1/functions', { ...reviewed, name: 'overlap2' })).json();
  const hash = (await get('bob', `/v1/functions/${function_id}`)).json().function_hash;
  const task = await ok(['task', 'create', function_id, '--collaborator', 'bob', '--file', await upload('alice', 'shared'), ...as('alice')]);
  await ok(['task', 'approve', task, '--file', await upload('bob', BOB_SECRET), '--function-hash', hash, ...as('bob')]);

  // Someone with access to the store reroutes `cleaned` to the creator, leaving the code (and code_hash) alone.
  // (Rows are sealed at rest: only someone holding the sealing key can do this.)
  const store = openNodeStore(node.dir);
  store.transact((tx) => {
    const record = tx.get<{ interface: { outputs: unknown[] } }>('functions.registered', function_id)!;
    record.interface.outputs[1] = { name: 'cleaned', for: 'creator' };
    tx.put('functions.registered', function_id, record);
  });
  store.close();

  assert.match(await ok(['task', 'show', task, ...as('bob')]), /WARNING\s+the function .* now has function_hash [0-9a-f]{64}: this task will not run/);
  const r = await cli(['task', 'invoke', task, ...as('alice')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`is not the function this task was created and approved with: its function_hash .* is [0-9a-f]{64}, the task's ${hash}`));
  const after = (await get('alice', `/v1/tasks/${task}`)).json();
  assert.equal(after.status, 'Failed');
  assert.deepEqual(after.user_private_result_file_id, []);
});

test('task show, and approve --function-hash, have help with an example', async () => {
  for (const args of [['task', 'show'], ['task', 'approve']]) {
    const r = await tessera([...args, '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Example/);
    assert.match(r.stdout, /function_hash/);
  }
  assert.match((await tessera(['task', 'approve', '--help'])).stdout, /--function-hash <hash>/);
});
