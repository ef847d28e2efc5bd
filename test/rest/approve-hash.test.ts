// `approve --function-hash` is the node's check, not only the client's: POST /v1/tasks/{id}/approve takes
// the function_hash the collaborator reviewed and the node refuses (409, both hashes named, nothing
// recorded) when the task's function has another one. A client that skips the comparison, or a function
// changed between a client's look and its approval, cannot get an approval of what was not reviewed.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type TestNode, startNode, tessera } from '../helpers/cli.js';
import { encryptForUpload, sha256 } from '../helpers/files.js';
import { https } from '../helpers/https-client.js';
import { identitiesDirOf } from '../../src/node/datadir.js';

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice', 'bob'], config: (c) => (c.log.level = 'warn') });
});
after(() => node?.cleanup());

const id = (u: string) => ({ ...node.identity(u), ca: node.ca });
const url = (p: string) => `https://127.0.0.1:${node.ports.https}${p}`;
const post = (u: string, p: string, json: unknown) => https(url(p), id(u), { method: 'POST', json });
const get = (u: string, p: string) => https(url(p), id(u));
const cli = (args: string[], user: string) => tessera([...args, '--identity', join(identitiesDirOf(node.dir), user), '--url', url(''), '--insecure-skip-verification']);

async function upload(u: string, content: string) {
  const plain = Buffer.from(content);
  const c = (await post(u, '/v1/files', { file_name: 'f', sha256: sha256(plain), file_size: plain.length })).json();
  assert.equal((await https(c.access_path, id(u), { method: 'PUT', body: encryptForUpload(c.key_config, plain), headers: { 'content-type': 'application/octet-stream' } })).status, 200);
  return c.file_id as string;
}

/** A two-party function: each party's line count goes to that party. */
const fn = (name: string) => ({
  name,
  kind: 'js',
  type: 'Multiparty',
  modules: { '/main.js': "export function entrypoint(args, io) { io.output('a', String(io.inputText('a').split('\\n').length)); io.output('b', String(io.inputText('b').split('\\n').length)); return 'done'; }" },
  interface: { payload: 'none', arguments: [], inputs: [{ name: 'a' }, { name: 'b' }], outputs: [{ name: 'a', for: 'file_owner', owner_of: 'a' }, { name: 'b', for: 'file_owner', owner_of: 'b' }] },
});

/** alice registers `fn` and creates a task over it naming bob; answers the task and the function's hash. */
async function taskFor(name: string) {
  const f = await post('alice', '/v1/functions', fn(name));
  assert.equal(f.status, 201, f.body.toString());
  const t = await post('alice', '/v1/tasks', { function_name: f.json().function_id, collaborator_list: ['bob'], files: [await upload('alice', 'x\ny')] });
  assert.equal(t.status, 201, t.body.toString());
  return { task: t.json().task_id as string, hash: f.json().function_hash as string };
}

const bobApproved = async (task: string) => {
  const view = (await get('bob', `/v1/tasks/${task}`)).json();
  return { status: view.status, approved: view.collaborator_list.find((c: { user_id: string }) => c.user_id === 'bob').approved };
};

test('REST: a function_hash other than the function’s is refused with 409 naming both, and nothing is recorded; the right one approves', async () => {
  const { task, hash } = await taskFor('count-lines');
  const other = 'f'.repeat(64);
  const bobFile = await upload('bob', 'b');
  const refused = await post('bob', `/v1/tasks/${task}/approve`, { files: [bobFile], function_hash: other });
  assert.equal(refused.status, 409, refused.body.toString());
  const message = refused.json().error.message as string;
  assert.match(message, new RegExp(`function_hash ${hash}, not the ${other} you gave`));
  assert.match(message, /nothing was recorded/);
  assert.deepEqual(await bobApproved(task), { status: 'Created', approved: false });

  // Nothing was recorded, so the same collaborator can still approve, with the hash he reviewed.
  const approved = await post('bob', `/v1/tasks/${task}/approve`, { files: [bobFile], function_hash: hash.toUpperCase() });
  assert.equal(approved.status, 200, approved.body.toString());
  assert.equal(approved.json().status, 'Ready');
  assert.deepEqual(await bobApproved(task), { status: 'Ready', approved: true });
});

test('REST: a function_hash given for a built-in function (which has none) is refused', async () => {
  const t = await post('alice', '/v1/tasks', { function_name: 'psi', collaborator_list: ['bob'], files: [await upload('alice', 'a')] });
  assert.equal(t.status, 201, t.body.toString());
  const task = t.json().task_id;
  const refused = await post('bob', `/v1/tasks/${task}/approve`, { files: [await upload('bob', 'b')], function_hash: 'a'.repeat(64) });
  assert.equal(refused.status, 409, refused.body.toString());
  assert.match(refused.json().error.message, /with function_hash none \(a built-in function/);
  assert.deepEqual(await bobApproved(task), { status: 'Created', approved: false });
});

test('the CLI sends --function-hash to the node: refused with its message, then approved with the right hash', async () => {
  const { task, hash } = await taskFor('count-lines-2');
  const bobFile = await upload('bob', 'b');
  const other = '0'.repeat(64);
  const refused = await cli(['task', 'approve', task, '--file', bobFile, '--function-hash', other], 'bob');
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, new RegExp(`not approved: task ${task} runs [0-9a-f]{64} with function_hash ${hash}, not the ${other} you gave; nothing was recorded`));
  assert.deepEqual(await bobApproved(task), { status: 'Created', approved: false });
  const ok = await cli(['task', 'approve', task, '--file', bobFile, '--function-hash', hash], 'bob');
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout.trim(), 'approved; the task is Ready');
});
