import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TEST_ENV, type TestNode, startNode, tessera } from '../helpers/cli.js';
import { decryptDownload, encryptForUpload, sha256 } from '../helpers/files.js';
import { https } from '../helpers/https-client.js';
import { WireClient } from '../helpers/wire-client.js';

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice', 'bob'] });
});
after(() => node.cleanup());

const service = (listener: string) => WireClient.connect(node.ports[listener], { ...node.service, ca: node.ca });
const user = (listener: string, name: string) => {
  const id = node.identity(name);
  return WireClient.connect(node.ports[listener], { cert: id.cert, key: id.key, ca: node.ca });
};
const creds = (name: string) => ({ user_id: name, user_token: node.identity(name).token });

async function uploadOverWire(name: string, plain: Buffer) {
  const tdfs = await user('tdfs_external', name);
  const created = await tdfs.request({ type: 'Create', file_name: `${name}.txt`, sha256: sha256(plain), file_size: plain.length, ...creds(name) });
  tdfs.close();
  const put = await https(created.access_path, { ...node.identity(name), ca: node.ca }, { method: 'PUT', body: encryptForUpload(created.key_config, plain), headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(put.status, 200);
  return created.file_id as string;
}

describe('KMS', () => {
  test('Create, Get and Delete in the documented shapes; keys are 32/12/5 bytes in padded base64', async () => {
    const kms = await service('kms');
    const created = await kms.request({ type: 'Create' });
    assert.deepEqual(Object.keys(created), ['type', 'key_id', 'config']);
    assert.deepEqual(Object.keys(created.config), ['key', 'nonce', 'ad']);
    assert.match(created.key_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(Buffer.from(created.config.key, 'base64').length, 32);
    assert.equal(Buffer.from(created.config.nonce, 'base64').length, 12);
    assert.equal(Buffer.from(created.config.ad, 'base64').length, 5);
    assert.equal(created.config.ad.length, 8, 'padded: 5 bytes are 8 base64 characters');

    const got = await kms.request({ type: 'Get', key_id: created.key_id });
    assert.equal(JSON.stringify(got), JSON.stringify({ type: 'Get', config: created.config }));
    const deleted = await kms.request({ type: 'Delete', key_id: created.key_id });
    assert.equal(JSON.stringify(deleted), JSON.stringify({ type: 'Delete', config: created.config }));
    const gone = await kms.request({ type: 'Get', key_id: created.key_id });
    assert.equal(gone.kind, 'MissingValue');
    kms.close();
  });

  test('keys are stored only wrapped: no key material appears in the store files', async () => {
    const kms = await service('kms');
    const keys = [];
    for (let i = 0; i < 3; i++) keys.push((await kms.request({ type: 'Create' })).config);
    kms.close();
    const files = readdirSync(node.dir).filter((f) => f.startsWith('store.sqlite'));
    assert.ok(files.length > 0);
    for (const f of files) {
      const bytes = readFileSync(join(node.dir, f));
      for (const k of keys) {
        assert.ok(!bytes.includes(Buffer.from(k.key, 'base64')), `${f} holds a raw key`);
        assert.ok(!bytes.includes(Buffer.from(k.key)), `${f} holds a base64 key`);
      }
    }
    assert.ok(existsSync(join(node.dir, 'master.key.sealed')));
    assert.ok(!readdirSync(node.dir).some((f) => f.includes('sealing')), 'the sealing key is not in the data directory');
  });
});

describe('TDFS', () => {
  test('Get, List and Delete over the wire; Delete is the owner’s alone and returns what it deleted', async () => {
    const plain = Buffer.from('tdfs content');
    const fileId = await uploadOverWire('alice', plain);
    const alice = await user('tdfs_external', 'alice');
    const info = await alice.request({ type: 'Get', file_id: fileId, ...creds('alice') });
    assert.deepEqual(Object.keys(info.file_info), ['user_id', 'file_name', 'sha256', 'file_size', 'access_path', 'task_id', 'collaborator_list', 'key_config']);
    assert.equal(info.file_info.sha256, sha256(plain));
    assert.equal(info.file_info.file_size, plain.length);
    assert.equal(info.file_info.task_id, null);
    assert.ok((await alice.request({ type: 'List', ...creds('alice') })).list.includes(fileId));

    const bob = await user('tdfs_external', 'bob');
    assert.ok(!(await bob.request({ type: 'List', ...creds('bob') })).list.includes(fileId), "List shows only the caller's files");
    assert.equal((await bob.request({ type: 'Delete', file_id: fileId, ...creds('bob') })).kind, 'PermissionDenied');
    bob.close();

    const deleted = await alice.request({ type: 'Delete', file_id: fileId, ...creds('alice') });
    assert.equal(deleted.type, 'Delete');
    assert.deepEqual(deleted.file_info, info.file_info);
    assert.equal((await alice.request({ type: 'Get', file_id: fileId, ...creds('alice') })).kind, 'MissingValue');
    assert.ok(!existsSync(join(node.dir, 'blobs', fileId)), 'the blob is deleted too');
    alice.close();
  });

  test('TDFS internal Create makes a file a service uploads; it is named after the task and readable by policy', async () => {
    const plain = Buffer.from('shared output');
    const tdfs = await service('tdfs_internal');
    const created = await tdfs.request({ type: 'Create', sha256: sha256(plain), file_size: plain.length, user_id: 'alice', task_id: 'task-42', collaborator_list: ['bob'], allow_policy: 1 });
    assert.deepEqual(Object.keys(created), ['type', 'file_id', 'access_path', 'key_config']);
    const byAlice = await https(created.access_path, { ...node.identity('alice'), ca: node.ca }, { method: 'PUT', body: encryptForUpload(created.key_config, plain), headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(byAlice.status, 403, 'only a service uploads a file a service created');
    const put = await https(created.access_path, { ...node.service, ca: node.ca }, { method: 'PUT', body: encryptForUpload(created.key_config, plain), headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(put.status, 200, put.body.toString());
    const got = await tdfs.request({ type: 'Get', file_id: created.file_id });
    assert.equal(got.file_info.file_name, 'task-42');
    assert.equal(got.file_info.task_id, 'task-42');
    assert.equal(got.file_info.allow_policy, 1);
    tdfs.close();

    const bob = await user('tdfs_external', 'bob');
    const asBob = await bob.request({ type: 'Get', file_id: created.file_id, ...creds('bob') });
    bob.close();
    assert.equal(asBob.type, 'Get', 'policy 1 lets a collaborator read it');
    const blob = await https(asBob.file_info.access_path, { ...node.identity('bob'), ca: node.ca });
    assert.equal(decryptDownload(asBob.file_info.key_config, blob.body).toString(), 'shared output');

    const badPolicy = await (await service('tdfs_internal')).request({ type: 'Create', sha256: sha256(plain), file_size: 1, user_id: 'a', task_id: 't', collaborator_list: [], allow_policy: 3 });
    assert.equal(badPolicy.kind, 'InvalidInputError');
    assert.match(badPolicy.message, /allow_policy must be 0, 1 or 2/);
  });

  test('files survive a restart, and the node will not start without its sealing key', async () => {
    const plain = Buffer.from('durable');
    const fileId = await uploadOverWire('alice', plain);
    await node.restart();
    const alice = await user('tdfs_external', 'alice');
    const info = await alice.request({ type: 'Get', file_id: fileId, ...creds('alice') });
    alice.close();
    const blob = await https(info.file_info.access_path, { ...node.identity('alice'), ca: node.ca });
    assert.equal(decryptDownload(info.file_info.key_config, blob.body).toString(), 'durable');

    assert.equal(await node.stop(), 0);
    const sealing = TEST_ENV.TESSERA_SEALING_KEY_FILE!;
    renameSync(sealing, `${sealing}.away`);
    try {
      const r = await tessera(['serve', '--data', node.dir]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /the sealing key .* is missing, so the master key cannot be unsealed/);
    } finally {
      renameSync(`${sealing}.away`, sealing);
    }
    await node.restart();
  });
});
