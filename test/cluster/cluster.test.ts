import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type TestNode, tessera } from '../helpers/cli.js';
import { type TestCluster, as, download, startCluster, upload, url } from '../helpers/cluster.js';
import { letterRecords, sha256 } from '../helpers/files.js';
import { https } from '../helpers/https-client.js';

// Three nodes of one service on a real PostgreSQL (state) and a real NATS JetStream (files): a file uploaded
// through one downloads through another; a task created on one is approved on a second and invoked on a
// third; exactly one node signs the ledger, and a receipt from any node verifies against the service CA.

let cluster: TestCluster;
let nodes: TestNode[];

before(async () => {
  cluster = await startCluster({ nodes: 3, users: ['alice', 'bob'], members: ['m0'], settings: ['ledger.signature_interval_ms=200'] });
  nodes = cluster.nodes;
});
after(() => cluster?.cleanup());

/** An upload that must succeed. */
const uploaded = async (node: TestNode, user: string, plaintext: Buffer) => {
  const done = await upload(node, user, plaintext);
  assert.ok(done, `the upload through ${node.dir} succeeded`);
  return done.id;
};

test('a file uploaded through one node downloads through the others', async () => {
  const plaintext = Buffer.from('shared across the cluster '.repeat(1000));
  const fileId = await uploaded(nodes[0], 'alice', plaintext);
  assert.deepEqual(await download(nodes[1], 'alice', fileId), plaintext);
  assert.deepEqual(await download(nodes[2], 'alice', fileId), plaintext);
  // Still the owner's only: bob is refused on every node, as on one.
  for (const node of nodes) assert.equal((await https(url(node, `/v1/files/${fileId}`), as(node, 'bob'))).status, 403);
});

test('a PSI task created on one node is approved on a second and invoked on a third', async () => {
  const aliceFile = await uploaded(nodes[0], 'alice', letterRecords('abde'));
  const bobFile = await uploaded(nodes[1], 'bob', letterRecords('bcd'));
  const created = await https(url(nodes[0], '/v1/tasks'), as(nodes[0], 'alice'), { method: 'POST', json: { function_name: 'psi', collaborator_list: ['bob'], files: [aliceFile] } });
  assert.equal(created.status, 201, created.body.toString());
  const { task_id, task_token } = created.json();
  const approved = await https(url(nodes[1], `/v1/tasks/${task_id}/approve`), as(nodes[1], 'bob'), { method: 'POST', json: { files: [bobFile] } });
  assert.deepEqual(approved.json(), { status: 'Ready', approved_user_number: 1 });
  const invoked = await https(url(nodes[2], `/v1/tasks/${task_id}/invoke`), as(nodes[2], 'alice'), { method: 'POST', json: { task_token } });
  assert.deepEqual(invoked.json(), { result: 'Finished' });
  // A second invocation, from any node, is refused: the task ran once.
  const again = await https(url(nodes[0], `/v1/tasks/${task_id}/invoke`), as(nodes[0], 'alice'), { method: 'POST', json: { task_token } });
  assert.equal(again.status, 403);
  const aliceView = (await https(url(nodes[1], `/v1/tasks/${task_id}`), as(nodes[1], 'alice'))).json();
  const bobView = (await https(url(nodes[0], `/v1/tasks/${task_id}`), as(nodes[0], 'bob'))).json();
  assert.deepEqual([...(await download(nodes[0], 'alice', aliceView.user_private_result_file_id[0]))], [0, 1, 1, 0]);
  assert.deepEqual([...(await download(nodes[2], 'bob', bobView.user_private_result_file_id[0]))], [1, 0, 1]);
});

test('two nodes racing to invoke the same task: it runs once, and the other is refused', async () => {
  const aliceFile = await uploaded(nodes[0], 'alice', letterRecords('ab'));
  const bobFile = await uploaded(nodes[1], 'bob', letterRecords('b'));
  const created = await https(url(nodes[2], '/v1/tasks'), as(nodes[2], 'alice'), { method: 'POST', json: { function_name: 'psi', collaborator_list: ['bob'], files: [aliceFile] } });
  const { task_id, task_token } = created.json();
  assert.equal((await https(url(nodes[0], `/v1/tasks/${task_id}/approve`), as(nodes[0], 'bob'), { method: 'POST', json: { files: [bobFile] } })).status, 200);
  const runs = await Promise.all(nodes.map((node) => https(url(node, `/v1/tasks/${task_id}/invoke`), as(node, 'alice'), { method: 'POST', json: { task_token } })));
  const statuses = runs.map((r) => r.status).sort();
  assert.deepEqual(statuses, [200, 403, 403], runs.map((r) => r.body.toString()).join('\n'));
  const view = (await https(url(nodes[1], `/v1/tasks/${task_id}`), as(nodes[1], 'alice'))).json();
  assert.equal(view.status, 'Finished');
  assert.equal(view.user_private_result_file_id.length, 1, 'one run, one result');
});

test('one node signs; a receipt for a transaction committed on another node verifies from a third', async () => {
  const created = await https(url(nodes[1], '/v1/files'), as(nodes[1], 'alice'), { method: 'POST', json: { file_name: 'r.bin', sha256: sha256(Buffer.from('x')), file_size: 1 } });
  const txid = String(created.headers['x-ms-ccf-transaction-id'] ?? '');
  const commit = (await https(url(nodes[2], '/app/commit'), { ca: nodes[2].ca })).json().transaction_id as string;
  const id = /^\d+\.\d+$/.test(txid) ? txid : commit;
  let receipt: { status: number; body: Buffer } = { status: 0, body: Buffer.alloc(0) };
  for (let i = 0; i < 50; i++) {
    receipt = await https(url(nodes[2], `/app/receipt?transaction_id=${id}`), { ca: nodes[2].ca });
    if (receipt.status === 200) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(receipt.status, 200, receipt.body.toString());
  const caPath = join(cluster.root, 'ca.pem');
  writeFileSync(caPath, nodes[0].ca);
  const verified = await tessera(['ledger', 'receipt', id, '--url', url(nodes[2], ''), '--ca', caPath]);
  assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  // The whole shared ledger verifies offline, read from PostgreSQL as any node's data directory names it.
  const offline = await tessera(['ledger', 'verify', nodes[1].dir, '--json']);
  assert.equal(offline.code, 0, offline.stdout + offline.stderr);
  assert.ok(JSON.parse(offline.stdout).transactions > 10);
  const signers = nodes.filter((n) => /took the ledger signing lease/.test(n.logs()));
  assert.equal(signers.length, 1, `exactly one node holds the signing lease: ${signers.map((n) => n.dir).join(', ')}`);
});
