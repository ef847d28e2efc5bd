// Files a user creates and never uploads do not stay for ever, and one user cannot claim unbounded
// files or bytes (issue 16: 1,500 "pending" 4 GiB files survived a restart, with no quota).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type TestNode, startNode } from '../helpers/cli.js';
import { decryptDownload, encryptForUpload, sha256 } from '../helpers/files.js';
import { https } from '../helpers/https-client.js';
import { WireClient } from '../helpers/wire-client.js';

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice', 'bob'], config: (c) => (c.files = { max_files_per_user: 3, max_bytes_per_user: 1000, pending_ttl_s: 2 }) });
});
after(() => node?.cleanup());

const as = (user: string) => ({ ...node.identity(user), ca: node.ca });
const create = (user: string, size: number) => https(`https://127.0.0.1:${node.ports.https}/v1/files`, as(user), { method: 'POST', json: { file_name: 'f.bin', sha256: '0'.repeat(64), file_size: size } });

test('past files.max_files_per_user or files.max_bytes_per_user, Create is refused with the setting named; other users are not affected', async () => {
  const made = [await create('alice', 100), await create('alice', 100)];
  assert.deepEqual(made.map((r) => r.status), [201, 201], made.map((r) => r.body.toString()).join(' '));
  const tooBig = await create('alice', 900);
  assert.equal(tooBig.status, 413);
  assert.match(tooBig.json().error.message, /would own 1100 bytes of files, over the quota of 1000 \(files\.max_bytes_per_user\)/);
  assert.equal((await create('alice', 100)).status, 201);
  const tooMany = await create('alice', 1);
  assert.equal(tooMany.status, 413);
  assert.match(tooMany.json().error.message, /owns 3 files, the quota \(files\.max_files_per_user\)/);
  // The wire's TDFS Create goes through the same check.
  const alice = node.identity('alice');
  const wire = await WireClient.connect(node.ports.tdfs_external, { cert: alice.cert, key: alice.key, ca: node.ca });
  const reply = await wire.request({ type: 'Create', user_id: 'alice', user_token: alice.token, file_name: 'w.bin', sha256: '0'.repeat(64), file_size: 1 });
  assert.equal(reply.type, 'Error');
  assert.match(reply.message, /files\.max_files_per_user/);
  wire.close();
  // The bystander: bob, with a quota of his own, still uploads a file and reads it back.
  const plain = Buffer.from('bob is not affected');
  const bobs = await https(`https://127.0.0.1:${node.ports.https}/v1/files`, as('bob'), { method: 'POST', json: { file_name: 'b.txt', sha256: sha256(plain), file_size: plain.length } });
  assert.equal(bobs.status, 201, `bob has a quota of his own: ${bobs.body.toString()}`);
  const { file_id, access_path, key_config } = bobs.json();
  const put = await https(access_path, as('bob'), { method: 'PUT', body: encryptForUpload(key_config, plain), headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(put.status, 200, put.body.toString());
  const back = await https(`https://127.0.0.1:${node.ports.https}/v1/files/${file_id}/content`, as('bob'));
  assert.deepEqual(decryptDownload(key_config, back.body), plain);
});

test('a file created and never uploaded is removed after files.pending_ttl_s, and frees its place in the quota', async () => {
  const pending = await create('bob', 10);
  assert.equal(pending.status, 201);
  const id = pending.json().file_id;
  const deadline = Date.now() + 15_000;
  let status = 200;
  while (Date.now() < deadline && status !== 404) {
    await new Promise((r) => setTimeout(r, 250));
    status = (await https(`https://127.0.0.1:${node.ports.https}/v1/files/${id}`, as('bob'))).status;
  }
  assert.equal(status, 404, 'the pending file was swept');
  assert.match(node.logs(), /files created but not uploaded within files\.pending_ttl_s were removed/);
});
