import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type TestNode, startNode } from '../helpers/cli.js';
import { encryptForUpload, letterRecords, sha256 } from '../helpers/files.js';
import { https } from '../helpers/https-client.js';
import { WireClient } from '../helpers/wire-client.js';

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice', 'bob', 'carol'], config: (c) => (c.files = { max_file_bytes: 65536, max_function_input_bytes: 1000 }) });
});
after(() => node.cleanup());

const id = (user: string) => ({ ...node.identity(user), ca: node.ca });
const url = (path: string) => `https://127.0.0.1:${node.ports.https}${path}`;
const octets = { 'content-type': 'application/octet-stream' };

async function create(user: string, plaintext: Buffer, declared: Partial<{ sha256: string; file_size: number }> = {}) {
  const r = await https(url('/v1/files'), id(user), { method: 'POST', json: { file_name: 'f', sha256: sha256(plaintext), file_size: plaintext.length, ...declared } });
  assert.equal(r.status, 201, r.body.toString());
  return r.json() as { file_id: string; access_path: string; key_config: { key: string; nonce: string; ad: string } };
}

/** The file's key id, as TDFS internal reports it, and whether KMS still has that key. */
async function keyOf(fileId: string): Promise<string> {
  const tdfs = await WireClient.connect(node.ports.tdfs_internal, { ...node.service, ca: node.ca });
  const r = await tdfs.request({ type: 'Get', file_id: fileId });
  tdfs.close();
  return r.file_info.key_id;
}
async function kmsHas(keyId: string): Promise<boolean> {
  const kms = await WireClient.connect(node.ports.kms, { ...node.service, ca: node.ca });
  const r = await kms.request({ type: 'Get', key_id: keyId });
  kms.close();
  return r.type === 'Get';
}
async function assertGone(fileId: string, keyId: string) {
  const info = await https(url(`/v1/files/${fileId}`), id('alice'));
  assert.equal(info.status, 404, 'the file is gone');
  assert.equal(await kmsHas(keyId), false, 'its key is gone');
  assert.ok(!readdirSync(join(node.dir, 'blobs')).includes(fileId), 'no blob');
  assert.deepEqual(readdirSync(join(node.dir, 'blobs', '.incoming')), [], 'no partial upload left');
}

test('a ciphertext whose tag fails is refused, and leaves no file and no key', async () => {
  const plain = Buffer.from('the quick brown fox');
  const f = await create('alice', plain);
  const keyId = await keyOf(f.file_id);
  assert.equal(await kmsHas(keyId), true);
  const blob = encryptForUpload(f.key_config, plain);
  blob[3] ^= 0x01;
  const r = await https(f.access_path, id('alice'), { method: 'PUT', body: blob, headers: octets });
  assert.equal(r.status, 400);
  assert.match(r.json().error.message, /GCM tag does not verify/);
  await assertGone(f.file_id, keyId);
});

test('a ciphertext shorter or longer than declared is refused', async () => {
  const plain = Buffer.from('0123456789');
  const short = await create('alice', plain);
  const r1 = await https(short.access_path, id('alice'), { method: 'PUT', body: encryptForUpload(short.key_config, plain).subarray(0, 20), headers: octets });
  assert.equal(r1.status, 400);
  assert.match(r1.json().error.message, /the ciphertext is 20 bytes; file_size 10 needs exactly 26/);

  const long = await create('alice', plain);
  const r2 = await https(long.access_path, id('alice'), { method: 'PUT', body: Buffer.concat([encryptForUpload(long.key_config, plain), Buffer.alloc(5)]), headers: octets });
  assert.equal(r2.status, 400);
  assert.match(r2.json().error.message, /longer than the declared file_size 10/);
});

test('a declared sha256 or file_size that does not match the content is refused', async () => {
  const plain = Buffer.from('real content');
  const liar = await create('alice', plain, { sha256: sha256(Buffer.from('other content')) });
  const r = await https(liar.access_path, id('alice'), { method: 'PUT', body: encryptForUpload(liar.key_config, plain), headers: octets });
  assert.equal(r.status, 400);
  assert.match(r.json().error.message, /plaintext's SHA-256 is .* not the declared/);

  const bad = await https(url('/v1/files'), id('alice'), { method: 'POST', json: { file_name: 'f', sha256: 'XYZ', file_size: 1 } });
  assert.equal(bad.status, 400);
  assert.match(bad.json().error.message, /sha256 must be 64 lowercase hex/);
});

test('an upload cut off halfway leaves no file and no key behind', async () => {
  const plain = Buffer.alloc(40000, 7);
  const f = await create('alice', plain);
  const keyId = await keyOf(f.file_id);
  const blob = encryptForUpload(f.key_config, plain);
  const alice = node.identity('alice');
  await new Promise<void>((resolve) => {
    const u = new URL(f.access_path);
    const req = request({
      host: u.hostname, port: u.port, path: u.pathname, method: 'PUT', cert: alice.cert, key: alice.key, ca: node.ca, servername: 'localhost',
      headers: { ...octets, 'content-length': blob.length, authorization: `Bearer ${alice.token}` },
    });
    req.on('error', () => resolve());
    req.write(blob.subarray(0, 20000), async () => {
      // Cut only once the node is verifiably mid-upload: its temporary file exists.
      const incoming = join(node.dir, 'blobs', '.incoming');
      for (let i = 0; i < 200 && readdirSync(incoming).length === 0; i++) await new Promise((r) => setTimeout(r, 25));
      req.destroy();
      resolve();
    });
  });
  // The node notices the cut and cleans up; give it a moment.
  for (let i = 0; i < 50 && (await https(url(`/v1/files/${f.file_id}`), id('alice'))).status !== 404; i++) await new Promise((r) => setTimeout(r, 100));
  await assertGone(f.file_id, keyId);
});

test('a file over the configured limit is refused at Create, on REST and on the wire', async () => {
  const before = (await https(url('/v1/files'), id('alice'))).json().files;
  const r = await https(url('/v1/files'), id('alice'), { method: 'POST', json: { file_name: 'big', sha256: sha256(Buffer.alloc(0)), file_size: 65537 } });
  assert.equal(r.status, 413);
  assert.match(r.json().error.message, /file_size 65537 is over this node's limit of 65536 bytes \(files.max_file_bytes\)/);
  const alice = node.identity('alice');
  const tdfs = await WireClient.connect(node.ports.tdfs_external, { cert: alice.cert, key: alice.key, ca: node.ca });
  const w = await tdfs.request({ type: 'Create', file_name: 'big', sha256: sha256(Buffer.alloc(0)), file_size: 65537, user_id: 'alice', user_token: alice.token });
  tdfs.close();
  assert.equal(w.kind, 'MsgSizeLimitExceedError');
  assert.deepEqual((await https(url('/v1/files'), id('alice'))).json().files, before, 'no file was created');
});

test('only the owner uploads, a file is never rewritten, and only the owner deletes', async () => {
  const plain = Buffer.from('mine');
  const f = await create('alice', plain);
  const blob = encryptForUpload(f.key_config, plain);
  const byBob = await https(f.access_path, id('bob'), { method: 'PUT', body: blob, headers: octets });
  assert.equal(byBob.status, 403);
  assert.equal((await https(f.access_path, id('alice'), { method: 'PUT', body: blob, headers: octets })).status, 200);
  const again = await https(f.access_path, id('alice'), { method: 'PUT', body: blob, headers: octets });
  assert.equal(again.status, 409);
  assert.match(again.json().error.message, /never rewritten/);
  assert.equal((await https(f.access_path, id('bob'))).status, 403, 'Bob cannot download it');
  const del = await https(url(`/v1/files/${f.file_id}`), id('bob'), { method: 'DELETE' });
  assert.equal(del.status, 403);
  assert.equal((await https(f.access_path, id('alice'))).status, 200, 'still there after the refused delete');
  const ok = await https(url(`/v1/files/${f.file_id}`), id('alice'), { method: 'DELETE' });
  assert.equal(ok.status, 200);
  assert.equal((await https(f.access_path, id('alice'))).status, 404);
});

async function upload(user: string, plain: Buffer): Promise<string> {
  const f = await create(user, plain);
  const r = await https(f.access_path, id(user), { method: 'PUT', body: encryptForUpload(f.key_config, plain), headers: octets });
  assert.equal(r.status, 200);
  return f.file_id;
}

async function runTask(fn: string, creatorFile: string, collaborators: Array<[string, string]>) {
  const c = await https(url('/v1/tasks'), id('alice'), { method: 'POST', json: { function_name: fn, collaborator_list: collaborators.map(([u]) => u), files: [creatorFile] } });
  const { task_id, task_token } = c.json();
  for (const [user, file] of collaborators) {
    const a = await https(url(`/v1/tasks/${task_id}/approve`), id(user), { method: 'POST', json: { files: [file] } });
    assert.equal(a.status, 200, a.body.toString());
  }
  const run = await https(url(`/v1/tasks/${task_id}/invoke`), id('alice'), { method: 'POST', json: { task_token } });
  const status = (await https(url(`/v1/tasks/${task_id}`), id('alice'))).json().status;
  return { run, status, task_id };
}

test('approving twice is refused while others still have to approve', async () => {
  const a = await upload('alice', letterRecords('a'));
  const b = await upload('bob', letterRecords('a'));
  const c = await https(url('/v1/tasks'), id('alice'), { method: 'POST', json: { function_name: 'concat', collaborator_list: ['bob', 'carol'], files: [a] } });
  const taskId = c.json().task_id;
  assert.equal((await https(url(`/v1/tasks/${taskId}/approve`), id('bob'), { method: 'POST', json: { files: [b] } })).status, 200);
  const twice = await https(url(`/v1/tasks/${taskId}/approve`), id('bob'), { method: 'POST', json: { files: [b] } });
  assert.equal(twice.status, 403);
  assert.match(twice.json().error.message, /'bob' has already approved/);
  const task = (await https(url(`/v1/tasks/${taskId}`), id('bob'))).json();
  assert.equal(task.status, 'Created');
  assert.deepEqual(task.collaborator_list, [{ user_id: 'bob', approved: true }, { user_id: 'carol', approved: false }]);
});

test('psi input files of the wrong format fail the task with a clear reason and no results', async () => {
  const good = await upload('alice', letterRecords('ab'));
  const ragged = await upload('bob', Buffer.alloc(33, 1));
  const r1 = await runTask('psi', good, [['bob', ragged]]);
  assert.equal(r1.run.status, 400);
  assert.match(r1.run.json().error.message, /file 2 is 33 bytes, not a whole number of 32-byte records/);
  assert.equal(r1.status, 'Failed');

  const unsorted = await upload('bob', letterRecords('ca'));
  const r2 = await runTask('psi', good, [['bob', unsorted]]);
  assert.equal(r2.run.status, 400);
  assert.match(r2.run.json().error.message, /file 2 \(the second party’s\) is not sorted/);
  const view = (await https(url(`/v1/tasks/${r2.task_id}`), id('alice'))).json();
  assert.deepEqual(view.user_private_result_file_id, [], 'a failed task leaves no results');
});

test('a function reading a file over files.max_function_input_bytes fails its task with the limit named', async () => {
  const big = await upload('alice', Buffer.alloc(1001, 0x61));
  const c = await https(url('/v1/tasks'), id('alice'), { method: 'POST', json: { function_name: 'echo_file' } });
  const r = await https(url(`/v1/tasks/${c.json().task_id}/invoke`), id('alice'), { method: 'POST', json: { task_token: c.json().task_token, payload: big } });
  assert.equal(r.status, 413);
  assert.match(r.json().error.message, /is 1001 bytes; functions read at most 1000 \(files.max_function_input_bytes\)/);
  assert.equal((await https(url(`/v1/tasks/${c.json().task_id}`), id('alice'))).json().status, 'Failed');
});

test('a multi-party task needs a collaborator and a file; an unknown collaborator cannot approve', async () => {
  const r = await https(url('/v1/tasks'), id('alice'), { method: 'POST', json: { function_name: 'psi', collaborator_list: [], files: [] } });
  assert.equal(r.status, 400);
  assert.match(r.json().error.message, /psi is multi-party: name at least one collaborator and one of your files/);
  const notMine = await https(url('/v1/tasks'), id('alice'), { method: 'POST', json: { function_name: 'psi', collaborator_list: ['bob'], files: ['00000000-0000-4000-8000-000000000000'] } });
  assert.equal(notMine.status, 403);
  assert.match(notMine.json().error.message, /does not exist or 'alice' may not read it/);
});
