// Issue 16: workflows of different users share nothing. State is keyed by owner and name, an ingress
// route belongs to one owner and never sees the caller's credentials, a workflow that cannot be stored
// never runs, and http-egress reaches exactly its allowed hosts without stalling the node.
import assert from 'node:assert/strict';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type TestNode, startNode } from '../helpers/cli.js';
import { HTTP_REPLY, ingress, jsFunction, workflowClient } from '../helpers/workflows.js';

let node: TestNode;
let alice: ReturnType<typeof workflowClient>;
let bob: ReturnType<typeof workflowClient>;
/** The 'attacker' host: it counts every request that reaches it. */
let attacker: Server;
let stolen: string[] = [];
/** An allowed egress target that answers after 2 s. */
let slow: Server;
const portOf = (s: Server) => (s.address() as AddressInfo).port;
const listen = (s: Server) => new Promise<void>((r) => s.listen(0, () => r()));

before(async () => {
  attacker = createServer((req, res) => {
    stolen.push(req.url ?? '');
    res.end('stolen');
  });
  slow = createServer((_req, res) => {
    setTimeout(() => res.end('slow done'), 2000);
  });
  await Promise.all([listen(attacker), listen(slow)]);
  node = await startNode({
    users: ['alice', 'bob'],
    config: (c) => (c.workflows = { egress_hosts: ['localhost', 'api.example.com', `127.0.0.1:${portOf(slow)}`] }),
  });
  alice = workflowClient(node, 'alice');
  bob = workflowClient(node, 'bob');
});
after(async () => {
  await node.cleanup();
  attacker.close();
  slow.closeAllConnections();
  slow.close();
});

const idOf = (r: { json(): any }) => r.json().workflow_id as string;

describe('workflow state belongs to its owner and its name', () => {
  // Replies with the state it got at init; a POST syncs its body.
  const VAULT = `${HTTP_REPLY}
let seen = '';
export function handle_init(payload, state) { seen = state ?? ''; }
export function handle_call(src, msg) {
  const req = JSON.parse(msg);
  if (req.method === 'Post') { edgeless.sync(String.fromCharCode(...req.body)); return reply(200, 'synced'); }
  return reply(200, 'init saw: ' + seen);
}`;
  const payroll = (host: string) => ({ functions: [jsFunction('vault', VAULT)], resources: [ingress('vault', { host })] });

  test("alice's 'payroll' never sees bob's synced state, nor replaces it; both may run at once", async () => {
    const b1 = await bob.start(payroll('bob.example'), 'payroll');
    assert.equal(b1.status, 201, b1.body.toString());
    assert.equal((await bob.ingressAt('bob.example', '/set', { body: 'bob-secret' })).body.toString(), 'synced');
    assert.equal((await bob.stop(idOf(b1))).status, 200);

    const a1 = await alice.start(payroll('alice.example'), 'payroll');
    assert.equal(a1.status, 201, a1.body.toString());
    assert.equal((await alice.ingressAt('alice.example', '/get')).body.toString(), 'init saw: ', "alice's handle_init does not get bob's state");
    assert.equal((await alice.ingressAt('alice.example', '/set', { body: 'alice-data' })).body.toString(), 'synced');

    // Names are per owner: bob starts his 'payroll' again while alice's runs.
    const b2 = await bob.start(payroll('bob.example'), 'payroll');
    assert.equal(b2.status, 201, b2.body.toString());
    assert.equal((await bob.ingressAt('bob.example', '/get')).body.toString(), 'init saw: bob-secret', "bob gets his own state back, not alice's");
    assert.equal((await bob.start(payroll('bob2.example'), 'payroll')).status, 409, 'one owner still cannot run two workflows of one name');

    assert.equal((await alice.stop(idOf(a1))).status, 200);
    const a2 = await alice.start(payroll('alice.example'), 'payroll');
    assert.equal((await alice.ingressAt('alice.example', '/get')).body.toString(), 'init saw: alice-data', 'a restart of the same user’s workflow gets its state back');
    await alice.stop(idOf(a2));
    await bob.stop(idOf(b2));
  });
});

describe('http-ingress routes belong to one owner', () => {
  const WHO = (who: string) => `${HTTP_REPLY}
export function handle_call(src, msg) { const req = JSON.parse(msg); return reply(200, JSON.stringify({ who: '${who}', headers: req.headers })); }`;

  test("another user cannot claim bob's route, and the caller's Authorization header never reaches a workflow", async () => {
    const b = await bob.start({ functions: [jsFunction('api', WHO('bob'))], resources: [ingress('api', { host: 'bob.example', method: 'POST' })] }, 'api');
    assert.equal(b.status, 201, b.body.toString());

    for (const configurations of <Array<Record<string, string>>>[{ host: 'bob.example' }, { host: 'BOB.example', methods: 'GET, POST' }, { method: 'POST' }, {}]) {
      const hijack = await alice.start({ functions: [jsFunction('thief', WHO('alice'))], resources: [ingress('thief', configurations)] }, 'thief');
      assert.equal(hijack.status, 409, `${JSON.stringify(configurations)}: ${hijack.body.toString()}`);
      assert.match(hijack.json().error.message, /http-ingress route .* another user's workflow holds/);
    }
    assert.deepEqual((await alice.list()).json().workflows, [], 'no refused workflow runs');
    const elsewhere = await alice.start({ functions: [jsFunction('mine', WHO('alice'))], resources: [ingress('mine', { host: 'bob.example', method: 'GET' })] }, 'mine');
    assert.equal(elsewhere.status, 201, 'a route that overlaps no other owner’s (same host, another method) is fine');

    const seen: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await bob.ingressAt('bob.example', '/pay', { body: `request ${i}` });
      assert.equal(r.status, 200);
      const { who, headers } = r.json();
      seen.push(who);
      assert.ok(node.identity('bob').token, 'bob sends a bearer token');
      assert.equal(Object.keys(headers).find((k) => /authorization/i.test(k)), undefined, `no credentials in the ingress event: ${JSON.stringify(headers)}`);
      assert.equal(headers.host, 'bob.example');
    }
    assert.deepEqual(new Set(seen), new Set(['bob']), 'every one of bob’s requests reached bob’s workflow');

    await bob.stop(idOf(b));
    const after = await alice.start({ functions: [jsFunction('next', WHO('alice'))], resources: [ingress('next', { host: 'bob.example', method: 'POST' })] }, 'next');
    assert.equal(after.status, 201, 'a route is free again once its workflow stops');
    await alice.stop(idOf(after));
    await alice.stop(idOf(elsewhere));
  });
});

describe('a workflow that cannot be stored never runs', () => {
  test('a spec with a deeply nested unknown field is a 4xx, is not listed, and its ingress does not answer', async () => {
    const fn = jsFunction('ghost', `${HTTP_REPLY} export function handle_call() { return reply(200, 'boo'); }`);
    const spec = JSON.stringify({ functions: [fn], resources: [ingress('ghost', { host: 'ghost.example' })] });
    const depth = 200_000;
    // Too deep for JSON.stringify (so for the Store), not for JSON.parse: built by hand.
    const body = `{"name":"ghost","spec":${spec.slice(0, -1)},"extra":{"deep":${'['.repeat(depth)}${']'.repeat(depth)}}}}`;
    assert.doesNotThrow(() => JSON.parse(body));
    const r = await alice.startRaw(body);
    assert.ok(r.status >= 400 && r.status < 500, `a 4xx, not ${r.status}: ${r.body.toString().slice(0, 300)}`);
    assert.equal((await alice.list()).json().workflows.find((w: any) => w.name === 'ghost'), undefined, 'not listed');
    assert.equal((await alice.ingressAt('ghost.example', '/boo')).status, 404, 'its ingress does not answer');
    // The bystander: a ghost would hold its route against every other owner (routes are unique), so bob could
    // never take ghost.example. He can, and his workflow gets the requests.
    const bobs = await bob.start({ functions: [fn], resources: [ingress('ghost', { host: 'ghost.example' })] }, 'ghost');
    assert.equal(bobs.status, 201, `another user can claim the refused workflow's route: ${bobs.body.toString()}`);
    assert.equal((await bob.ingressAt('ghost.example', '/boo')).body.toString(), 'boo');
    assert.equal((await bob.stop(idOf(bobs))).status, 200);
    const ok = await alice.start(JSON.parse(spec), 'ghost');
    assert.equal(ok.status, 201, 'the name and the route are free: nothing was left holding them');
    assert.equal((await alice.ingressAt('ghost.example', '/boo')).body.toString(), 'boo');
    await alice.stop(idOf(ok));
  });
});

describe('http-egress', () => {
  // Calls egress with the request in the ingress body; replies with the call's outcome.
  const FRONT = `${HTTP_REPLY}
export function handle_call(src, msg) {
  const req = JSON.parse(msg);
  const r = edgeless.call('egress', String.fromCharCode(...req.body));
  if (r.type !== 'reply') return reply(200, r.type);
  const res = JSON.parse(r.data);
  return reply(200, res.status + ' ' + String.fromCharCode(...res.body));
}`;
  const spec = (host: string) => ({ functions: [jsFunction('front', FRONT, { egress: 'egress' })], resources: [ingress('front', { host }), { name: 'egress', class_type: 'http-egress', output_mapping: {}, configurations: {} }] });
  const request = (host: string, path: string) => JSON.stringify({ method: 'Get', protocol: 'HTTP', host, path, headers: {}, body: null });

  test('a path that would change the host or the port is refused, and no request leaves', async () => {
    const w = await bob.start(spec('egress.example'), 'egress');
    assert.equal(w.status, 201, w.body.toString());
    stolen = [];
    const call = async (host: string, path: string) => (await bob.ingressAt('egress.example', '/', { body: request(host, path) })).body.toString();
    // Allowed: 'localhost' (its default port). The path ':<port>/steal' used to make http://localhost:<port>/steal.
    assert.equal(await call('localhost', `:${portOf(attacker)}/steal`), 'err');
    // Allowed: 'api.example.com'. The path '.attacker.invalid/steal' used to make http://api.example.com.attacker.invalid/steal.
    assert.equal(await call('api.example.com', '.attacker.invalid/steal'), 'err');
    assert.equal(await call('api.example.com', '@127.0.0.1/steal'), 'err');
    assert.equal(await call(`localhost:${portOf(attacker)}`, '/steal'), 'err', 'a port not in the allow-list');
    assert.equal(await call(`127.0.0.1:${portOf(slow)}@127.0.0.1:${portOf(attacker)}`, '/steal'), 'err', 'userinfo tricks');
    assert.deepEqual(stolen, [], 'nothing reached the attacker');
    await bob.stop(idOf(w));
  });

  test("a slow egress target (2 s) stalls neither the node nor another user's REST requests", async () => {
    const w = await bob.start(spec('slow.example'), 'slow-egress');
    assert.equal(w.status, 201, w.body.toString());
    const started = performance.now();
    let slowDone = 0;
    // One instance handles one event at a time, so one slow call at a time (the call timeout is 5 s).
    const slowCalls = Array.from({ length: 1 }, () =>
      bob.ingressAt('slow.example', '/', { body: request(`127.0.0.1:${portOf(slow)}`, '/slow') }).then((r) => {
        slowDone = performance.now();
        return r.body.toString();
      }),
    );
    await new Promise((r) => setTimeout(r, 200));
    const answered: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await alice.list();
      assert.equal(r.status, 200);
      answered.push(performance.now());
    }
    const replies = await Promise.all(slowCalls);
    assert.deepEqual(replies, ['200 slow done']);
    process.stdout.write(`# slow egress: alice's 5 REST requests answered by ${(answered[4] - started).toFixed(0)} ms; bob's egress calls by ${(slowDone - started).toFixed(0)} ms\n`);
    assert.ok(answered[4] < slowDone, "alice's requests were answered while bob's egress calls were still waiting");
    await bob.stop(idOf(w));
  });
});
