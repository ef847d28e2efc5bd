import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type TestNode, startNode } from '../helpers/cli.js';
import { decryptDownload, encryptForUpload, letterRecords, sha256 } from '../helpers/files.js';
import { https } from '../helpers/https-client.js';
import { WireClient } from '../helpers/wire-client.js';

// The seed SDK document's two-party flow, over the MesaTEE wire listeners: each party uploads a file,
// Alice creates a psi task naming Bob, Bob approves with his file, one of them invokes, and each
// reads a private result.

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice', 'bob', 'eve'] });
});
after(() => node.cleanup());

class Party {
  constructor(readonly name: string) {}
  get id() {
    return node.identity(this.name);
  }
  get creds() {
    return { user_id: this.name, user_token: this.id.token };
  }
  connect(listener: string) {
    return WireClient.connect(node.ports[listener], { cert: this.id.cert, key: this.id.key, ca: node.ca });
  }
  async call(listener: string, message: object) {
    const c = await this.connect(listener);
    try {
      return await c.request(message);
    } finally {
      c.close();
    }
  }

  /** TDFS Create, then encrypt locally and PUT the ciphertext to access_path. */
  async upload(fileName: string, plaintext: Buffer): Promise<string> {
    const created = await this.call('tdfs_external', { type: 'Create', file_name: fileName, sha256: sha256(plaintext), file_size: plaintext.length, ...this.creds });
    assert.deepEqual(Object.keys(created), ['type', 'file_id', 'access_path', 'key_config'], JSON.stringify(created));
    assert.match(created.access_path, new RegExp(`^https://127\\.0\\.0\\.1:${node.ports.https}/v1/files/${created.file_id}/content$`));
    assert.equal(created.key_config.key.length, 44);
    assert.equal(created.key_config.nonce.length, 16);
    assert.equal(created.key_config.ad.length, 8);
    const put = await https(created.access_path, { ...this.id, ca: node.ca }, {
      method: 'PUT',
      body: encryptForUpload(created.key_config, plaintext),
      headers: { 'content-type': 'application/octet-stream' },
    });
    assert.equal(put.status, 200, put.body.toString());
    return created.file_id;
  }

  /** TDFS Get, then GET access_path and decrypt locally. */
  async download(fileId: string): Promise<Buffer> {
    const got = await this.call('tdfs_external', { type: 'Get', file_id: fileId, ...this.creds });
    assert.equal(got.type, 'Get', JSON.stringify(got));
    const blob = await https(got.file_info.access_path, { ...this.id, ca: node.ca });
    assert.equal(blob.status, 200);
    return decryptDownload(got.file_info.key_config, blob.body);
  }
}

test('Alice and Bob run psi over the wire: [a,b,d,e] against [b,c,d] gives [0,1,1,0] and [1,0,1]', async () => {
  const alice = new Party('alice');
  const bob = new Party('bob');
  const eve = new Party('eve');
  const aliceFile = await alice.upload('alice.bin', letterRecords('abde'));
  const bobFile = await bob.upload('bob.bin', letterRecords('bcd'));

  const created = await alice.call('tms_external', { type: 'Create', function_name: 'psi', collaborator_list: ['bob'], files: [aliceFile], ...alice.creds });
  assert.equal(created.type, 'Create', JSON.stringify(created));
  const taskId = created.task_id;
  const token = created.task_token;

  const pending = await bob.call('tms_external', { type: 'Get', task_id: taskId, ...bob.creds });
  assert.equal(pending.task_info.function_type, 'Multiparty');
  assert.equal(pending.task_info.status, 'Created');
  assert.deepEqual(pending.task_info.collaborator_list, [{ user_id: 'bob', approved: false }]);

  const early = await alice.call('fns', { task_id: taskId, function_name: 'psi', task_token: token, payload: null });
  assert.equal(early.kind, 'PermissionDenied');
  assert.match(early.message, /Created, not Ready: it still awaits approvals/);

  const withAlicesFile = await bob.call('tms_external', { type: 'Update', task_id: taskId, files: [aliceFile], ...bob.creds });
  assert.equal(withAlicesFile.kind, 'PermissionDenied', "approving with someone else's file");
  const byEve = await eve.call('tms_external', { type: 'Update', task_id: taskId, files: [aliceFile], ...eve.creds });
  assert.equal(byEve.kind, 'PermissionDenied', 'approving when not a collaborator');
  assert.match(byEve.message, /'eve' is not a collaborator/);

  const approved = await bob.call('tms_external', { type: 'Update', task_id: taskId, files: [bobFile], ...bob.creds });
  assert.equal(JSON.stringify(approved), `{"type":"Update","success":true,"status":"Ready","ip":"127.0.0.1","port":${node.ports.fns},"task_token":"${token}"}`);
  const twice = await bob.call('tms_external', { type: 'Update', task_id: taskId, files: [bobFile], ...bob.creds });
  assert.equal(twice.kind, 'PermissionDenied');
  assert.match(twice.message, /is Ready; only a Created task takes approvals/);

  const internal = await WireClient.connect(node.ports.tms_internal, { cert: node.service.cert, key: node.service.key, ca: node.ca });
  const record = await internal.request({ type: 'Get', task_id: taskId });
  internal.close();
  assert.deepEqual(record.task_info.input_files, [{ user_id: 'alice', file_id: aliceFile }, { user_id: 'bob', file_id: bobFile }]);
  assert.equal(record.task_info.approved_user_number, 1);

  const result = await bob.call('fns', { task_id: taskId, function_name: 'psi', task_token: token, payload: null });
  assert.deepEqual(result, { result: 'Finished' });

  const aliceView = await alice.call('tms_external', { type: 'Get', task_id: taskId, ...alice.creds });
  const bobView = await bob.call('tms_external', { type: 'Get', task_id: taskId, ...bob.creds });
  assert.equal(aliceView.task_info.status, 'Finished');
  assert.equal(aliceView.task_info.user_private_result_file_id.length, 1);
  assert.equal(bobView.task_info.user_private_result_file_id.length, 1);
  assert.equal(aliceView.task_info.task_result_file_id, null);

  const aliceResult = await alice.download(aliceView.task_info.user_private_result_file_id[0]);
  const bobResult = await bob.download(bobView.task_info.user_private_result_file_id[0]);
  assert.deepEqual([...aliceResult], [0, 1, 1, 0]);
  assert.deepEqual([...bobResult], [1, 0, 1]);

  // Each result is private to its owner.
  const peek = await bob.call('tdfs_external', { type: 'Get', file_id: aliceView.task_info.user_private_result_file_id[0], ...bob.creds });
  assert.equal(peek.kind, 'PermissionDenied');
  const bobsInput = await alice.call('tdfs_external', { type: 'Get', file_id: bobFile, ...alice.creds });
  assert.equal(bobsInput.kind, 'PermissionDenied', "Alice cannot read Bob's input");

  // The output file records, as TDFS internal shows them: named after the task, owned by each party.
  const tdfs = await WireClient.connect(node.ports.tdfs_internal, { cert: node.service.cert, key: node.service.key, ca: node.ca });
  const out = await tdfs.request({ type: 'Get', file_id: bobView.task_info.user_private_result_file_id[0] });
  tdfs.close();
  assert.deepEqual(Object.keys(out.file_info), ['user_id', 'file_name', 'sha256', 'file_size', 'access_path', 'task_id', 'collaborator_list', 'allow_policy', 'key_id']);
  assert.equal(out.file_info.user_id, 'bob');
  assert.equal(out.file_info.file_name, taskId);
  assert.equal(out.file_info.task_id, taskId);
  assert.equal(out.file_info.allow_policy, 0);
  assert.equal(out.file_info.file_size, 3);
});
