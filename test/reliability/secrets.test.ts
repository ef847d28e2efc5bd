// Secrets hygiene: after a node has uploaded, computed on and served files, with debug logging on and
// bad credentials tried, no token, key or plaintext is in its logs or anywhere in its data directory,
// every file there is 0600 and every directory 0700, and the master key exists on disk only sealed.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { unsealMasterKey } from '../../src/kms/master-key.js';
import { TEST_ENV, type TestNode, nodeKeyFiles, startNode } from '../helpers/cli.js';
import { decryptDownload, encryptForUpload, sha256 } from '../helpers/files.js';
import { https } from '../helpers/https-client.js';

let node: TestNode;
/** The node's own TMPDIR, so that whatever it (or a process it starts) puts in temporary files is searched too. */
const nodeTmp = mkdtempSync(join(tmpdir(), 'tessera-node-tmp-'));
/** Plaintext records no one could find by chance: 32-byte psi records made of a random marker. */
const marker = randomBytes(12).toString('hex');
const records = (tags: string[]) => Buffer.from(tags.map((t) => `${marker}${t}`.padEnd(32, '#').slice(0, 32)).join(''));
const aliceRecords = records(['a1', 'b2', 'c3']);
const bobRecords = records(['b2', 'c3', 'd4']);
/** Secrets that may be in no file of the data directory. */
const secrets: Array<{ what: string; bytes: Buffer }> = [];

before(async () => {
  node = await startNode({ users: ['alice', 'bob'], config: (c) => (c.log.level = 'debug'), env: { TMPDIR: nodeTmp } });
  const api = (user: string) => {
    const id = { ...node.identity(user), ca: node.ca };
    return (path: string, opts: Parameters<typeof https>[2] = {}) => https(path.startsWith('https:') ? path : `https://127.0.0.1:${node.ports.https}${path}`, id, opts);
  };
  const upload = async (user: string, plaintext: Buffer) => {
    const call = api(user);
    const created = (await call('/v1/files', { method: 'POST', json: { file_name: 'secret.bin', sha256: sha256(plaintext), file_size: plaintext.length } })).json();
    secrets.push({ what: `${user}'s file key`, bytes: Buffer.from(created.key_config.key, 'base64') });
    const put = await call(created.access_path, { method: 'PUT', body: encryptForUpload(created.key_config, plaintext), headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(put.status, 200, put.body.toString());
    return created.file_id as string;
  };
  const aliceFile = await upload('alice', aliceRecords);
  const bobFile = await upload('bob', bobRecords);
  const task = (await api('alice')('/v1/tasks', { method: 'POST', json: { function_name: 'psi', collaborator_list: ['bob'], files: [aliceFile] } })).json();
  secrets.push({ what: 'the task token', bytes: Buffer.from(task.task_token) });
  assert.equal((await api('bob')(`/v1/tasks/${task.task_id}/approve`, { method: 'POST', json: { files: [bobFile] } })).status, 200);
  const invoked = await api('alice')(`/v1/tasks/${task.task_id}/invoke`, { method: 'POST', json: { task_token: task.task_token } });
  assert.equal(invoked.status, 200, invoked.body.toString());
  // Results, downloaded and decrypted as their owners would.
  const info = (await api('alice')(`/v1/tasks/${task.task_id}`)).json();
  for (const fileId of info.user_private_result_file_id) {
    const meta = (await api('alice')(`/v1/files/${fileId}`)).json();
    secrets.push({ what: 'a result file key', bytes: Buffer.from(meta.key_config.key, 'base64') });
    const blob = await api('alice')(meta.access_path);
    assert.equal(blob.status, 200);
    assert.ok(decryptDownload(meta.key_config, blob.body).length > 0);
  }
  // Bad credentials, which are the likeliest to be logged.
  const wrong = `wrong-${randomBytes(16).toString('hex')}`;
  secrets.push({ what: 'a wrong token', bytes: Buffer.from(wrong) });
  assert.equal((await https(`https://127.0.0.1:${node.ports.https}/v1/files`, { ...node.identity('alice'), token: wrong, ca: node.ca })).status, 401);
  const pemBody = (pem: string) => Buffer.from(pem.split('\n').filter((l) => l && !l.startsWith('-----')).join(''));
  for (const user of ['alice', 'bob']) {
    // Credentials are kept beside the data directory (DATA-identities), so they may be nowhere in it.
    secrets.push({ what: `${user}'s token`, bytes: Buffer.from(node.identity(user).token) });
    secrets.push({ what: `${user}'s private key`, bytes: pemBody(node.identity(user).key) });
  }
  // The node's own keys are kept sealed (kms/key-files.ts): they may be nowhere in the clear.
  secrets.push({ what: "the node's TLS private key", bytes: pemBody(node.service.key) });
  secrets.push({ what: "the node CA's private key", bytes: pemBody(nodeKeyFiles(node.dir).read(join(node.dir, 'ca.key.sealed'), 'ca')) });
  const master = unsealMasterKey(join(node.dir, 'master.key.sealed'), TEST_ENV.TESSERA_SEALING_KEY_FILE);
  secrets.push({ what: 'the master key', bytes: master });
  await node.stop(); // a clean stop checkpoints the WAL, so its pages are in the database file too
});
after(async () => {
  await node.cleanup();
  rmSync(nodeTmp, { recursive: true, force: true });
});

/** Every encoding a secret is likely to be written in. */
const encodings = (b: Buffer) => [b, Buffer.from(b.toString('hex')), Buffer.from(b.toString('base64')), Buffer.from(b.toString('base64url'))];

function walk(dir: string): Array<{ path: string; dir: boolean; mode: number }> {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    const st = statSync(path);
    const entry = { path, dir: st.isDirectory(), mode: st.mode & 0o777 };
    return st.isDirectory() ? [entry, ...walk(path)] : [entry];
  });
}

test('no token, key or plaintext is in the logs, at debug level', () => {
  const logs = Buffer.from(node.logs());
  assert.ok(logs.length > 1000, 'the node logged something to search');
  for (const s of secrets) for (const enc of encodings(s.bytes)) assert.equal(logs.indexOf(enc), -1, `${s.what} is in the logs`);
  assert.equal(logs.indexOf(Buffer.from(marker)), -1, 'plaintext records are in the logs');
});

test('no plaintext, key or token is anywhere in the data directory or the node\'s TMPDIR: blobs, database, WAL, temporary files', () => {
  const files = [...walk(node.dir), ...walk(nodeTmp)].filter((e) => !e.dir);
  assert.ok(files.some((f) => f.path.endsWith('store.sqlite')) && files.some((f) => f.path.includes('blobs')));
  for (const f of files) {
    const content = readFileSync(f.path);
    assert.equal(content.indexOf(Buffer.from(marker)), -1, `plaintext is in ${f.path}`);
    for (const s of secrets) {
      for (const enc of encodings(s.bytes)) assert.equal(content.indexOf(enc), -1, `${s.what} is in ${f.path}`);
    }
  }
});

test('every file in the data directory is 0600 and every directory 0700', () => {
  const loose = walk(node.dir).filter((e) => e.mode !== (e.dir ? 0o700 : 0o600));
  assert.deepEqual(loose.map((e) => `${e.path} ${e.mode.toString(8)}`), []);
});
