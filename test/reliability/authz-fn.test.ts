// The authorization matrix for process functions (issue 16): every route of src/http/routes/fn.ts, and a
// task naming a function, against every kind of caller. The rule (docs/fn.md, "Ownership"): a function a
// user deployed is called only by that user; the consortium's (deployed by governance) by every user;
// members, the node's service identity and unauthenticated callers call none. After every row alice's
// function is checked: listed for her, answering her by id and by her trigger, with her code.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { packDirectory } from '../../src/packaging/package.js';
import { BASE_CALLERS, type BaseCaller, type Identity, type RestRow, assertEveryRouteHasARow, baseCallers, outcomesFor, runRestRow } from '../helpers/authz.js';
import { type TestNode, startNode, tempDir } from '../helpers/cli.js';
import { PYTHON_FN } from '../helpers/fn-fixtures.js';
import { passProposal } from '../helpers/gov.js';
import { type HttpsReply, https } from '../helpers/https-client.js';

const CALLERS = BASE_CALLERS;
type Caller = BaseCaller;
const { usersOnly, anyIdentity } = outcomesFor(CALLERS);

let node: TestNode;
let who: Record<Caller, Identity>;
const fns = { alice: '', shared: '' };
const url = (p: string) => `https://127.0.0.1:${node.ports.https}${p}`;

/** A stdlib-only Python function answering whose it is, with an HTTP trigger at /<name>. */
async function packageOf(name: string, owner: string): Promise<Buffer> {
  const dir = join(tempDir('tessera-authz-fn-'), name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'func.yaml'), `schema_version: 20180708\nname: ${name}\nversion: 0.0.1\nruntime: python\nentrypoint: python3 func.py\ntriggers:\n- name: ${name}\n  type: http\n  source: /${name}\n`);
  writeFileSync(join(dir, 'func.py'), `WHO = ${JSON.stringify(owner)}\n${PYTHON_FN.replace('{"python": body.decode(),', '{"who": WHO, "python": body.decode(),')}`);
  return (await packDirectory(dir)).bytes;
}
async function upload(id: Identity, bytes: Buffer): Promise<string> {
  const r = await https(url('/v1/fn/packages'), id, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/x-tar' } });
  assert.equal(r.status, 201, r.body.toString());
  return r.json().digest;
}
async function deployAs(user: Caller, name: string, app: string): Promise<string> {
  const r = await https(url('/v1/fns'), who[user], { method: 'POST', json: { package: await upload(who[user], await packageOf(name, 'alice')), app } });
  assert.equal(r.status, 201, r.body.toString());
  return r.json().id;
}

before(async () => {
  node = await startNode({ users: ['alice', 'bob', 'dave'], members: ['m0', 'm1', 'm2'], config: (c) => {
    c.log.level = 'warn';
    c.fn = { allow_direct_deploy: true, start_timeout_ms: 3000 };
  } });
  who = await baseCallers(node, { owner: 'alice', otherUser: 'bob', revoked: 'dave', member: 'm0' });
  fns.alice = await deployAs('owner', 'mine', 'alice-app');
  const digest = await upload(who.member, await packageOf('shared', 'consortium'));
  await passProposal(node, [{ name: 'set_node_function', args: { name: 'shared', kind: 'process', package: digest, app: 'shared' } }]);
  fns.shared = (await https(url('/v1/fns'), who.owner)).json().fns.find((f: any) => f.app === 'shared').id;
});
after(() => node?.cleanup());

/** The bystander: alice's function is listed for her and answers her, by id and by trigger, with her code. */
async function aliceUnaffected(after: string) {
  assert.ok((await https(url('/v1/fns'), who.owner)).json().fns.some((f: any) => f.id === fns.alice), `alice's function listed for her after ${after}`);
  const byId = await https(url(`/invoke/${fns.alice}`), who.owner, { method: 'POST', body: Buffer.from('ping') });
  assert.deepEqual([byId.status, byId.json().who], [200, 'alice'], `alice invokes hers after ${after}: ${byId.body.toString()}`);
  const byTrigger = await https(url('/t/alice-app/mine'), who.owner, { method: 'POST', body: Buffer.from('ping') });
  assert.deepEqual([byTrigger.status, byTrigger.json().who], [200, 'alice'], `alice's trigger after ${after}`);
}

/** Whose code answered a call, else the status. */
const answeredBy = (_c: Caller, res: HttpsReply) => (res.status === 200 ? res.json().who : res.status);
/** A POST with a small body to a path read when the row runs (the ids are known only after setup). */
const call = (path: () => string) => async () => ({ method: 'POST', path: path(), body: Buffer.from('ping'), headers: { 'content-type': 'text/plain' } });

const ROWS: Array<RestRow<Caller>> = [
  {
    route: 'GET /v1/fns',
    call: async () => ({ path: '/v1/fns' }),
    // Each user lists what they may call: their own and the consortium's.
    observe: (_c, res) => {
      if (res.status !== 200) return res.status;
      const ids = res.json().fns.map((f: any) => f.id);
      return [ids.includes(fns.alice) ? "alice's" : '', ids.includes(fns.shared) ? 'consortium’s' : ''].filter(Boolean).join(' and ') || 'none';
    },
    expect: { ...usersOnly('consortium’s'), owner: "alice's and consortium’s" },
  },
  {
    route: 'PUT /v1/fn/packages',
    call: async () => ({ method: 'PUT', path: '/v1/fn/packages', body: await packageOf('uploaded', 'anyone'), headers: { 'content-type': 'application/x-tar' } }),
    // Users upload where they may deploy (here they may); members upload to propose.
    expect: { ...anyIdentity('ok'), service: 403 },
  },
  {
    route: 'POST /v1/fns',
    what: "a new function into alice's app",
    call: async () => ({ method: 'POST', path: '/v1/fns', json: { package: await upload(who.owner, await packageOf('extra', 'intruder')), app: 'alice-app' } }),
    observe: async (c, res) => {
      if (res.status !== 201) return res.status;
      assert.equal((await https(url(`/v1/fns/${res.json().id}`), who[c], { method: 'DELETE' })).status, 200);
      return 'ok';
    },
    expect: { ...usersOnly(403), owner: 'ok' },
  },
  {
    route: 'DELETE /v1/fns/:id',
    what: "alice's function (alice removes a spare one of hers)",
    call: async (c) => ({ method: 'DELETE', path: `/v1/fns/${c === 'owner' ? await deployAs('owner', 'spare', 'alice-app') : fns.alice}` }),
    expect: { ...usersOnly(404), owner: 'ok' },
  },
  { route: 'DELETE /v1/fns/:id', what: "the consortium's function (only governance removes it)", call: async () => ({ method: 'DELETE', path: `/v1/fns/${fns.shared}` }), expect: usersOnly(404) },
  { route: 'POST /invoke/:id', what: "alice's function", call: call(() => `/invoke/${fns.alice}`), observe: answeredBy, expect: { ...usersOnly(403), owner: 'alice' } },
  { route: 'POST /invoke/:id', what: "the consortium's function", call: call(() => `/invoke/${fns.shared}`), observe: answeredBy, expect: usersOnly('consortium') },
  // Another method is 405 for every user, before the function is looked up: it tells nobody anything.
  { route: 'GET|PUT|DELETE|PATCH|OPTIONS /invoke/:id', what: "GET on alice's function", call: async () => ({ path: `/invoke/${fns.alice}` }), expect: usersOnly(405) },
  { route: 'POST /invoke/:id', what: 'an id no function has', call: call(() => '/invoke/01ABCDEFGHJKMNPQRSTVWXYZ00'), expect: usersOnly(404) },
  { route: 'ALL /t/:app/*', what: "alice's trigger", call: call(() => '/t/alice-app/mine'), observe: answeredBy, expect: { ...usersOnly(403), owner: 'alice' } },
  { route: 'ALL /t/:app/*', what: "the consortium's trigger", call: call(() => '/t/shared/shared'), observe: answeredBy, expect: usersOnly('consortium') },
  // Alice's app has no trigger at '/': she is told so (404), anyone else is refused the app (403).
  { route: 'ALL /t/:app', what: "alice's app", call: call(() => '/t/alice-app'), expect: { ...usersOnly(403), owner: 404 } },
  { route: 'ALL /t/:app', what: 'an app nobody has', call: call(() => '/t/nobody-app'), expect: usersOnly(404) },
];

test('every route in src/http/routes/fn.ts has a row, and every row is a route', () => {
  assertEveryRouteHasARow(ROWS, 'fn.ts');
});

describe("process function routes × callers, on alice's function and the consortium's", () => {
  for (const row of ROWS) {
    test(`${row.route}${row.what ? `: ${row.what}` : ''}`, async () => {
      assert.deepEqual(await runRestRow(node, who, CALLERS, row), row.expect);
      await aliceUnaffected(`${row.route} ${row.what ?? ''}`);
    });
  }
});

describe('tasks naming a process function × callers', () => {
  // A task's creator calls the function it names: the same rule as /invoke.
  const TASK_ROWS: Array<{ what: string; fn: () => string; expect: Record<Caller, unknown> }> = [
    { what: "fn:<alice's function>", fn: () => fns.alice, expect: { ...usersOnly(403), owner: 'alice' } },
    { what: "fn:<the consortium's function>", fn: () => fns.shared, expect: usersOnly('consortium') },
  ];
  for (const row of TASK_ROWS) {
    test(row.what, async () => {
      const got: Record<string, unknown> = {};
      for (const c of CALLERS) {
        const created = await https(url('/v1/tasks'), who[c], { method: 'POST', json: { function_name: `fn:${row.fn()}` } });
        if (created.status !== 201) {
          got[c] = created.status;
          continue;
        }
        const { task_id, task_token } = created.json();
        const run = await https(url(`/v1/tasks/${task_id}/invoke`), who[c], { method: 'POST', json: { task_token, payload: 'ping' } });
        // The result is the function's 200 body, as text.
        got[c] = run.status === 200 ? JSON.parse(run.json().result).who : run.status;
      }
      assert.deepEqual(got, row.expect);
      await aliceUnaffected(row.what);
    });
  }
});
