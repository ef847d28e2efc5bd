import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { KeptInterpreters, MAX_WAITING } from '../src/apps/kept-interpreters.js';
import { bindToRequest } from '../src/apps/service.js';
import { type TestNode, startNode } from './helpers/cli.js';
import { passProposal } from './helpers/gov.js';
import { https } from './helpers/https-client.js';

// interpreter_reuse under concurrent requests (issue 16): a kept interpreter serves one request at a time,
// and every host call it makes reaches the transaction of the request running in it. A key has a few of
// them (issue 17; CCF 7 keeps one per key, src/js/registry.cpp): PER_KEY here.

const PER_KEY = 2;
let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice'], members: ['m0', 'm1', 'm2'], config: (c) => (c.app.interpreters_per_key = PER_KEY) });
});
after(() => node.cleanup());

const pass = (actions: unknown[]) => passProposal(node, actions);

// One function, so both endpoints share one kept interpreter (the key names the function too). The handler
// spins for `spin` ms before it writes, then answers `status`: a 400 discards its transaction's writes.
const source = `
let served = 0;
// Which kept interpreter this is: module code runs once per interpreter.
const me = Math.random();
export function write(request) {
  served++;
  const { spin, status } = request.body.json();
  ccf.enableUntrustedDateTime(true);
  const until = Date.now() + spin;
  for (let i = 0; ; i++) if (i % 1000 === 0 && Date.now() >= until) break;
  const key = request.params.key;
  ccf.kv['public:records'].set(ccf.strToBuf(key), ccf.strToBuf(key + ' was here'));
  return { statusCode: status, body: { key, served, me } };
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

test('requests queued on a key’s kept interpreters each commit their own write; each interpreter serves one at a time', { timeout: 60_000 }, async () => {
  await pass([{ name: 'set_js_app', args: { bundle } }]);
  // Eight at once, alternating slow successes and quick failures, on a fresh deployment (no kept interpreter
  // yet). Before issue 16's fix each of them missed the cache and made an interpreter of its own (every one
  // answered served = 1); now at most PER_KEY interpreters are made and the others take turns in them.
  const calls = Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? post(`/slow/s-${i}`, { spin: 50, status: 200 }) : post(`/fail/f-${i}`, { spin: 0, status: 400 })));
  const answers = await Promise.all(calls);
  const served = new Map<number, number[]>();
  for (const [i, r] of answers.entries()) {
    assert.equal(r.status, i % 2 === 0 ? 200 : 400, r.body.toString());
    const { me, served: n } = r.json();
    served.set(me, [...(served.get(me) ?? []), n]);
    const back = await read(i % 2 === 0 ? `s-${i}` : `f-${i}`);
    if (i % 2 === 0) assert.deepEqual(back.json(), { value: `s-${i} was here`, version: seqnoOf(r) });
    else assert.equal(back.status, 404);
  }
  // Each interpreter counted its own requests one after another: 1..k with no repeats, k summing to 8. (With
  // one interpreter per key, issue 16's version of this test asserted 1..8.)
  assert.ok(served.size >= 1 && served.size <= PER_KEY, `at most ${PER_KEY} interpreters served the key: ${served.size}`);
  for (const counts of served.values()) assert.deepEqual(counts.sort((a, b) => a - b), counts.map((_, i) => i + 1), 'each interpreter served its requests one at a time');
  assert.equal([...served.values()].reduce((n, c) => n + c.length, 0), 8);
});

test('with app.interpreters_per_key = 1 (CCF 7’s shape) one interpreter serves a key’s concurrent requests one after another', { timeout: 60_000 }, async () => {
  const single = await startNode({ users: ['alice'], members: ['m0', 'm1', 'm2'], config: (c) => (c.app.interpreters_per_key = 1) });
  try {
    await passProposal(single, [{ name: 'set_js_app', args: { bundle } }]);
    const at = (path: string, json: unknown) => https(`https://127.0.0.1:${single.ports.https}/app${path}`, { ca: single.ca }, { method: 'POST', json });
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? at(`/slow/s-${i}`, { spin: 20, status: 200 }) : at(`/fail/f-${i}`, { spin: 0, status: 400 }))));
    const bodies = answers.map((r) => r.json());
    assert.equal(new Set(bodies.map((b) => b.me)).size, 1, 'one interpreter');
    assert.deepEqual(bodies.map((b) => b.served).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8], 'it served all eight, one after another');
  } finally {
    await single.cleanup();
  }
});

/** A pool of fake interpreters (numbers) whose disposals are recorded; `dead` ones report themselves gone. */
function fakePool(perKey: number, maxKeys = 10) {
  const disposed: number[] = [];
  const dead = new Set<number>();
  let made = 0;
  const pool = new KeptInterpreters<number>((i) => void disposed.push(i), (i) => !dead.has(i), perKey, maxKeys);
  const work = (log: string[], name: string, gate?: Promise<void>) => (slot: { interpreter?: number }) =>
    (async () => {
      slot.interpreter ??= ++made;
      log.push(`${name} in ${slot.interpreter}`);
      await gate;
      log.push(`${name} done`);
      return slot.interpreter;
    })();
  return { pool, disposed, dead, work };
}

const gate = () => {
  let open!: () => void;
  const shut = new Promise<void>((r) => (open = r));
  return { shut, open };
};
const tick = () => new Promise((r) => setImmediate(r));

test('kept interpreters: up to perKey holders of a key at once, each in its own interpreter; others wait in order', async () => {
  const { pool, work } = fakePool(2);
  const log: string[] = [];
  const [g1, g2] = [gate(), gate()];
  const first = pool.run('k', work(log, 'first', g1.shut));
  const second = pool.run('k', work(log, 'second', g2.shut));
  const third = pool.run('k', work(log, 'third'));
  const fourth = pool.run('k', work(log, 'fourth'));
  const other = pool.run('other', work(log, 'other'));
  await other;
  await tick();
  assert.deepEqual(log, ['first in 1', 'second in 2', 'other in 3', 'other done'], 'two run at once in two interpreters; the third and fourth wait');
  assert.equal(pool.interpreters('k'), 2);
  g2.open();
  assert.deepEqual(await Promise.all([second, third, fourth]), [2, 2, 2]);
  assert.deepEqual(log.slice(4), ['second done', 'third in 2', 'third done', 'fourth in 2', 'fourth done'], 'the freed interpreter passes to the waiters in order of arrival, one at a time');
  assert.ok(!log.includes('first done'), 'the first still holds its own interpreter');
  g1.open();
  assert.equal(await first, 1);
  assert.equal(await pool.run('k', work(log, 'later')), 1, 'the most recently freed interpreter serves next (the first, freed last)');
});

test('kept interpreters: a broken or never-made interpreter is dropped and remade; a deployment lets them all go once free', async () => {
  const { pool, disposed, dead, work } = fakePool(1);
  const log: string[] = [];
  assert.equal(await pool.run('k', work(log, 'a')), 1);
  dead.add(1);
  assert.equal(await pool.run('k', work(log, 'b')), 1, 'the broken one is only found when given back');
  assert.deepEqual(disposed, [1]);
  assert.equal(await pool.run('k', work(log, 'c')), 2, 'a new one is made in its place');
  await assert.rejects(pool.run('k', async () => {
    throw new Error('making failed');
  }), /making failed/);
  assert.equal(await pool.run('k', work(log, 'd')), 2, 'a failed holder gives its slot back');
  const g = gate();
  const held = pool.run('k', work(log, 'held', g.shut));
  await tick();
  pool.clear();
  assert.deepEqual(disposed, [1], 'an interpreter in use is not disposed under its call');
  g.open();
  await held;
  assert.deepEqual(disposed, [1, 2], 'it goes once its call is done');
  assert.equal(pool.size, 0);
  assert.equal(await pool.run('k', work(log, 'new deployment')), 3);
});

test('kept interpreters: least recently used keys are evicted; waiting is bounded', async () => {
  const { pool, disposed, work } = fakePool(1, 2);
  const log: string[] = [];
  await pool.run('a', work(log, 'a'));
  await pool.run('b', work(log, 'b'));
  await pool.run('a', work(log, 'a again'));
  await pool.run('c', work(log, 'c'));
  assert.deepEqual(disposed, [2], "b's interpreter went: a was used more recently");
  const g = gate();
  const held = pool.run('a', work(log, 'held', g.shut));
  const waiting = Array.from({ length: MAX_WAITING }, () => pool.run('a', work(log, 'waiter')));
  await assert.rejects(pool.run('a', work(log, 'one too many')), (err: Error & { code?: string }) => err.code === 'unavailable');
  g.open();
  await Promise.all([held, ...waiting]);
});

test('a request’s host functions refuse once it is revoked', () => {
  const bound = bindToRequest({ __h_kv: () => 'written' });
  assert.equal(bound.host.__h_kv(), 'written');
  bound.revoke();
  assert.throws(() => bound.host.__h_kv(), /the request that made this call has finished/);
});
