// Issue 16 #5: after `tessera user remove bob; tessera user add bob`, the new bob (new certificate, new
// token) listed and decrypted the old bob's files. Removing a user now moves what it owned to
// `removed:<its certId>`, which no principal can be: its files, its place in files' collaborator lists
// and in tasks. The new bob starts with nothing; alice keeps what she had.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type TestNode, startNode, tessera } from '../helpers/cli.js';
import { decryptDownload, encryptForUpload, sha256 } from '../helpers/files.js';
import { https } from '../helpers/https-client.js';

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice', 'bob'], config: (c) => (c.log.level = 'warn') });
});
after(() => node?.cleanup());

const id = (user: string) => ({ ...node.identity(user), ca: node.ca });
const url = (path: string) => `https://127.0.0.1:${node.ports.https}${path}`;

async function upload(user: string, content: string): Promise<string> {
  const plain = Buffer.from(content);
  const c = await https(url('/v1/files'), id(user), { method: 'POST', json: { file_name: 'in', sha256: sha256(plain), file_size: plain.length } });
  assert.equal(c.status, 201, c.body.toString());
  const { file_id, access_path, key_config } = c.json();
  const put = await https(access_path, id(user), { method: 'PUT', body: encryptForUpload(key_config, plain), headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(put.status, 200, put.body.toString());
  return file_id;
}

async function download(user: string, fileId: string): Promise<string> {
  const info = await https(url(`/v1/files/${fileId}`), id(user));
  assert.equal(info.status, 200, info.body.toString());
  return decryptDownload(info.json().key_config, (await https(info.json().access_path, id(user))).body).toString();
}

test('a user removed and added again under the same name inherits none of the old files, shared files or tasks', async () => {
  const bobsFile = await upload('bob', 'old bob');
  // A two-party task: alice creates swap_file, bob approves with his file; the shared result names bob as a collaborator.
  const aliceFile = await upload('alice', 'ALICE');
  const c = await https(url('/v1/tasks'), id('alice'), { method: 'POST', json: { function_name: 'swap_file', files: [aliceFile], collaborator_list: ['bob'] } });
  assert.equal(c.status, 201, c.body.toString());
  const { task_id, task_token } = c.json();
  const swapIn = await upload('bob', 'BOB');
  assert.equal((await https(url(`/v1/tasks/${task_id}/approve`), id('bob'), { method: 'POST', json: { files: [swapIn] } })).status, 200);
  const r = await https(url(`/v1/tasks/${task_id}/invoke`), id('alice'), { method: 'POST', json: { task_token, payload: null } });
  assert.equal(r.status, 200, r.body.toString());
  const shared = r.json().result as string;
  assert.equal(await download('bob', shared), 'ALICEBOB');
  const oldBobs = (await https(url('/v1/files'), id('bob'))).json().files as string[];
  assert.ok(oldBobs.includes(bobsFile) && oldBobs.includes(swapIn) && oldBobs.length >= 3, JSON.stringify(oldBobs));

  const removed = await tessera(['user', 'remove', 'bob', '--data', node.dir]);
  assert.equal(removed.code, 0, removed.stderr);
  const added = await tessera(['user', 'add', 'bob', '--data', node.dir]);
  assert.equal(added.code, 0, added.stderr);

  // The new bob: no files, none of the old ones readable, not a participant of the old task.
  const list = await https(url('/v1/files'), id('bob'));
  assert.equal(list.status, 200, list.body.toString());
  assert.deepEqual(list.json().files, []);
  for (const fileId of [...oldBobs, shared]) {
    const info = await https(url(`/v1/files/${fileId}`), id('bob'));
    assert.ok([403, 404].includes(info.status), `${fileId}: ${info.status} ${info.body.toString()}`);
    const content = await https(url(`/v1/files/${fileId}/content`), id('bob'));
    assert.ok([403, 404].includes(content.status), `${fileId} content: ${content.status}`);
    const del = await https(url(`/v1/files/${fileId}`), id('bob'), { method: 'DELETE' });
    assert.ok([403, 404].includes(del.status), `${fileId} delete: ${del.status}`);
  }
  const task = await https(url(`/v1/tasks/${task_id}`), id('bob'));
  assert.ok([403, 404].includes(task.status), `task: ${task.status} ${task.body.toString()}`);
  const tasks = await https(url('/v1/tasks'), id('bob'));
  assert.ok(!tasks.body.toString().includes(task_id), tasks.body.toString());

  // alice keeps what she had: her task, its shared result and her private result.
  const view = await https(url(`/v1/tasks/${task_id}`), id('alice'));
  assert.equal(view.status, 200, view.body.toString());
  assert.equal(await download('alice', shared), 'ALICEBOB');
  assert.equal(await download('alice', view.json().user_private_result_file_id[0]), 'BOB');
  assert.ok(!view.body.toString().includes('"bob"'), `the task names the archive, not the new bob: ${view.body.toString()}`);
  // The new bob's own files work as usual.
  const fresh = await upload('bob', 'new bob');
  assert.deepEqual((await https(url('/v1/files'), id('bob'))).json().files, [fresh]);
});
