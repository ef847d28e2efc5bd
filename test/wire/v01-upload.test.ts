import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type TestNode, startNode } from '../helpers/cli.js';
import { decryptDownload, encryptForUpload, letterRecords, sha256 } from '../helpers/files.js';
import { WireClient } from '../helpers/wire-client.js';

// The MesaTEE v0.1 compatibility mode (wire.mesatee_v01_file_dir): an unmodified v0.1 client (its SDK's
// upload_file) sends TDFS Create with file_name "", writes the ciphertext to the access_path it gets back
// (v0.1: /tmp/<file_id>) and goes on; the node takes the bytes in, verified, on the file's first use.
// To read a file (SDK get_file, TDFSClient::read_file in v0.1 48745a92
// mesatee_services/tdfs/external/client/src/tdfs_client.rs) it sends TDFS Get and reads the ciphertext
// from the returned access_path itself, so the node puts it there first.

let node: TestNode;
let shared: string;
before(async () => {
  shared = mkdtempSync(join(tmpdir(), 'tessera-v01-'));
  node = await startNode({ users: ['alice', 'bob'], config: (c) => (c.wire = { ...(c.wire ?? {}), mesatee_v01_file_dir: shared }) });
});
after(() => {
  node.cleanup();
  rmSync(shared, { recursive: true, force: true });
});

class V01Client {
  constructor(readonly name: string) {}
  get id() {
    return node.identity(this.name);
  }
  get creds() {
    return { user_id: this.name, user_token: this.id.token };
  }
  async call(listener: string | number, message: object) {
    const port = typeof listener === 'number' ? listener : node.ports[listener];
    const c = await WireClient.connect(port, { cert: this.id.cert, key: this.id.key, ca: node.ca });
    try {
      return await c.request(message);
    } finally {
      c.close();
    }
  }
  /** v0.1's upload_file: Create with an empty file_name, then write the ciphertext to access_path. */
  async create(plaintext: Buffer) {
    const created = await this.call('tdfs_external', { type: 'Create', file_name: '', sha256: sha256(plaintext), file_size: plaintext.length, ...this.creds });
    assert.equal(created.type, 'Create', JSON.stringify(created));
    assert.equal(created.access_path, join(shared, created.file_id));
    return created as { file_id: string; access_path: string; key_config: { key: string; nonce: string; ad: string } };
  }
  async upload(plaintext: Buffer): Promise<string> {
    const created = await this.create(plaintext);
    writeFileSync(created.access_path, encryptForUpload(created.key_config, plaintext));
    return created.file_id;
  }
  /** v0.1's read_file: Get, then read the ciphertext from access_path and open it with key_config. */
  async download(fileId: string): Promise<Buffer> {
    const got = await this.call('tdfs_external', { type: 'Get', file_id: fileId, ...this.creds });
    assert.equal(got.type, 'Get', JSON.stringify(got));
    assert.equal(got.file_info.access_path, join(shared, fileId));
    return decryptDownload(got.file_info.key_config, readFileSync(got.file_info.access_path));
  }
}

const noBlob = (fileId: string) => {
  assert.ok(!readdirSync(join(node.dir, 'blobs')).includes(fileId), 'no blob');
  assert.deepEqual(readdirSync(join(node.dir, 'blobs', '.incoming')), [], 'no partial upload left');
};

test('v0.1 clients upload by writing to access_path, then run psi: [a,b,d,e] against [b,c,d]', async () => {
  const alice = new V01Client('alice');
  const bob = new V01Client('bob');
  const aliceFile = await alice.upload(letterRecords('abde'));
  const bobFile = await bob.upload(letterRecords('bcd'));

  const created = await alice.call('tms_external', { type: 'Create', function_name: 'psi', collaborator_list: ['bob'], files: [aliceFile], ...alice.creds });
  assert.equal(created.type, 'Create', JSON.stringify(created));
  assert.ok(!existsSync(join(shared, aliceFile)), "the client's file was taken in and deleted");
  assert.ok(readdirSync(join(node.dir, 'blobs')).includes(aliceFile), 'now in the blob store');
  // The collaborator's checks before approving, as v0.1's integration test (common.rs two_party_task_launch).
  const seen = await bob.call('tms_external', { type: 'Get', task_id: created.task_id, ...bob.creds });
  assert.equal(seen.task_info.function_name, 'psi');
  assert.equal(seen.task_info.user_id, 'alice');
  assert.equal(seen.task_info.status, 'Created');
  assert.equal(seen.task_info.function_type, 'Multiparty');
  assert.equal(seen.task_info.collaborator_list[0].user_id, 'bob');
  const approved = await bob.call('tms_external', { type: 'Update', task_id: created.task_id, files: [bobFile], ...bob.creds });
  assert.equal(approved.status, 'Ready', JSON.stringify(approved));
  assert.deepEqual([approved.success, approved.ip, approved.port, approved.task_token], [true, created.ip, created.port, created.task_token]);
  assert.deepEqual(readdirSync(shared), []);

  // The SDK reaches FNS at the ip and port TMS named.
  assert.equal(created.ip, '127.0.0.1');
  const result = await bob.call(created.port, { task_id: created.task_id, function_name: 'psi', task_token: created.task_token, payload: null });
  assert.deepEqual(result, { result: 'Finished' });
  const aliceView = await alice.call('tms_external', { type: 'Get', task_id: created.task_id, ...alice.creds });
  const bobView = await bob.call('tms_external', { type: 'Get', task_id: created.task_id, ...bob.creds });
  assert.deepEqual([...(await alice.download(aliceView.task_info.user_private_result_file_id[0]))], [0, 1, 1, 0]);
  assert.deepEqual([...(await bob.download(bobView.task_info.user_private_result_file_id[0]))], [1, 0, 1]);

  // The inputs too read back, from the same directory.
  assert.deepEqual(await alice.download(aliceFile), letterRecords('abde'));
});

test('a Get takes the file in too; before the client writes it, the file stays pending', async () => {
  const alice = new V01Client('alice');
  const plaintext = Buffer.from('hello v0.1');
  const created = await alice.create(plaintext);
  const early = await alice.call('tms_external', { type: 'Create', function_name: 'psi', collaborator_list: ['bob'], files: [created.file_id], ...alice.creds });
  assert.equal(early.type, 'Error', 'no content yet');
  writeFileSync(created.access_path, encryptForUpload(created.key_config, plaintext));
  assert.deepEqual(await alice.download(created.file_id), plaintext);
  assert.ok(readdirSync(join(node.dir, 'blobs')).includes(created.file_id), 'taken in');
});

test('a Get before the client has written its file names the path to write to, and puts nothing there', async () => {
  const alice = new V01Client('alice');
  const created = await alice.create(Buffer.from('later'));
  const got = await alice.call('tdfs_external', { type: 'Get', file_id: created.file_id, ...alice.creds });
  assert.equal(got.file_info.access_path, created.access_path);
  assert.ok(!existsSync(created.access_path));
});

test("a Get replaces whatever is at the file's path (a planted symlink is replaced, not followed); Delete removes the copy", async () => {
  const alice = new V01Client('alice');
  const fileId = await alice.upload(Buffer.from('kept'));
  assert.deepEqual(await alice.download(fileId), Buffer.from('kept'), 'taken in and copied back');
  const elsewhere = mkdtempSync(join(tmpdir(), 'tessera-v01-target-'));
  try {
    const target = join(elsewhere, 'victim');
    writeFileSync(target, 'untouched');
    rmSync(join(shared, fileId));
    symlinkSync(target, join(shared, fileId));
    assert.deepEqual(await alice.download(fileId), Buffer.from('kept'));
    assert.ok(lstatSync(join(shared, fileId)).isFile(), 'a regular file now');
    assert.equal(readFileSync(target, 'utf8'), 'untouched');
  } finally {
    rmSync(elsewhere, { recursive: true, force: true });
  }
  const deleted = await alice.call('tdfs_external', { type: 'Delete', file_id: fileId, ...alice.creds });
  assert.equal(deleted.type, 'Delete', JSON.stringify(deleted));
  assert.ok(!existsSync(join(shared, fileId)), 'the copy goes with the file');
});

test('a tampered ciphertext (the tag fails) is refused as an HTTPS upload is, and nothing is stored', async () => {
  const alice = new V01Client('alice');
  const plaintext = letterRecords('ab');
  const created = await alice.create(plaintext);
  const blob = encryptForUpload(created.key_config, plaintext);
  blob[3] ^= 1;
  writeFileSync(created.access_path, blob);
  const refused = await alice.call('tms_external', { type: 'Create', function_name: 'psi', collaborator_list: ['bob'], files: [created.file_id], ...alice.creds });
  assert.equal(refused.type, 'Error', JSON.stringify(refused));
  assert.match(refused.message, /the GCM tag does not verify/);
  assert.ok(!existsSync(created.access_path), "the client's file is deleted");
  noBlob(created.file_id);
  const gone = await alice.call('tdfs_external', { type: 'Get', file_id: created.file_id, ...alice.creds });
  assert.equal(gone.kind, 'MissingValue', JSON.stringify(gone));
});

test('a wrong length is refused with the HTTPS upload error', async () => {
  const alice = new V01Client('alice');
  const plaintext = letterRecords('ab');
  const created = await alice.create(plaintext);
  writeFileSync(created.access_path, encryptForUpload(created.key_config, plaintext).subarray(1));
  const refused = await alice.call('tdfs_external', { type: 'Get', file_id: created.file_id, ...alice.creds });
  assert.equal(refused.type, 'Error', JSON.stringify(refused));
  assert.match(refused.message, /needs exactly \d+ \(plaintext \+ 16-byte tag\)/);
  noBlob(created.file_id);
});

test('a symlink at access_path is refused, not followed', async () => {
  const alice = new V01Client('alice');
  const plaintext = letterRecords('ab');
  const created = await alice.create(plaintext);
  const elsewhere = mkdtempSync(join(tmpdir(), 'tessera-v01-target-'));
  try {
    const target = join(elsewhere, 'real');
    writeFileSync(target, encryptForUpload(created.key_config, plaintext));
    symlinkSync(target, created.access_path);
    const refused = await alice.call('tdfs_external', { type: 'Get', file_id: created.file_id, ...alice.creds });
    assert.equal(refused.type, 'Error', JSON.stringify(refused));
    assert.match(refused.message, /symbolic link, not a regular file/);
    assert.ok(existsSync(target), 'the target is untouched');
    assert.ok(!existsSync(created.access_path));
    noBlob(created.file_id);
  } finally {
    rmSync(elsewhere, { recursive: true, force: true });
  }
});

test("another user's call does not take in a file it does not own", async () => {
  const alice = new V01Client('alice');
  const bob = new V01Client('bob');
  const plaintext = letterRecords('ab');
  const created = await alice.create(plaintext);
  writeFileSync(created.access_path, encryptForUpload(created.key_config, plaintext));
  const peek = await bob.call('tdfs_external', { type: 'Get', file_id: created.file_id, ...bob.creds });
  assert.equal(peek.type, 'Error');
  assert.ok(existsSync(created.access_path), 'still waiting for its owner');
  assert.equal((await alice.call('tdfs_external', { type: 'Get', file_id: created.file_id, ...alice.creds })).type, 'Get');
});

test('the mode is off by default: access_path is the https URL', async () => {
  const plain = await startNode({ users: ['carol'] });
  try {
    const id = plain.identity('carol');
    const c = await WireClient.connect(plain.ports.tdfs_external, { cert: id.cert, key: id.key, ca: plain.ca });
    const created = await c.request({ type: 'Create', file_name: '', sha256: sha256(Buffer.from('x')), file_size: 1, user_id: 'carol', user_token: id.token });
    c.close();
    assert.match(created.access_path, new RegExp(`^https://127\\.0\\.0\\.1:${plain.ports.https}/v1/files/${created.file_id}/content$`));
  } finally {
    plain.cleanup();
  }
});
