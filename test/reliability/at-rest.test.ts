// A copy of the data directory, taken while the node runs, reveals nothing without the sealing key (issue 16
// #6). The node holds a private app table row, a workflow's synced state, an uploaded file (its name, its
// plaintext SHA-256, its key), a task token and its master key; the copy is searched byte for byte, in every
// encoding those are likely to be written in, and none is found. The node still answers with all of them,
// so the test searches for what is really there.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { unsealMasterKey } from '../../src/kms/master-key.js';
import Database from 'better-sqlite3';
import { TEST_ENV, type TestNode, nodeKeyFiles, startNode, tempDir } from '../helpers/cli.js';
import { openNodeStore } from '../helpers/node-store.js';
import { encryptForUpload } from '../helpers/files.js';
import { passProposal } from '../helpers/gov.js';
import { https } from '../helpers/https-client.js';
import { HTTP_REPLY, ingress, jsFunction, workflowClient } from '../helpers/workflows.js';

let node: TestNode;
let fileId = '';
const tag = randomBytes(8).toString('hex');
const planted = {
  appKey: `app-row-key-${tag}`,
  appValue: `app-row-value-${tag}`,
  workflowState: `workflow-state-${tag}`,
  fileName: `payroll-${tag}.csv`,
  fileContent: Buffer.from(`salary,${tag}\n`),
};
/** What must not be in the copy: all of it. */
const secrets: Array<{ what: string; bytes: Buffer }> = [];

const app = {
  metadata: {
    endpoints: {
      '/vault/{key}': {
        put: { js_module: 'v.js', js_function: 'put', forwarding_required: 'never', authn_policies: ['user_cert'], mode: 'readwrite' },
        get: { js_module: 'v.js', js_function: 'get', forwarding_required: 'never', authn_policies: ['user_cert'], mode: 'readonly' },
      },
    },
  },
  modules: [
    {
      name: 'v.js',
      module: `
export function put(request) { ccf.kv['vault'].set(ccf.strToBuf(request.params.key), request.body.arrayBuffer()); return { statusCode: 204 }; }
export function get(request) { const v = ccf.kv['vault'].get(ccf.strToBuf(request.params.key)); return v === undefined ? { statusCode: 404 } : { body: ccf.bufToStr(v) }; }`,
    },
  ],
};
// Syncs what it is posted; replies with what it got at init.
const VAULT = `${HTTP_REPLY}
let seen = '';
export function handle_init(payload, state) { seen = state ?? ''; }
export function handle_call(src, msg) {
  const req = JSON.parse(msg);
  if (req.method === 'Post') { edgeless.sync(String.fromCharCode(...req.body)); return reply(200, 'synced'); }
  return reply(200, 'init saw: ' + seen);
}`;

before(async () => {
  node = await startNode({ users: ['alice', 'bob'], members: ['m0', 'm1', 'm2'] });
  const url = (p: string) => `https://127.0.0.1:${node.ports.https}${p}`;
  const alice = { ...node.identity('alice'), ca: node.ca };

  await passProposal(node, [{ name: 'set_js_app', args: { bundle: app } }]);
  const put = await https(url(`/app/vault/${planted.appKey}`), alice, { method: 'PUT', body: Buffer.from(planted.appValue) });
  assert.equal(put.status, 204, put.body.toString());

  const wf = workflowClient(node, 'alice');
  const started = await wf.start({ functions: [jsFunction('vault', VAULT)], resources: [ingress('vault', { host: 'vault.example' })] }, 'payroll');
  assert.equal(started.status, 201, started.body.toString());
  assert.equal((await wf.ingressAt('vault.example', '/set', { body: planted.workflowState })).body.toString(), 'synced');

  const sha = createHash('sha256').update(planted.fileContent).digest();
  const created = (await https(url('/v1/files'), alice, { method: 'POST', json: { file_name: planted.fileName, sha256: sha.toString('hex'), file_size: planted.fileContent.length } })).json();
  assert.equal((await https(created.access_path, alice, { method: 'PUT', body: encryptForUpload(created.key_config, planted.fileContent), headers: { 'content-type': 'application/octet-stream' } })).status, 200);
  fileId = created.file_id;
  const task = (await https(url('/v1/tasks'), alice, { method: 'POST', json: { function_name: 'psi', collaborator_list: ['bob'], files: [created.file_id] } })).json();
  assert.ok(task.task_token, JSON.stringify(task));

  for (const [what, value] of Object.entries(planted)) secrets.push({ what, bytes: Buffer.from(value) });
  secrets.push({ what: "the file's plaintext SHA-256", bytes: sha });
  secrets.push({ what: "the file's key", bytes: Buffer.from(created.key_config.key, 'base64') });
  secrets.push({ what: 'the task token', bytes: Buffer.from(task.task_token) });
  secrets.push({ what: 'the master key', bytes: unsealMasterKey(join(node.dir, 'master.key.sealed'), TEST_ENV.TESSERA_SEALING_KEY_FILE) });
  // The node's own private keys (kept sealed), by their PEM bodies.
  const pemBody = (pem: string) => Buffer.from(pem.split('\n').filter((l) => l && !l.startsWith('-----')).join(''));
  const keyFiles = nodeKeyFiles(node.dir);
  secrets.push({ what: "the node CA's key", bytes: pemBody(keyFiles.read(join(node.dir, 'ca.key.sealed'), 'ca')) });
  secrets.push({ what: "the node's TLS key", bytes: pemBody(keyFiles.read(join(node.dir, 'node', 'key.sealed'), 'node')) });
  secrets.push({ what: 'the platform key', bytes: pemBody(keyFiles.read(join(node.dir, 'platform.key.sealed'), 'platform')) });
  for (const user of ['alice', 'bob']) {
    // Kept beside the data directory, for the operator to hand over (DATA-identities): never in it.
    secrets.push({ what: `${user}'s token`, bytes: Buffer.from(node.identity(user).token) });
    secrets.push({ what: `${user}'s private key`, bytes: pemBody(node.identity(user).key) });
  }
});
after(() => node.cleanup());

/** Raw, hex, base64 and base64url, and UTF-16 for text (SQLite can store either). */
const encodings = (b: Buffer) => [b, Buffer.from(b.toString('hex')), Buffer.from(b.toString('base64')), Buffer.from(b.toString('base64url')), Buffer.from(b.toString('latin1'), 'utf16le')];
const files = (dir: string): string[] => readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : [join(dir, n)]));

test('a copy of the data directory taken mid-run holds none of the planted secrets', async () => {
  // Copied as a backup or a stolen disk would have it: while the node runs, WAL and all, without stopping it.
  const copy = join(tempDir(), 'stolen');
  cpSync(node.dir, copy, { recursive: true });
  const all = files(copy);
  assert.ok(all.some((f) => f.endsWith('store.sqlite-wal')) || all.some((f) => f.endsWith('store.sqlite')));
  const found: string[] = [];
  for (const f of all) {
    const content = readFileSync(f);
    const rel = relative(copy, f);
    for (const s of secrets) {
      if (encodings(s.bytes).some((e) => content.includes(e))) found.push(`${s.what} in ${rel}`);
    }
  }
  assert.deepEqual(found, []);

  // Each is still there for the node, which holds the key.
  const url = (p: string) => `https://127.0.0.1:${node.ports.https}${p}`;
  const alice = { ...node.identity('alice'), ca: node.ca };
  assert.equal((await https(url(`/app/vault/${planted.appKey}`), alice)).body.toString(), planted.appValue);
  assert.equal((await https(url(`/v1/files/${fileId}`), alice)).json().file_name, planted.fileName);
});

test('after a restart, a workflow started again under its name gets the state it synced', async () => {
  await node.restart();
  const wf = workflowClient(node, 'alice');
  const list = (await wf.list()).json();
  for (const w of list.workflows ?? list) if (w.name === 'payroll') await wf.stop(w.workflow_id);
  const started = await wf.start({ functions: [jsFunction('vault', VAULT)], resources: [ingress('vault', { host: 'vault.example' })] }, 'payroll');
  assert.equal(started.status, 201, started.body.toString());
  assert.equal((await wf.ingressAt('vault.example', '/get')).body.toString(), `init saw: ${planted.workflowState}`);
});

test('a data directory from before sealing: its plaintext keys and rows are sealed at the next start, and the plaintext is gone', async () => {
  await node.stop();
  const keys = nodeKeyFiles(node.dir);
  const legacy: Array<[string, string, 'ca' | 'node' | 'platform']> = [
    ['ca.key.sealed', 'ca.key.pem', 'ca'],
    [join('node', 'key.sealed'), join('node', 'key.pem'), 'node'],
    ['platform.key.sealed', 'platform.key.pem', 'platform'],
  ];
  const pems = new Map<string, string>();
  for (const [sealed, clear, role] of legacy) {
    const pem = keys.read(join(node.dir, sealed), role);
    pems.set(clear, pem);
    writeFileSync(join(node.dir, clear), pem, { mode: 0o600 });
    rmSync(join(node.dir, sealed));
  }
  // A private row in the clear, as every row was before, and the store no longer marked as sealed.
  const db = new Database(join(node.dir, 'store.sqlite'));
  db.prepare('DELETE FROM store_meta').run();
  db.prepare("INSERT INTO kv (tbl, key, value, version) VALUES ('legacy.rows', 'old-key', ?, 1)").run(JSON.stringify(`old-value-${tag}`));
  db.close();

  await node.restart();
  const alice = { ...node.identity('alice'), ca: node.ca };
  assert.equal((await https(`https://127.0.0.1:${node.ports.https}/app/vault/${planted.appKey}`, alice)).body.toString(), planted.appValue, 'the node serves with its keys and rows');
  for (const [sealed, clear, role] of legacy) {
    assert.ok(!existsSync(join(node.dir, clear)), `${clear} is removed`);
    assert.equal(keys.read(join(node.dir, sealed), role), pems.get(clear), `${sealed} holds the same key`);
  }
  const bytes = Buffer.concat(files(node.dir).filter((f) => f.includes('store.sqlite')).map((f) => readFileSync(f)));
  assert.ok(!bytes.includes(Buffer.from(`old-value-${tag}`)), 'the old plaintext row is gone from the store files');
  const store = openNodeStore(node.dir);
  try {
    assert.equal(store.read((tx) => tx.get('legacy.rows', 'old-key')), `old-value-${tag}`, 'and is kept sealed');
  } finally {
    store.close();
  }
});
