// MesaTEE v0.1 clients, unmodified: the SDK's upload_file sends "file_name":"" (mesatee_sdk/src/lib.rs,
// `save_file(path, "")`), and examples/online_decrypt calls the built-in by its v0.1 name `decrypt`, with the
// key config as its input file and base64 ciphertext as the payload (both as of apache/teaclave 48745a92,
// MesaTEE v0.1). The plaintext "MesaTEE" is that example's test.txt.
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { type TestNode, startNode } from '../helpers/cli.js';
import { encryptForUpload, sha256 } from '../helpers/files.js';
import { https } from '../helpers/https-client.js';
import { WireClient } from '../helpers/wire-client.js';

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice'] });
});
after(() => node.cleanup());

const creds = { user_id: 'alice', user_token: '' };
const connect = (listener: string) => {
  const id = node.identity('alice');
  creds.user_token = id.token;
  return WireClient.connect(node.ports[listener], { cert: id.cert, key: id.key, ca: node.ca });
};
const url = (path: string) => `https://127.0.0.1:${node.ports.https}${path}`;

/** Uploads as v0.1's upload_file does: TDFS Create with an empty file_name, then the ciphertext. */
async function uploadV01(plain: Buffer): Promise<string> {
  const tdfs = await connect('tdfs_external');
  const created = await tdfs.request({ type: 'Create', file_name: '', sha256: sha256(plain), file_size: plain.length, ...creds });
  tdfs.close();
  assert.equal(created.type, 'Create', JSON.stringify(created));
  const put = await https(created.access_path, { ...node.identity('alice'), ca: node.ca }, { method: 'PUT', body: encryptForUpload(created.key_config, plain), headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(put.status, 200, put.body.toString());
  return created.file_id;
}

/** v0.1's AEADKeyConfig::new(): 32-byte key, 12-byte nonce, 5-byte ad, serialized by serde as byte arrays. */
function v01KeyConfig() {
  const key = randomBytes(32), nonce = randomBytes(12), ad = randomBytes(5);
  return { key, nonce, ad, json: Buffer.from(JSON.stringify({ key: [...key], nonce: [...nonce], ad: [...ad] })) };
}
/** v0.1's example encrypt_data: AES-256-GCM, the tag appended. */
function v01Encrypt(plain: Buffer, k: { key: Buffer; nonce: Buffer; ad: Buffer }) {
  const c = createCipheriv('aes-256-gcm', k.key, k.nonce);
  c.setAAD(k.ad);
  return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
}

async function runDecrypt(keyFile: string, payload: string) {
  const tms = await connect('tms_external');
  const task = await tms.request({ type: 'Create', function_name: 'decrypt', collaborator_list: [], files: [keyFile], ...creds });
  assert.equal(task.type, 'Create', JSON.stringify(task));
  const fns = await connect('fns');
  const reply = await fns.request({ task_id: task.task_id, function_name: 'decrypt', task_token: task.task_token, payload });
  fns.close();
  const info = (await tms.request({ type: 'Get', task_id: task.task_id, ...creds })).task_info;
  tms.close();
  return { reply, info };
}

describe('MesaTEE v0.1 clients', () => {
  test('TDFS Create with file_name "" succeeds, and Get returns the empty name as given', async () => {
    const fileId = await uploadV01(Buffer.from('v0.1 upload'));
    const tdfs = await connect('tdfs_external');
    const info = await tdfs.request({ type: 'Get', file_id: fileId, ...creds });
    tdfs.close();
    assert.equal(info.file_info.file_name, '');
    assert.equal(info.file_info.file_size, 11);
  });

  test('file_name keeps its upper bound of 255 characters', async () => {
    const tdfs = await connect('tdfs_external');
    const plain = Buffer.from('x');
    const ok = await tdfs.request({ type: 'Create', file_name: 'n'.repeat(255), sha256: sha256(plain), file_size: 1, ...creds });
    assert.equal(ok.type, 'Create', JSON.stringify(ok));
    const long = await tdfs.request({ type: 'Create', file_name: 'n'.repeat(256), sha256: sha256(plain), file_size: 1, ...creds });
    tdfs.close();
    assert.equal(long.kind, 'InvalidInputError', JSON.stringify(long));
    assert.match(long.msg ?? JSON.stringify(long), /file_name must be at most 255 characters/);
  });

  test('a task created as "decrypt" runs v0.1\'s decrypt: key config file, base64 payload, base64 plaintext', async () => {
    const k = v01KeyConfig();
    const keyFile = await uploadV01(k.json);
    const plain = Buffer.from('MesaTEE');
    const { reply, info } = await runDecrypt(keyFile, v01Encrypt(plain, k).toString('base64'));
    assert.deepEqual(reply, { result: plain.toString('base64') });
    assert.equal(Buffer.from(reply.result, 'base64').toString(), 'MesaTEE');
    assert.equal(info.function_name, 'decrypt', 'task info keeps the name the client gave');
    assert.equal(info.status, 'Finished');
  });

  test('decrypt fails the task when the AAD, key or data do not match, and on a key file that is not v0.1\'s JSON', async () => {
    const k = v01KeyConfig();
    const keyFile = await uploadV01(k.json);
    const wrongAd = await runDecrypt(keyFile, v01Encrypt(Buffer.from('MesaTEE'), { ...k, ad: randomBytes(5) }).toString('base64'));
    assert.equal(wrongAd.reply.result, undefined, JSON.stringify(wrongAd.reply));
    assert.equal(wrongAd.info.status, 'Failed');
    const notBase64 = await runDecrypt(keyFile, '%%%');
    assert.equal(notBase64.info.status, 'Failed');
    const teaclaveStyle = await uploadV01(Buffer.from(JSON.stringify({ key: k.key.toString('base64'), nonce: k.nonce.toString('base64'), ad: k.ad.toString('base64') })));
    const badKeyFile = await runDecrypt(teaclaveStyle, v01Encrypt(Buffer.from('MesaTEE'), k).toString('base64'));
    assert.equal(badKeyFile.info.status, 'Failed');
    assert.match(JSON.stringify(badKeyFile.reply), /array of bytes/);
  });

  test('REST POST /v1/files takes an empty file_name too, and still refuses 256 characters', async () => {
    const id = { ...node.identity('alice'), ca: node.ca };
    const plain = Buffer.from('rest');
    const r = await https(url('/v1/files'), id, { method: 'POST', json: { file_name: '', sha256: sha256(plain), file_size: plain.length } });
    assert.equal(r.status, 201, r.body.toString());
    const { file_id } = r.json() as { file_id: string };
    const info = await https(url(`/v1/files/${file_id}`), id);
    assert.equal(info.status, 200, info.body.toString());
    assert.equal((info.json() as { file_name: string }).file_name, '');
    const long = await https(url('/v1/files'), id, { method: 'POST', json: { file_name: 'n'.repeat(256), sha256: sha256(plain), file_size: plain.length } });
    assert.equal(long.status, 400, long.body.toString());
  });
});
