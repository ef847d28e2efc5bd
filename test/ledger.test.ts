import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { verifyReceipt, type Receipt } from '../src/sdk/index.js';
import { createCertificateAuthority } from '../src/crypto/certificates.js';
import { type TestNode, startNode, tessera } from './helpers/cli.js';
import { https } from './helpers/https-client.js';

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice'], config: (c) => (c.ledger = { signature_interval_ms: 50 }) });
});
after(() => node.cleanup());

const get = (path: string) => https(`https://127.0.0.1:${node.ports.https}${path}`, { ...node.identity('alice'), ca: node.ca });

async function makeTask() {
  const r = await https(`https://127.0.0.1:${node.ports.https}/v1/tasks`, { ...node.identity('alice'), ca: node.ca }, { method: 'POST', json: { function_name: 'echo' } });
  assert.equal(r.status, 201);
  return r.json().task_id as string;
}

async function receiptFor(txId: string): Promise<Receipt> {
  for (let i = 0; i < 100; i++) {
    const r = await get(`/app/receipt?transaction_id=${txId}`);
    if (r.status === 200) return r.json();
    assert.equal(r.status, 202, r.body.toString());
    assert.equal(r.headers['retry-after'], '3');
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error('no receipt');
}

test('every committed transaction gets a receipt that verifies offline against the service identity', async () => {
  await makeTask();
  const commit = (await get('/app/commit')).json().transaction_id as string;
  assert.match(commit, /^2\.\d+$/);
  assert.deepEqual((await get(`/app/tx?transaction_id=${commit}`)).json(), { transaction_id: commit, status: 'Committed' });

  for (const seqno of [1, 2, Number(commit.split('.')[1])]) {
    const receipt = await receiptFor(`2.${seqno}`);
    assert.deepEqual(Object.keys(receipt), ['signature', 'cert', 'node_id', 'proof', 'leaf_components']);
    assert.match(receipt.leaf_components.commit_evidence, new RegExp(`^ce:2\\.${seqno}:[0-9a-f]{64}$`));
    assert.equal(receipt.leaf_components.claims_digest, '0'.repeat(64));
    const { root } = verifyReceipt(receipt, node.ca);
    assert.match(root, /^[0-9a-f]{64}$/);

    const altered = structuredClone(receipt);
    altered.leaf_components.write_set_digest = 'f'.repeat(64);
    assert.throws(() => verifyReceipt(altered, node.ca), /signature does not verify over the root the proof gives/);
    if (receipt.proof.length) {
      const badProof = structuredClone(receipt);
      const step = badProof.proof[0] as Record<string, string>;
      const side = Object.keys(step)[0];
      step[side] = '0'.repeat(64);
      assert.throws(() => verifyReceipt(badProof, node.ca), /signature does not verify/);
    }
  }
  const elsewhere = await createCertificateAuthority('other service');
  const first = await receiptFor('2.1');
  assert.throws(() => verifyReceipt(first, elsewhere.certPem), /not endorsed by the service identity/);
});

test('transaction status and receipts for unknown, invalid and malformed ids', async () => {
  // A new service's first view is 2 (CCF's tests/e2e_logging.py test_invalid_txids).
  assert.equal((await get('/app/tx?transaction_id=2.999999')).json().status, 'Unknown');
  assert.equal((await get('/app/tx?transaction_id=1.1')).json().status, 'Invalid');
  const bad = await get('/app/tx?transaction_id=abc');
  assert.equal(bad.status, 400);
  assert.equal(bad.json().error.code, 'InvalidQueryParameterValue');
  assert.match(bad.json().error.message, /The value 'abc' passed as query parameter 'transaction_id' could not be converted to a valid Transaction ID\./);
  const unknown = await get('/app/receipt?transaction_id=2.999999');
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json().error.code, 'TransactionPendingOrUnknown');
  const invalid = await get('/app/receipt?transaction_id=7.1');
  assert.equal(invalid.status, 404);
  assert.equal(invalid.json().error.code, 'TransactionInvalid');
});

test('private tables are sealed in the ledger; public ones are not', async () => {
  const taskId = await makeTask();
  const db = new Database(join(node.dir, 'store.sqlite'), { readonly: true });
  const rows = db.prepare('SELECT writes FROM txlog').all() as Array<{ writes: string }>;
  db.close();
  const all = rows.map((r) => r.writes).join('\n');
  assert.ok(!all.includes(taskId), 'a task id appears in the clear in the ledger');
  assert.ok(!all.includes(node.identity('alice').token));
  assert.ok(!all.includes('tasks.records'), 'a private table is named in the ledger only by its MAC, as in the rows');
  const writes = rows.flatMap((r) => JSON.parse(r.writes) as Array<{ table: string; sealed?: string }>);
  assert.ok(writes.some((w) => w.table.startsWith('#') && typeof w.sealed === 'string'));
  assert.ok(writes.every((w) => w.table.startsWith('public:') || (w.table.startsWith('#') && 'sealed' in w)));
});

test('tessera ledger verify checks the files offline and finds a changed transaction', async () => {
  await makeTask();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(await node.stop(), 0, 'a clean stop signs what is left');
  const ok = await tessera(['ledger', 'verify', node.dir]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^\d+ transactions, \d+ signatures, last signed 2\.\d+\nledger: ok/);
  assert.doesNotMatch(ok.stdout, /not yet signed/);

  const db = new Database(join(node.dir, 'store.sqlite'));
  const row = db.prepare('SELECT seqno, writes FROM txlog WHERE seqno = 3').get() as { seqno: number; writes: string };
  db.prepare('UPDATE txlog SET writes = ? WHERE seqno = 3').run(row.writes.replace(/"table":"/, '"table":"x'));
  db.close();
  const broken = await tessera(['ledger', 'verify', node.dir]);
  assert.equal(broken.code, 4); // verification failed (docs/cli.md)
  assert.match(broken.stderr, /problem: transaction 2\.3: its write set does not match its digest \(altered after commit\)/);
  await node.restart().catch(() => {});
});
