import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { type TestNode, tessera } from '../helpers/cli.js';
import { type TestCluster, as, download, startCluster, upload, url } from '../helpers/cluster.js';
import { decryptDownload, encryptForUpload, letterRecords, sha256 } from '../helpers/files.js';
import { passProposal } from '../helpers/gov.js';
import { type HttpsReply, https } from '../helpers/https-client.js';
import { type TcpProxy, startTcpProxy } from '../helpers/tcp-proxy.js';
import { KV_HANDLERS, benchEndpoint } from '../../bench/kv-app.js';

// A cluster survives its engines' faults with nothing acknowledged lost (issue 22, "Bad input and faults"):
// PostgreSQL restarted mid-load, NATS restarted mid-load, and one node partitioned from NATS (through a TCP
// proxy the test cuts) but not from PostgreSQL. Three nodes, mixed load through the public API on all of
// them: uploads, multi-party tasks created, approved and invoked on different nodes, CCF app KV writes.
// While an engine is away, requests fail as 503 `unavailable` (never another error, never a crash); once it
// is back, every node serves again by itself, every acknowledged write is there, the ledger is signed again
// and verifies offline.

const NATS_TIMEOUT_MS = 1500;

let cluster: TestCluster;
let nodes: TestNode[];
let proxy: TcpProxy;
let aliceFile = '';
let natsPort = 0;

interface Acknowledged {
  files: Map<string, { user: string; plaintext: Buffer }>;
  approved: Set<string>;
  finished: Set<string>;
  kv: Map<string, string>;
}
const ack: Acknowledged = { files: new Map(), approved: new Set(), finished: new Set(), kv: new Map() };

before(async () => {
  // Node 3 reaches NATS through the proxy; the proxy follows the server's port (kept across restarts).
  proxy = await startTcpProxy({ port: () => natsPort });
  cluster = await startCluster({
    nodes: 3,
    users: ['alice', 'bob'],
    members: ['m0', 'm1', 'm2'],
    settings: ['ledger.signature_interval_ms=200', 'log.level=warn', `nats.timeout_ms=${NATS_TIMEOUT_MS}`],
    nodeConfig: (n, c, { nats }) => {
      natsPort = nats.port;
      if (n === 3) c.nats.url = `nats://127.0.0.1:${proxy.port}`;
    },
  });
  nodes = cluster.nodes;
  aliceFile = (await upload(nodes[0], 'alice', letterRecords('abde')))!.id;
  await passProposal(nodes[0], [
    { name: 'set_js_app', args: { bundle: { metadata: { endpoints: { '/kv/{key}': { put: benchEndpoint('write', 'readwrite', 'faults'), get: benchEndpoint('read', 'readonly', 'faults') } } }, modules: [{ name: 'bench.js', module: KV_HANDLERS }] } } },
  ]);
});
after(async () => {
  await cluster?.cleanup();
  await proxy?.close();
});

const pick = () => nodes[randomInt(nodes.length)];

/** Every reply that was not a success, with where it came from; a thrown request (no reply) is recorded too. */
type Failure = { node: string; what: string; status: number; body: string };

/** The reply is a success, or recorded as a failure. */
function ok(failures: Failure[], node: TestNode, what: string, reply: HttpsReply, expected: number) {
  if (reply.status === expected) return true;
  failures.push({ node: node.dir, what, status: reply.status, body: reply.body.toString() });
  return false;
}

/** Writers on random nodes until `stopped()`; only answered writes count as acknowledged. */
async function load(stopped: () => boolean, failures: Failure[]) {
  const loop = async (step: () => Promise<void>) => {
    while (!stopped()) {
      await step().catch((err: Error) => failures.push({ node: '?', what: 'request', status: 0, body: err.message }));
      // A failed step must not spin: the engine is away for a while.
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const uploadVia = async (node: TestNode, user: string, plaintext: Buffer) => {
    const created = await https(url(node, '/v1/files'), as(node, user), { method: 'POST', json: { file_name: 'f.bin', sha256: sha256(plaintext), file_size: plaintext.length } });
    if (!ok(failures, node, 'register a file', created, 201)) return null;
    const { file_id, key_config } = created.json();
    const put = await https(url(node, `/v1/files/${file_id}/content`), as(node, user), { method: 'PUT', body: encryptForUpload(key_config, plaintext), headers: { 'content-type': 'application/octet-stream' } });
    if (!ok(failures, node, 'upload', put, 200)) return null;
    ack.files.set(file_id, { user, plaintext });
    return file_id as string;
  };
  await Promise.all([
    loop(async () => {
      await uploadVia(pick(), 'alice', randomBytes(randomInt(1, 32 * 1024)));
    }),
    loop(async () => {
      // Downloads of acknowledged files: while NATS is away they fail; they must fail as answers, not broken replies.
      const files = [...ack.files];
      if (files.length === 0) return;
      const [id, { user, plaintext }] = files[randomInt(files.length)];
      const node = pick();
      const info = await https(url(node, `/v1/files/${id}`), as(node, user));
      if (!ok(failures, node, 'file info', info, 200)) return;
      const blob = await https(url(node, `/v1/files/${id}/content`), as(node, user));
      if (ok(failures, node, 'download', blob, 200)) assert.deepEqual(decryptDownload(info.json().key_config, blob.body), plaintext);
    }),
    loop(async () => {
      const node = pick();
      const key = randomBytes(6).toString('hex');
      const value = randomBytes(8).toString('hex');
      const put = await https(url(node, `/app/kv/${key}`), as(node, 'alice'), { method: 'PUT', body: Buffer.from(value) });
      if (ok(failures, node, 'app KV write', put, 204)) ack.kv.set(key, value);
    }),
    loop(async () => {
      const bobs = await uploadVia(pick(), 'bob', letterRecords('bcd'));
      if (!bobs) return;
      const creator = pick();
      const created = await https(url(creator, '/v1/tasks'), as(creator, 'alice'), { method: 'POST', json: { function_name: 'psi', collaborator_list: ['bob'], files: [aliceFile] } });
      if (!ok(failures, creator, 'create a task', created, 201)) return;
      const { task_id, task_token } = created.json();
      const approver = pick();
      const approved = await https(url(approver, `/v1/tasks/${task_id}/approve`), as(approver, 'bob'), { method: 'POST', json: { files: [bobs] } });
      if (!ok(failures, approver, 'approve a task', approved, 200)) return;
      ack.approved.add(task_id);
      const invoker = pick();
      const run = await https(url(invoker, `/v1/tasks/${task_id}/invoke`), as(invoker, 'alice'), { method: 'POST', json: { task_token } });
      if (ok(failures, invoker, 'invoke a task', run, 200) && run.json().result === 'Finished') ack.finished.add(task_id);
    }),
  ]);
}

/** Failures by what was asked and how it failed, for the diagnostics. */
const tally = (failures: Failure[]) => {
  const counts = new Map<string, number>();
  for (const f of failures) counts.set(`${f.what} ${f.status}`, (counts.get(`${f.what} ${f.status}`) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${k}: ${n}`).join(', ');
};

/** Every failure seen under load was a 503 `unavailable` that says what is away; no request went unanswered. */
function onlyUnavailable(failures: Failure[], engine: RegExp) {
  const error = (f: Failure) => {
    try {
      return JSON.parse(f.body).error ?? {};
    } catch {
      return {};
    }
  };
  const others = failures.filter((f) => !(f.status === 503 && error(f).code === 'ServiceUnavailable' && engine.test(error(f).message)));
  assert.deepEqual(others, [], 'every request that failed while the engine was away failed as 503 unavailable, naming it');
}

/** Retries `attempt` until it returns true (the node reconnects by itself); fails after `tries`. */
async function eventually(what: string, attempt: () => Promise<boolean>, tries = 60) {
  for (let i = 0; i < tries; i++) {
    if (await attempt().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.fail(`${what}: still failing after ${tries} tries`);
}

/** Every node serves again: an upload through each downloads through the next, and an app write through each is read back. */
async function everyNodeServes() {
  for (const [i, node] of nodes.entries()) {
    await eventually(`node ${i + 1} takes an upload again`, async () => {
      const plaintext = randomBytes(4096);
      const done = await upload(node, 'alice', plaintext);
      if (!done) return false;
      ack.files.set(done.id, { user: 'alice', plaintext });
      assert.deepEqual(await download(nodes[(i + 1) % nodes.length], 'alice', done.id), plaintext);
      return true;
    });
    await eventually(`node ${i + 1} takes an app KV write again`, async () => (await https(url(node, `/app/kv/after-${i}`), as(node, 'alice'), { method: 'PUT', body: Buffer.from('v') })).status === 204);
  }
}

/** Nothing acknowledged is lost: files whole through every node, tasks approved and finished (once), KV values. */
async function nothingLost(when: string) {
  for (const [id, { user, plaintext }] of ack.files) {
    const reader = pick();
    const info = await https(url(reader, `/v1/files/${id}`), as(reader, user));
    assert.equal(info.status, 200, `${when}: acknowledged file ${id} is known`);
    const blob = await https(url(reader, `/v1/files/${id}/content`), as(reader, user));
    assert.equal(blob.status, 200, `${when}: acknowledged file ${id} downloads: ${blob.body.toString().slice(0, 300)}`);
    assert.deepEqual(decryptDownload(info.json().key_config, blob.body), plaintext, `${when}: file ${id} is whole`);
  }
  for (const taskId of ack.approved) {
    const reader = pick();
    const task = (await https(url(reader, `/v1/tasks/${taskId}`), as(reader, 'alice'))).json();
    assert.ok(['Ready', 'Running', 'Finished', 'Failed'].includes(task.status), `${when}: approved task ${taskId} is ${task.status}`);
    if (ack.finished.has(taskId)) {
      assert.equal(task.status, 'Finished', `${when}: task ${taskId}, acknowledged Finished, stays so`);
      assert.equal(task.user_private_result_file_id.length, 1, `${when}: task ${taskId} ran once`);
    }
  }
  for (const [key, value] of ack.kv) {
    const reader = pick();
    const got = await https(url(reader, `/app/kv/${key}`), as(reader, 'alice'));
    assert.equal(got.status, 200, `${when}: acknowledged KV write ${key} is there: ${got.body.toString()}`);
    assert.equal(got.json().value, value);
  }
}

/** The ledger is signed again: a transaction committed now gets a receipt from every node; the whole ledger verifies offline. */
async function ledgerSignedAndVerifies(when: string) {
  const written = await https(url(nodes[1], `/app/kv/receipt-${randomBytes(4).toString('hex')}`), as(nodes[1], 'alice'), { method: 'PUT', body: Buffer.from('r') });
  assert.equal(written.status, 204, written.body.toString());
  const txid = String(written.headers['x-ms-ccf-transaction-id']);
  assert.match(txid, /^\d+\.\d+$/, 'an app write names its transaction');
  for (const node of nodes) {
    await eventually(`${when}: node ${node.dir} serves a receipt for ${txid}`, async () => (await https(url(node, `/app/receipt?transaction_id=${txid}`), { ca: node.ca })).status === 200);
  }
  const verified = await tessera(['ledger', 'verify', nodes[2].dir, '--json']);
  assert.equal(verified.code, 0, `${when}: the shared ledger verifies offline\n${verified.stdout}${verified.stderr}`);
}

const alive = () => {
  for (const node of nodes) assert.equal(node.proc.exitCode ?? node.proc.signalCode, null, `${node.dir} is still running:\n${node.logs().slice(-2000)}`);
};

/** Load on every node; `fault` runs mid-load; the load stops when it returns. */
async function underLoad(fault: () => Promise<void>): Promise<Failure[]> {
  const failures: Failure[] = [];
  let stopped = false;
  const running = load(() => stopped, failures);
  await new Promise((r) => setTimeout(r, 2000));
  try {
    await fault();
  } finally {
    stopped = true;
    await running;
  }
  return failures;
}

describe('engine faults under load', () => {
  test('PostgreSQL restarted mid-load: 503 while away, then every node serves and signs again, nothing lost', async (t) => {
    const failures = await underLoad(async () => {
      await cluster.pg.stop();
      // Requests keep arriving while the database is away.
      await new Promise((r) => setTimeout(r, 2500));
      await cluster.pg.restart();
      await new Promise((r) => setTimeout(r, 500));
    });
    alive();
    assert.ok(failures.length > 0, 'some requests arrived while PostgreSQL was away');
    onlyUnavailable(failures, /PostgreSQL|store|database/i);
    await everyNodeServes();
    await nothingLost('after the PostgreSQL restart');
    await ledgerSignedAndVerifies('after the PostgreSQL restart');
    t.diagnostic(`acknowledged: files ${ack.files.size}, approvals ${ack.approved.size}, runs ${ack.finished.size}, KV writes ${ack.kv.size}; refused while away: ${tally(failures)}`);
  });

  test('NATS restarted mid-load on its JetStream files: uploads fail clearly while away, nodes reconnect, every acknowledged file downloads', async (t) => {
    const failures = await underLoad(async () => {
      await cluster.nats.halt();
      await new Promise((r) => setTimeout(r, 2500));
      await cluster.nats.start();
      await new Promise((r) => setTimeout(r, 500));
    });
    alive();
    assert.ok(failures.some((f) => f.what === 'upload'), 'some uploads arrived while NATS was away');
    onlyUnavailable(failures, /NATS|blob store/i);
    await everyNodeServes();
    await nothingLost('after the NATS restart');
    await ledgerSignedAndVerifies('after the NATS restart');
    t.diagnostic(`acknowledged: files ${ack.files.size}, approvals ${ack.approved.size}, runs ${ack.finished.size}, KV writes ${ack.kv.size}; refused while away: ${tally(failures)}`);
  });

  test('a node partitioned from NATS but not PostgreSQL: its file calls fail as unavailable, the others keep working; restored, it works again', async () => {
    const [n1, n2, cutOff] = nodes;
    const before = await upload(n1, 'alice', Buffer.from('uploaded before the partition'));
    assert.ok(before);
    ack.files.set(before.id, { user: 'alice', plaintext: Buffer.from('uploaded before the partition') });
    assert.ok(proxy.connections > 0, 'node 3 reaches NATS through the proxy');
    proxy.cut();
    try {
      // Node 3: a download and an upload each fail as 503 unavailable, naming NATS; nothing hangs, nothing crashes.
      const got = await https(url(cutOff, `/v1/files/${before.id}/content`), as(cutOff, 'alice'));
      assert.equal(got.status, 503, got.body.toString());
      assert.match(got.json().error.message, /NATS/);
      const plaintext = Buffer.from('refused while cut off');
      const created = await https(url(cutOff, '/v1/files'), as(cutOff, 'alice'), { method: 'POST', json: { file_name: 'p.bin', sha256: sha256(plaintext), file_size: plaintext.length } });
      assert.equal(created.status, 201, 'registering a file needs only PostgreSQL');
        const put = await https(url(cutOff, `/v1/files/${created.json().file_id}/content`), as(cutOff, 'alice'), { method: 'PUT', body: encryptForUpload(created.json().key_config, plaintext), headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(put.status, 503, put.body.toString());
      assert.equal(put.json().error.code, 'ServiceUnavailable');
      assert.match(put.json().error.message, /NATS/);
      // What needs only PostgreSQL still works on node 3: an app KV write.
      assert.equal((await https(url(cutOff, '/app/kv/during-partition'), as(cutOff, 'alice'), { method: 'PUT', body: Buffer.from('p') })).status, 204);
      ack.kv.set('during-partition', 'p');
      // The other nodes keep working, files included.
      for (const node of [n1, n2]) {
        const mine = randomBytes(2048);
        const done = await upload(node, 'alice', mine);
        assert.ok(done, `${node.dir} takes uploads while node 3 is cut off`);
        ack.files.set(done.id, { user: 'alice', plaintext: mine });
        assert.deepEqual(await download(node === n1 ? n2 : n1, 'alice', done.id), mine);
      }
      alive();
    } finally {
      proxy.restore();
    }
    await eventually('node 3 downloads again once restored', async () => (await https(url(cutOff, `/v1/files/${before.id}/content`), as(cutOff, 'alice'))).status === 200);
    const after = await upload(cutOff, 'alice', Buffer.from('after the partition'));
    assert.ok(after, 'node 3 takes uploads again');
    assert.deepEqual(await download(n1, 'alice', after.id), Buffer.from('after the partition'));
    ack.files.set(after.id, { user: 'alice', plaintext: Buffer.from('after the partition') });
    await nothingLost('after the partition');
  });
});
