import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type TestNode, startNode } from '../helpers/cli.js';
import { decryptDownload, encryptForUpload, letterRecords, sha256 } from '../helpers/files.js';
import { https } from '../helpers/https-client.js';

// The same two-party psi flow as test/wire/psi.test.ts, over the REST API.

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice', 'bob'] });
});
after(() => node.cleanup());

const api = (user: string) => {
  const id = { ...node.identity(user), ca: node.ca };
  const url = (path: string) => `https://127.0.0.1:${node.ports.https}${path}`;
  return {
    get: (path: string) => https(url(path), id),
    post: (path: string, json: unknown) => https(url(path), id, { method: 'POST', json }),
    async upload(name: string, plaintext: Buffer): Promise<string> {
      const created = await https(url('/v1/files'), id, { method: 'POST', json: { file_name: name, sha256: sha256(plaintext), file_size: plaintext.length } });
      assert.equal(created.status, 201, created.body.toString());
      const { file_id, access_path, key_config } = created.json();
      const put = await https(access_path, id, { method: 'PUT', body: encryptForUpload(key_config, plaintext), headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(put.status, 200, put.body.toString());
      assert.equal(put.json().state, 'available');
      return file_id;
    },
    async download(fileId: string): Promise<Buffer> {
      const info = await https(url(`/v1/files/${fileId}`), id);
      assert.equal(info.status, 200, info.body.toString());
      const blob = await https(info.json().access_path, id);
      assert.equal(blob.status, 200);
      assert.equal(blob.headers['content-type'], 'application/octet-stream');
      return decryptDownload(info.json().key_config, blob.body);
    },
  };
};

test('Alice and Bob run psi over REST', async () => {
  const alice = api('alice');
  const bob = api('bob');
  const aliceFile = await alice.upload('alice.bin', letterRecords('abde'));
  const bobFile = await bob.upload('bob.bin', letterRecords('bcd'));

  const created = await alice.post('/v1/tasks', { function_name: 'psi', collaborator_list: ['bob'], files: [aliceFile] });
  assert.equal(created.status, 201, created.body.toString());
  const { task_id, task_token, status } = created.json();
  assert.equal(status, 'Created');

  const early = await bob.post(`/v1/tasks/${task_id}/invoke`, { task_token });
  assert.equal(early.status, 403);
  assert.equal(early.json().error.code, 'AuthorizationFailed');
  assert.match(early.json().error.message, /not Ready/);

  const approve = await bob.post(`/v1/tasks/${task_id}/approve`, { files: [bobFile] });
  assert.equal(approve.status, 200, approve.body.toString());
  assert.deepEqual(approve.json(), { status: 'Ready', approved_user_number: 1 });

  const run = await alice.post(`/v1/tasks/${task_id}/invoke`, { task_token });
  assert.equal(run.status, 200, run.body.toString());
  assert.deepEqual(run.json(), { result: 'Finished' });

  const aliceView = (await alice.get(`/v1/tasks/${task_id}`)).json();
  const bobView = (await bob.get(`/v1/tasks/${task_id}`)).json();
  assert.equal(aliceView.status, 'Finished');
  // Who contributed which files (REST only: the wire keeps MesaTEE's task_info).
  assert.deepEqual(bobView.input_files, [{ user_id: 'alice', file_id: aliceFile }, { user_id: 'bob', file_id: bobFile }]);
  assert.deepEqual([...(await alice.download(aliceView.user_private_result_file_id[0]))], [0, 1, 1, 0]);
  assert.deepEqual([...(await bob.download(bobView.user_private_result_file_id[0]))], [1, 0, 1]);

  assert.deepEqual((await alice.get('/v1/tasks')).json().tasks, [task_id]);
  const aliceFiles = (await alice.get('/v1/files')).json().files;
  assert.deepEqual(aliceFiles.sort(), [aliceFile, aliceView.user_private_result_file_id[0]].sort(), 'List returns the caller’s files: input and result');
});

test('the REST API describes itself at /v1/api, and lists the functions with their interfaces', async () => {
  const spec = (await https(`https://127.0.0.1:${node.ports.https}/v1/api`, { ca: node.ca })).json();
  assert.match(spec.openapi, /^3\./);
  for (const path of ['/v1/files', '/v1/files/{id}/content', '/v1/tasks', '/v1/tasks/{id}/approve', '/v1/tasks/{id}/invoke', '/v1/functions']) {
    assert.ok(spec.paths[path], `OpenAPI lacks ${path}`);
  }
  const fns = (await api('alice').get('/v1/functions')).json().functions;
  const psi = fns.find((f: any) => f.name === 'psi');
  assert.equal(psi.type, 'Multiparty');
  assert.deepEqual(psi.interface.inputs.map((i: any) => i.name), ['file1', 'file2']);
});

test('REST needs the user’s own bearer token alongside the certificate', async () => {
  const alice = node.identity('alice');
  const url = `https://127.0.0.1:${node.ports.https}/v1/tasks`;
  const none = await https(url, { cert: alice.cert, key: alice.key, ca: node.ca });
  assert.equal(none.status, 401);
  assert.match(none.json().error.message, /Authorization: Bearer/);
  const wrong = await https(url, { cert: alice.cert, key: alice.key, ca: node.ca, token: node.identity('bob').token });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.json().error.code, 'InvalidAuthenticationInfo');
});
