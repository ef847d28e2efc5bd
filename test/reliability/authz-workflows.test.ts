// The authorization matrix for workflows (issue 16): every /v1/workflows and /ingress route against every
// kind of caller acting on alice's running workflow "payroll", by its id and by its name; and what a
// workflow's http-egress may reach. After every row alice's workflow is checked: still listed, still
// answering on her route, its synced state hers and unchanged. A route in workflows.ts with no row fails.
import assert from 'node:assert/strict';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { BASE_CALLERS, type BaseCaller, type Expected, type Identity, type RestRow, assertEveryRouteHasARow, baseCallers, outcomesFor, runRestRow } from '../helpers/authz.js';
import { type TestNode, startNode } from '../helpers/cli.js';
import { https } from '../helpers/https-client.js';
import { HTTP_REPLY, ingress, jsFunction, workflowClient } from '../helpers/workflows.js';

const CALLERS = BASE_CALLERS;
type Caller = BaseCaller;
const { usersOnly, anyIdentity } = outcomesFor(CALLERS);

let node: TestNode;
let who: Record<Caller, Identity>;
/** Alice's running workflow, the bystander of every row. */
const alice = { id: '', name: 'payroll', host: 'alice.example', secret: 'alice-secret' };
/** Counts every request that reaches it: egress must never get here. */
let attacker: Server;
let stolen: string[] = [];
/** The one host:port http-egress may reach. */
let allowed: Server;
const portOf = (s: Server) => (s.address() as AddressInfo).port;
const listen = (s: Server) => new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));

// Answers who it belongs to, the state it holds and the headers it got; a POST syncs its body as its state.
const VAULT = (owner: string) => `${HTTP_REPLY}
let state = '';
export function handle_init(payload, s) { state = s ?? ''; }
export function handle_call(src, msg) {
  const req = JSON.parse(msg);
  if (req.method === 'Post') { state = String.fromCharCode(...req.body); edgeless.sync(state); edgeless.cast('audit', state); }
  return reply(200, JSON.stringify({ who: '${owner}', state, headers: req.headers }));
}`;
// Its file-log 'audit.log' gets every state it syncs: a file only its owner may read back.
const vault = (owner: string, route: Record<string, string>) => ({
  functions: [jsFunction('vault', VAULT(owner), { audit: 'audit' })],
  resources: [ingress('vault', route), { name: 'audit', class_type: 'file-log', output_mapping: {}, configurations: { filename: 'audit.log' } }],
});

before(async () => {
  attacker = createServer((req, res) => {
    stolen.push(`${req.headers.host}${req.url}`);
    res.end('stolen');
  });
  allowed = createServer((_req, res) => res.end('allowed'));
  await Promise.all([listen(attacker), listen(allowed)]);
  node = await startNode({
    users: ['alice', 'bob', 'dave'],
    members: ['m0'],
    config: (c) => {
      c.log.level = 'warn';
      c.workflows = { egress_hosts: ['localhost', 'api.example.com', `127.0.0.1:${portOf(allowed)}`] };
    },
  });
  who = await baseCallers(node, { owner: 'alice', otherUser: 'bob', revoked: 'dave', member: 'm0' });
  const started = await workflowClient(node, 'alice').start(vault('alice', { host: alice.host }), alice.name);
  assert.equal(started.status, 201, started.body.toString());
  alice.id = started.json().workflow_id;
  assert.equal(JSON.parse((await workflowClient(node, 'alice').ingressAt(alice.host, '/', { body: alice.secret })).body.toString()).state, alice.secret);
});
after(async () => {
  await node?.cleanup();
  attacker.close();
  allowed.close();
});

/** The bystander: alice's workflow is listed, inspectable, answers on her route from her code with her state. */
async function aliceUnaffected(after: string) {
  const a = workflowClient(node, 'alice');
  assert.deepEqual((await a.list()).json().workflows.map((w: any) => [w.workflow_id, w.name]), [[alice.id, alice.name]], `alice's workflows after ${after}`);
  assert.equal((await a.inspect(alice.id)).status, 200, `alice inspects hers after ${after}`);
  const r = await a.ingressAt(alice.host, '/');
  assert.equal(r.status, 200, `alice's route after ${after}: ${r.body.toString()}`);
  assert.deepEqual([r.json().who, r.json().state], ['alice', alice.secret], `alice's route answers from her workflow with her state after ${after}`);
}

/** Starts a workflow as `c` and stops it again at once (so it holds no name or route for the next row). */
const startAndStop = (spec: (c: Caller) => unknown, name: string, check?: (c: Caller) => Promise<Expected>) => ({
  call: async (c: Caller) => ({ method: 'POST', path: '/v1/workflows', json: { spec: spec(c), name } }),
  observe: async (c: Caller, res: { status: number; json(): any }): Promise<Expected> => {
    if (res.status !== 201) return res.status;
    const seen = check ? await check(c) : 'ok';
    assert.equal((await https(`https://127.0.0.1:${node.ports.https}/v1/workflows/${res.json().workflow_id}`, who[c], { method: 'DELETE' })).status, 200);
    return seen;
  },
});
/** A fresh workflow of alice's, for the rows that stop one (so hers keeps running). */
const freshOfAlice = async () => (await workflowClient(node, 'alice').start(vault('alice', { host: 'alice-spare.example' }))).json().workflow_id as string;

const ROWS: Array<RestRow<Caller>> = [
  {
    route: 'GET /v1/workflows',
    call: async () => ({ path: '/v1/workflows' }),
    // Only alice's list shows her workflow; every other user's list is their own.
    observe: (_c, res) => (res.status !== 200 ? res.status : res.json().workflows.some((w: any) => w.workflow_id === alice.id) ? 'lists hers' : 'ok'),
    expect: { ...usersOnly('ok'), owner: 'lists hers' },
  },
  {
    route: 'POST /v1/workflows',
    what: "a workflow named like alice's ('payroll'), on the caller's own host",
    // Names are per owner: bob may have a 'payroll' too, and it starts with no state (not alice's).
    ...startAndStop(
      (c) => vault(c, { host: `${c}.example` }),
      'payroll',
      async (c) => {
        const state = JSON.parse((await https(`https://127.0.0.1:${node.ports.https}/ingress/`, who[c], { headers: { host: `${c}.example` } })).body.toString()).state;
        return state === '' ? 'ok, own empty state' : `saw state '${state}'`;
      },
    ),
    expect: { ...usersOnly('ok, own empty state'), owner: 409 },
  },
  {
    route: 'POST /v1/workflows',
    what: "a workflow whose http-ingress route overlaps alice's (her host, any method)",
    ...startAndStop((c) => vault(c, { host: alice.host }), 'overlap'),
    // Alice may overlap her own routes; nobody else may claim hers.
    expect: { ...usersOnly(409), owner: 'ok' },
  },
  {
    route: 'GET /v1/workflow-files/:name/*',
    what: "alice's file-log file, by her workflow's name",
    call: async () => ({ path: `/v1/workflow-files/${alice.name}/audit.log` }),
    // Names are per owner: another user's 'payroll' is another folder, with no such file (404) or its own
    // (an earlier row started bob's 'payroll', whose file-log opened its own audit.log).
    observe: (_c, res) => (res.status === 404 || (res.status === 200 && !res.json().content.includes(alice.secret)) ? 'not hers' : res.status === 200 ? 'reads hers' : res.status),
    expect: { ...usersOnly('not hers'), owner: 'reads hers' },
  },
  {
    route: 'GET /v1/workflow-files/:name/*',
    what: 'a path that climbs out of the workflow folder (to the store)',
    call: async () => ({ path: `/v1/workflow-files/${alice.name}/..%2F..%2Fstore.sqlite` }),
    expect: usersOnly(400),
  },
  {
    route: 'GET /v1/workflow-node',
    what: 'what placement annotations see of this node',
    call: async () => ({ path: '/v1/workflow-node' }),
    observe: (_c, res) => (res.status !== 200 ? res.status : typeof res.json().node_id === 'string' ? 'ok' : 'no node_id'),
    expect: usersOnly('ok'),
  },
  { route: 'GET /v1/workflows/:id', what: "alice's, by id", call: async () => ({ path: `/v1/workflows/${alice.id}` }), expect: { ...usersOnly(404), owner: 'ok' } },
  { route: 'GET /v1/workflows/:id', what: "alice's, by its name", call: async () => ({ path: `/v1/workflows/${alice.name}` }), expect: usersOnly(404) },
  {
    route: 'DELETE /v1/workflows/:id',
    what: "alice's, by id (alice stops a spare one of hers)",
    call: async (c) => ({ method: 'DELETE', path: `/v1/workflows/${c === 'owner' ? await freshOfAlice() : alice.id}` }),
    expect: { ...usersOnly(404), owner: 'ok' },
  },
  { route: 'DELETE /v1/workflows/:id', what: "alice's, by its name", call: async () => ({ method: 'DELETE', path: `/v1/workflows/${alice.name}` }), expect: usersOnly(404) },
  {
    route: 'ALL /ingress/*',
    what: "a request to alice's route, with Authorization and Proxy-Authorization",
    call: async () => ({ method: 'GET', path: '/ingress/pay', headers: { host: alice.host, 'proxy-authorization': 'Basic c2VjcmV0OnNlY3JldA==' } }),
    // An ingress route is a service: any authenticated caller reaches it, and only alice's workflow answers;
    // no credential header reaches it (the function reports the headers it got).
    observe: (_c, res) => {
      if (res.status !== 200) return res.status;
      const { who: owner, headers } = res.json();
      const leaked = Object.keys(headers).filter((k) => /authorization/i.test(k));
      return owner === 'alice' && leaked.length === 0 ? 'alice answers, no credentials' : `${owner} answers, got ${leaked.join(', ')}`;
    },
    expect: anyIdentity('alice answers, no credentials'),
  },
];

test('every route in src/http/routes/workflows.ts has a row, and every row is a route', () => {
  assertEveryRouteHasARow(ROWS, 'workflows.ts');
});

describe("workflow routes × callers, on alice's workflow", () => {
  for (const row of ROWS) {
    test(`${row.route}${row.what ? `: ${row.what}` : ''}`, async () => {
      assert.deepEqual(await runRestRow(node, who, CALLERS, row), row.expect);
      await aliceUnaffected(row.route);
    });
  }
});

describe("http-egress: what bob's workflow may reach", () => {
  // Calls egress with the request in the ingress body; replies with the call's outcome.
  const FRONT = `${HTTP_REPLY}
export function handle_call(src, msg) {
  const req = JSON.parse(msg);
  const r = edgeless.call('egress', String.fromCharCode(...req.body));
  if (r.type !== 'reply') return reply(200, r.type);
  const res = JSON.parse(r.data);
  return reply(200, res.status + ' ' + String.fromCharCode(...res.body));
}`;
  const spec = { functions: [jsFunction('front', FRONT, { egress: 'egress' })], resources: [ingress('front', { host: 'egress.example' }), { name: 'egress', class_type: 'http-egress', output_mapping: {}, configurations: {} }] };
  // Allowed: localhost (port 80), api.example.com (port 80) and 127.0.0.1 on the allowed server's port.
  // 'err' is the egress call's refusal; nothing refused may reach the attacker's server.
  const EGRESS_ROWS: Array<{ what: string; host: () => string; path: () => string; expect: string }> = [
    { what: 'the allowed host and port', host: () => `127.0.0.1:${portOf(allowed)}`, path: () => '/ok', expect: '200 allowed' },
    { what: 'a path that adds a port to an allowed host', host: () => 'localhost', path: () => `:${portOf(attacker)}/steal`, expect: 'err' },
    { what: 'a path that extends an allowed hostname', host: () => 'api.example.com', path: () => '.attacker.invalid/steal', expect: 'err' },
    { what: 'a path that makes the allowed host userinfo', host: () => 'api.example.com', path: () => `@127.0.0.1:${portOf(attacker)}/steal`, expect: 'err' },
    { what: 'userinfo in the host naming the allowed host:port', host: () => `127.0.0.1:${portOf(allowed)}@127.0.0.1:${portOf(attacker)}`, path: () => '/steal', expect: 'err' },
    { what: 'an allowed hostname on a port not allowed', host: () => `localhost:${portOf(attacker)}`, path: () => '/steal', expect: 'err' },
    { what: 'an allowed IP on a port not allowed', host: () => `127.0.0.1:${portOf(attacker)}`, path: () => '/steal', expect: 'err' },
    { what: 'a dot-dot path stays on the allowed host', host: () => `127.0.0.1:${portOf(allowed)}`, path: () => `/../@127.0.0.1:${portOf(attacker)}/steal`, expect: '200 allowed' },
  ];

  test('each request reaches exactly an allowed host and port; tricks are refused and reach nothing; alice is unaffected', async () => {
    const bob = workflowClient(node, 'bob');
    const w = await bob.start(spec, 'egress');
    assert.equal(w.status, 201, w.body.toString());
    stolen = [];
    const got: Record<string, string> = {};
    const want: Record<string, string> = {};
    for (const row of EGRESS_ROWS) {
      const request = JSON.stringify({ method: 'Get', protocol: 'HTTP', host: row.host(), path: row.path(), headers: {}, body: null });
      got[row.what] = (await bob.ingressAt('egress.example', '/', { body: request })).body.toString();
      want[row.what] = row.expect;
    }
    assert.deepEqual(got, want);
    assert.deepEqual(stolen, [], 'nothing reached the attacker');
    await aliceUnaffected('bob’s egress calls');
    assert.equal((await bob.stop(w.json().workflow_id)).status, 200);
  });
});
