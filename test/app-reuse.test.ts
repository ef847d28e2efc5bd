import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { bindToRequest, Turns } from '../src/apps/service.js';
import { type TestNode, startNode } from './helpers/cli.js';
import { passProposal } from './helpers/gov.js';
import { https } from './helpers/https-client.js';

// interpreter_reuse under concurrent requests (issue 16): a kept interpreter serves one request at a time,
// and every host call it makes reaches the transaction of the request running in it.

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice'], members: ['m0', 'm1', 'm2'] });
});
after(() => node.cleanup());

const pass = (actions: unknown[]) => passProposal(node, actions);

// One function, so both endpoints share one kept interpreter (the key names the function too). The handler
// spins for `spin` ms before it writes, then answers `status`: a 400 discards its transaction's writes.
const source = `
let served = 0;
export function write(request) {
  served++;
  const { spin, status } = request.body.json();
  ccf.enableUntrustedDateTime(true);
  const until = Date.now() + spin;
  for (let i = 0; ; i++) if (i % 1000 === 0 && Date.now() >= until) break;
  const key = request.params.key;
  ccf.kv['public:records'].set(ccf.strToBuf(key), ccf.strToBuf(key + ' was here'));
  return { statusCode: status, body: { key, served } };
}
export function read(request) {
  const key = ccf.strToBuf(request.params.key);
  const table = ccf.kv['public:records'];
  if (!table.has(key)) return { statusCode: 404, body: { error: 'no ' + request.params.key } };
  return { body: { value: ccf.bufToStr(table.get(key)), version: table.getVersionOfPreviousWrite(key) } };
}`;
const ep = (fn: string, mode: string, reuse?: string) => ({ js_module: 'w.js', js_function: fn, forwarding_required: 'never', authn_policies: ['no_auth'], mode, ...(reuse ? { interpreter_reuse: { key: reuse } } : {}) });
const bundle = {
  metadata: { endpoints: { '/slow/{key}': { post: ep('write', 'readwrite', 'shared') }, '/fail/{key}': { post: ep('write', 'readwrite', 'shared') }, '/r/{key}': { get: ep('read', 'readonly') } } },
  modules: [{ name: 'w.js', module: source }],
};
const url = (path: string) => `https://127.0.0.1:${node.ports.https}/app${path}`;
const post = (path: string, json: unknown) => https(url(path), { ca: node.ca }, { method: 'POST', json });
const read = (key: string) => https(url(`/r/${key}`), { ca: node.ca });
const seqnoOf = (r: { headers: Record<string, unknown> }) => Number(String(r.headers['x-ms-ccf-transaction-id']).split('.')[1]);

test('a slow handler in a kept interpreter keeps its own transaction while another request fails alongside it', { timeout: 60_000 }, async () => {
  await pass([{ name: 'set_js_app', args: { bundle } }]);
  const db = new Database(join(node.dir, 'store.sqlite'), { readonly: true });
  try {
    const lost: string[] = [];
    for (let round = 0; round < 5; round++) {
      // Alice's handler spins; bob's request arrives while it does (usually: nothing here depends on when),
      // writes, and answers 400. Before the fix the host was rebound to bob's transaction as soon as bob's
      // request came in, so alice's write after her spin went into bob's transaction and was discarded with it,
      // though alice had been answered 200.
      const slow = post(`/slow/alice-${round}`, { spin: 400, status: 200 });
      await new Promise((r) => setTimeout(r, 100));
      const fail = post(`/fail/bob-${round}`, { spin: 0, status: 400 });
      const [alice, bob] = await Promise.all([slow, fail]);
      assert.equal(alice.status, 200, alice.body.toString());
      assert.equal(bob.status, 400, bob.body.toString());

      const mine = await read(`alice-${round}`);
      if (mine.status !== 200) {
        lost.push(`alice-${round}`);
        continue;
      }
      assert.deepEqual(mine.json(), { value: `alice-${round} was here`, version: seqnoOf(alice) }, 'the acknowledged write is committed, in the transaction alice was answered with');
      assert.equal((await read(`bob-${round}`)).status, 404, 'bob’s write went with his 400');
      // The ledger entry of alice's transaction holds her write and nothing else.
      const row = db.prepare('SELECT writes FROM txlog WHERE seqno = ?').get(seqnoOf(alice)) as { writes: string } | undefined;
      const writes = JSON.parse(row!.writes) as Array<{ table: string; key: string }>;
      assert.deepEqual(
        writes.map((w) => [w.table, w.key]),
        [['public:app:records', Buffer.from(`alice-${round}`).toString('hex')]],
      );
    }
    assert.deepEqual(lost, [], 'every write answered 200 is committed');
  } finally {
    db.close();
  }
});

test('requests queued on one kept interpreter each commit their own write, in order of service', { timeout: 60_000 }, async () => {
  await pass([{ name: 'set_js_app', args: { bundle } }]);
  // Eight at once, alternating slow successes and quick failures, on a fresh deployment (no kept interpreter
  // yet). Before the fix each of them missed the cache and made an interpreter of its own (every one
  // answered served = 1); now the first makes it and the others take their turns in it.
  const calls = Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? post(`/slow/s-${i}`, { spin: 50, status: 200 }) : post(`/fail/f-${i}`, { spin: 0, status: 400 })));
  const answers = await Promise.all(calls);
  const served: number[] = [];
  for (const [i, r] of answers.entries()) {
    assert.equal(r.status, i % 2 === 0 ? 200 : 400, r.body.toString());
    served.push(r.json().served);
    const back = await read(i % 2 === 0 ? `s-${i}` : `f-${i}`);
    if (i % 2 === 0) assert.deepEqual(back.json(), { value: `s-${i} was here`, version: seqnoOf(r) });
    else assert.equal(back.status, 404);
  }
  assert.deepEqual(served.sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8], 'one interpreter served all eight, one after another');
});

test('Turns: one holder per key, in order of arrival, other keys unaffected; nothing kept once free', async () => {
  const turns = new Turns();
  const log: string[] = [];
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const first = turns.run('k', async () => {
    log.push('first starts');
    await gate;
    log.push('first ends');
  });
  const second = turns.run('k', async () => void log.push('second'));
  const other = turns.run('other', async () => void log.push('other key'));
  await other;
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(log, ['first starts', 'other key'], 'the second waits while the first holds the key');
  open();
  await Promise.all([first, second]);
  assert.deepEqual(log, ['first starts', 'other key', 'first ends', 'second']);
  await assert.rejects(turns.run('k', async () => {
    throw new Error('boom');
  }), /boom/);
  assert.equal(await turns.run('k', async () => 'after a failure'), 'after a failure', 'a failed holder passes the turn on');
  assert.equal(turns.size, 0);
});

test('a request’s host functions refuse once it is revoked', () => {
  const bound = bindToRequest({ __h_kv: () => 'written' });
  assert.equal(bound.host.__h_kv(), 'written');
  bound.revoke();
  assert.throws(() => bound.host.__h_kv(), /the request that made this call has finished/);
});
