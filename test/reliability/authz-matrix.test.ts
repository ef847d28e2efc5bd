// The authorization matrix: every REST route, wire listener and governance action against every kind of
// caller, each pair with the outcome it must get. A route in src/http/routes that is not in the table
// fails the test, so a new route cannot ship without deciding who may call it. The decisions about one
// owner's resources against another's, in depth, are in the other authz-*.test.ts files: workflows,
// ingress and egress (authz-workflows), process functions (authz-fn), apps with interpreter_reuse
// (authz-apps) and governance timing (authz-gov-timing); each fails on a route of its own domain with no row.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createCertificateAuthority, issueCertificate } from '../../src/crypto/certificates.js';
import { certIdOfPem } from '../../src/crypto/certificates.js';
import { type Expected, assertEveryRouteHasARow, outcome, signedBy as signedByIdentity } from '../helpers/authz.js';
import { REPO, type TestNode, startNode, tessera } from '../helpers/cli.js';
import { encryptForUpload, letterRecords, sha256 } from '../helpers/files.js';
import { type HttpsIdentity, https } from '../helpers/https-client.js';
import { WireClient } from '../helpers/wire-client.js';
import { HTTP_REPLY, jsFunction } from '../helpers/workflows.js';
import { identitiesDirOf } from '../../src/node/datadir.js';

const CALLERS = ['anonymous', 'otherCa', 'revoked', 'wrongToken', 'anotherUser', 'collabBefore', 'collabAfter', 'creator', 'member', 'service'] as const;
type Caller = (typeof CALLERS)[number];


let node: TestNode;
const who = {} as Record<Caller, HttpsIdentity & { key?: string; cert?: string }>;
/** Two psi tasks by alice with bob as collaborator: one he has not approved yet, one he has. */
const fixtures = { aliceFile: '', bobFile: '', pending: { id: '', token: '' }, approved: { id: '', token: '' }, workflow: '' };
const url = (path: string) => `https://127.0.0.1:${node.ports.https}${path}`;
const ident = (name: string) => ({ ...node.identity(name), ca: node.ca });

async function upload(user: string, data: Buffer) {
  const created = (await https(url('/v1/files'), ident(user), { method: 'POST', json: { file_name: 'f', sha256: sha256(data), file_size: data.length } })).json();
  assert.equal((await https(created.access_path, ident(user), { method: 'PUT', body: encryptForUpload(created.key_config, data), headers: { 'content-type': 'application/octet-stream' } })).status, 200);
  return created.file_id as string;
}
async function psiTask(approve: boolean) {
  const t = (await https(url('/v1/tasks'), ident('alice'), { method: 'POST', json: { function_name: 'psi', collaborator_list: ['bob'], files: [fixtures.aliceFile] } })).json();
  if (approve) assert.equal((await https(url(`/v1/tasks/${t.task_id}/approve`), ident('bob'), { method: 'POST', json: { files: [fixtures.bobFile] } })).status, 200);
  return { id: t.task_id as string, token: t.task_token as string };
}
const spec = { functions: [jsFunction('f', `${HTTP_REPLY} export function handle_call() { return reply(200, 'x'); }`)], resources: [] };

before(async () => {
  node = await startNode({ users: ['alice', 'bob', 'carol', 'dave'], members: ['m0'], config: (c) => (c.log.level = 'warn') });
  const mallory = await issueCertificate(await createCertificateAuthority('Mallory CA'), { name: 'alice', role: 'user' });
  const m0 = join(identitiesDirOf(node.dir), 'm0');
  Object.assign(who, {
    anonymous: { ca: node.ca },
    otherCa: { cert: mallory.certPem, key: mallory.keyPem, token: node.identity('alice').token, ca: node.ca },
    revoked: ident('dave'),
    wrongToken: { ...ident('alice'), token: 'f'.repeat(64) },
    anotherUser: ident('carol'),
    collabBefore: ident('bob'),
    collabAfter: ident('bob'),
    creator: ident('alice'),
    member: { cert: readFileSync(join(m0, 'cert.pem'), 'utf8'), key: readFileSync(join(m0, 'key.pem'), 'utf8'), ca: node.ca },
    service: { ...node.service, ca: node.ca },
  });
  assert.equal((await tessera(['user', 'remove', 'dave', '--data', node.dir])).code, 0);
  fixtures.aliceFile = await upload('alice', letterRecords('abc'));
  fixtures.bobFile = await upload('bob', letterRecords('bcd'));
  fixtures.pending = await psiTask(false);
  fixtures.approved = await psiTask(true);
  fixtures.workflow = (await https(url('/v1/workflows'), ident('alice'), { method: 'POST', json: { spec, name: 'w' } })).json().workflow_id;
});
after(() => node?.cleanup());

/** The task a caller acts on: bob's cells use the task in the state their name says; others the approved one. */
const taskFor = (c: Caller) => (c === 'collabBefore' ? fixtures.pending : fixtures.approved);

// Outcomes shared by most routes.
const UNAUTHENTICATED = { anonymous: 401, otherCa: 401, revoked: 401, wrongToken: 401 } as const;
const EVERYONE = (e: Expected) => Object.fromEntries(CALLERS.map((c) => [c, e])) as Record<Caller, Expected>;
const ANY_IDENTITY = (e: Expected) => ({ ...EVERYONE(e), ...UNAUTHENTICATED });
const USERS_ONLY = (e: Expected) => ({ ...ANY_IDENTITY(e), member: 403, service: 403 });

interface Row {
  route: string;
  /** The request for a caller (a fresh resource where the call would change the shared ones). */
  call: (c: Caller) => Promise<{ method?: string; path: string; json?: unknown; body?: Buffer; headers?: Record<string, string> }>;
  expect: Record<Caller, Expected>;
}

const API = 'api-version=2024-07-01';
/** Reads open to every caller: route, a path, and the outcome (nothing here needs an identity). */
const OPEN_READS: Array<[string, string, Expected]> = [
  ['GET /commit', '/commit', 'ok'],
  ['GET /tx', '/tx?transaction_id=2.1', 'ok'],
  ['GET /receipt', '/receipt?transaction_id=2.999999', 404],
  ['GET /node/commit', '/node/commit', 'ok'],
  ['GET /node/tx', '/node/tx?transaction_id=2.1', 'ok'],
  ['GET /node/receipt', '/node/receipt?transaction_id=2.999999', 404],
  ['GET /gov/commit', '/gov/commit', 'ok'],
  ['GET /gov/tx', '/gov/tx?transaction_id=2.1', 'ok'],
  ['GET /gov/receipt', '/gov/receipt?transaction_id=2.999999', 404],
  ['GET /gov/api', '/gov/api', 'ok'],
  ['GET /node/api', '/node/api', 'ok'],
  ['GET /node/state', '/node/state', 'ok'],
  ['GET /node/version', '/node/version', 'ok'],
  ['GET /node/quotes', '/node/quotes', 'ok'],
  ['GET /node/quotes/self', '/node/quotes/self', 'ok'],
  ['GET /node/attestations', '/node/attestations', 'ok'],
  ['GET /node/attestations/self', '/node/attestations/self', 'ok'],
  ['GET /node/network', '/node/network', 'ok'],
  ['GET /node/network/nodes', '/node/network/nodes', 'ok'],
  ['GET /node/network/nodes/self', '/node/network/nodes/self', 'ok'],
  ['GET /node/network/nodes/primary', '/node/network/nodes/primary', 'ok'],
  ['GET /node/network/nodes/:node_id', `/node/network/nodes/${'0'.repeat(64)}`, 404],
  ['GET /node/network/removable_nodes', '/node/network/removable_nodes', 'ok'],
  ['GET /node/service/previous_identity', '/node/service/previous_identity', 404],
  ['GET /node/backup', '/node/backup', 404],
  ['GET /node/config', '/node/config', 'ok'],
  ['GET /node/consensus', '/node/consensus', 'ok'],
  ['GET /node/memory', '/node/memory', 'ok'],
  ['GET /node/metrics', '/node/metrics', 'ok'],
  ['GET /node/js_metrics', '/node/js_metrics', 'ok'],
  ['GET /node/service/configuration', '/node/service/configuration', 'ok'],
  ['GET /node/jwt_keys/refresh/metrics', '/node/jwt_keys/refresh/metrics', 'ok'],
  ['GET /node/index/strategies', '/node/index/strategies', 'ok'],
  ['GET /node/self_signed_certificate', '/node/self_signed_certificate', 'ok'],
  ['GET /node/ready/app', '/node/ready/app', 'ok'],
  ['GET /node/ready/gov', '/node/ready/gov', 'ok'],
  ['GET /gov/service/constitution', `/gov/service/constitution?${API}`, 'ok'],
  ['GET /gov/service/info', `/gov/service/info?${API}`, 'ok'],
  ['GET /gov/service/members', `/gov/service/members?${API}`, 'ok'],
  ['GET /gov/service/members/:memberId', `/gov/service/members/${'0'.repeat(64)}?${API}`, 404],
  ['GET /gov/service/users', `/gov/service/users?${API}`, 'ok'],
  ['GET /gov/service/users/:userId', `/gov/service/users/${'0'.repeat(64)}?${API}`, 404],
  ['GET /gov/service/nodes', `/gov/service/nodes?${API}`, 'ok'],
  ['GET /gov/service/nodes/:nodeId', `/gov/service/nodes/${'0'.repeat(64)}?${API}`, 404],
  ['GET /gov/service/jwk', `/gov/service/jwk?${API}`, 'ok'],
  ['GET /gov/service/join-policy', `/gov/service/join-policy?${API}`, 'ok'],
  ['GET /gov/service/transactions/commit', `/gov/service/transactions/commit?${API}`, 'ok'],
  ['GET /gov/service/transactions/:transactionId', `/gov/service/transactions/2.1?${API}`, 'ok'],
  ['GET /gov/members/state-digests/:memberId', `/gov/members/state-digests/${'0'.repeat(64)}?${API}`, 404],
];

const ROWS: Row[] = [
  { route: 'GET /v1/health', call: async () => ({ path: '/v1/health' }), expect: EVERYONE('ok') },
  { route: 'GET /v1/api', call: async () => ({ path: '/v1/api' }), expect: EVERYONE('ok') },
  { route: 'GET /app/api', call: async () => ({ path: '/app/api' }), expect: EVERYONE('ok') },
  { route: 'ALL /app/*', call: async () => ({ path: '/app/nothing-deployed' }), expect: EVERYONE(404) },
  // CCF's common endpoints, every /node endpoint and the /gov reads are no_auth_required in CCF
  // (common_endpoint_registry.cpp, node_frontend.h, gov/handlers/*.h): open to every caller.
  { route: 'GET /app/commit', call: async () => ({ path: '/app/commit' }), expect: EVERYONE('ok') },
  { route: 'GET /app/tx', call: async () => ({ path: '/app/tx?transaction_id=2.1' }), expect: EVERYONE('ok') },
  { route: 'GET /app/receipt', call: async () => ({ path: '/app/receipt?transaction_id=2.999999' }), expect: EVERYONE(404) },
  ...OPEN_READS.map(([route, path, status]) => ({ route, call: async () => ({ path }), expect: EVERYONE(status) })),
  { route: 'GET|HEAD /node/primary', call: async () => ({ path: '/node/primary' }), expect: EVERYONE('ok') },
  { route: 'DELETE /node/network/nodes/:node_id', call: async () => ({ method: 'DELETE', path: `/node/network/nodes/${'0'.repeat(64)}` }), expect: EVERYONE(404) },
  // Paths outside Tessera's and CCF's prefixes are the app's, as in CCF; nothing is deployed here.
  { route: 'ALL /*', call: async () => ({ path: '/nothing-deployed' }), expect: EVERYONE(404) },
  { route: 'ALL /', call: async () => ({ path: '/' }), expect: EVERYONE(404) },
  { route: 'GET /v1/files', call: async () => ({ path: '/v1/files' }), expect: USERS_ONLY('ok') },
  { route: 'POST /v1/files', call: async () => ({ method: 'POST', path: '/v1/files', json: { file_name: 'n', sha256: 'a'.repeat(64), file_size: 1 } }), expect: USERS_ONLY('ok') },
  { route: 'GET /v1/files/:id', call: async () => ({ path: `/v1/files/${fixtures.aliceFile}` }), expect: { ...USERS_ONLY(403), creator: 'ok' } },
  // The node's own service identity reads ciphertext (never keys) to run tasks.
  { route: 'GET /v1/files/:id/content', call: async () => ({ path: `/v1/files/${fixtures.aliceFile}/content` }), expect: { ...USERS_ONLY(403), creator: 'ok', service: 'ok' } },
  { route: 'PUT /v1/files/:id/content', call: async () => ({ method: 'PUT', path: `/v1/files/${fixtures.aliceFile}/content`, body: Buffer.alloc(64), headers: { 'content-type': 'application/octet-stream' } }), expect: { ...USERS_ONLY(403), creator: 409 } },
  { route: 'DELETE /v1/files/:id', call: async () => ({ method: 'DELETE', path: `/v1/files/${await upload('alice', Buffer.from('x'))}` }), expect: { ...USERS_ONLY(403), creator: 'ok' } },
  { route: 'GET /v1/tasks', call: async () => ({ path: '/v1/tasks' }), expect: USERS_ONLY('ok') },
  { route: 'POST /v1/tasks', call: async () => ({ method: 'POST', path: '/v1/tasks', json: { function_name: 'echo' } }), expect: USERS_ONLY('ok') },
  { route: 'GET /v1/tasks/:id', call: async (c) => ({ path: `/v1/tasks/${taskFor(c).id}` }), expect: { ...USERS_ONLY('ok'), anotherUser: 403 } },
  {
    route: 'POST /v1/tasks/:id/approve',
    call: async (c) => ({ method: 'POST', path: `/v1/tasks/${(await psiTask(c === 'collabAfter')).id}/approve`, json: { files: [fixtures.bobFile] } }),
    expect: { ...USERS_ONLY(403), collabBefore: 'ok' },
  },
  {
    route: 'POST /v1/tasks/:id/invoke',
    call: async (c) => {
      const t = await psiTask(c !== 'collabBefore');
      return { method: 'POST', path: `/v1/tasks/${t.id}/invoke`, json: { task_token: t.token } };
    },
    expect: { ...USERS_ONLY(403), collabAfter: 'ok', creator: 'ok' },
  },
  { route: 'GET /v1/functions', call: async () => ({ path: '/v1/functions' }), expect: ANY_IDENTITY('ok') },
  // Registered functions' code is for every user to review before approving a task; none is registered here.
  { route: 'GET /v1/functions/:id', call: async () => ({ path: '/v1/functions/none' }), expect: USERS_ONLY(404) },
  { route: 'POST /v1/functions', call: async () => ({ method: 'POST', path: '/v1/functions', json: {} }), expect: USERS_ONLY(400) },
  { route: 'GET /v1/workflows', call: async () => ({ path: '/v1/workflows' }), expect: USERS_ONLY('ok') },
  { route: 'POST /v1/workflows', call: async () => ({ method: 'POST', path: '/v1/workflows', json: { spec } }), expect: USERS_ONLY('ok') },
  { route: 'GET /v1/workflows/:id', call: async () => ({ path: `/v1/workflows/${fixtures.workflow}` }), expect: { ...USERS_ONLY(404), creator: 'ok' } },
  {
    route: 'DELETE /v1/workflows/:id',
    call: async () => ({ method: 'DELETE', path: `/v1/workflows/${(await https(url('/v1/workflows'), ident('alice'), { method: 'POST', json: { spec } })).json().workflow_id}` }),
    expect: { ...USERS_ONLY(404), creator: 'ok' },
  },
  { route: 'ALL /ingress/*', call: async () => ({ path: '/ingress/nothing' }), expect: ANY_IDENTITY(404) },
  // A file of a workflow nobody here has: each user's own (empty) folder; the rest in authz-workflows.
  { route: 'GET /v1/workflow-files/:name/*', call: async () => ({ path: '/v1/workflow-files/none/out.log' }), expect: USERS_ONLY(404) },
  { route: 'GET /v1/workflow-node', call: async () => ({ path: '/v1/workflow-node' }), expect: USERS_ONLY('ok') },
  // Every tenant's instances are in it: the operator's identities only.
  { route: 'GET /metrics', call: async () => ({ path: '/metrics' }), expect: { ...ANY_IDENTITY(403), member: 'ok', service: 'ok' } },
  { route: 'GET /v1/fns', call: async () => ({ path: '/v1/fns' }), expect: USERS_ONLY('ok') },
  // Who the node takes the caller to be: any current identity (a user with its token), nobody else.
  { route: 'GET /v1/whoami', call: async () => ({ path: '/v1/whoami' }), expect: ANY_IDENTITY('ok') },
  // The web console's static files: public like /v1/api (requests from the page authenticate as any other).
  // A build always has them, so 'GET /console/*' (the answer of a node without them) is reached as the files.
  { route: 'GET /console', call: async () => ({ path: '/console' }), expect: EVERYONE(301) },
  { route: 'GET /console/*', call: async () => ({ path: '/console/index.html' }), expect: EVERYONE('ok') },
  { route: 'POST /v1/fns', call: async () => ({ method: 'POST', path: '/v1/fns', json: { package: 'ab'.repeat(32) } }), expect: USERS_ONLY(403) },
  { route: 'DELETE /v1/fns/:id', call: async () => ({ method: 'DELETE', path: `/v1/fns/${'cd'.repeat(32)}` }), expect: USERS_ONLY(404) },
  // Members upload packages to propose them (a bad archive is 400); users only where they may deploy, not here.
  { route: 'PUT /v1/fn/packages', call: async () => ({ method: 'PUT', path: '/v1/fn/packages', body: Buffer.from('not a tar archive'), headers: { 'content-type': 'application/x-tar' } }), expect: { ...ANY_IDENTITY(403), member: 400 } },
  { route: 'POST /invoke/:id', call: async () => ({ method: 'POST', path: '/invoke/01ABCDEFGHJKMNPQRSTVWXYZ00' }), expect: USERS_ONLY(404) },
  // Fn's router answers another method on /invoke with 405 before looking the function up.
  { route: 'GET|PUT|DELETE|PATCH|OPTIONS /invoke/:id', call: async () => ({ method: 'GET', path: '/invoke/01ABCDEFGHJKMNPQRSTVWXYZ00' }), expect: USERS_ONLY(405) },
  { route: 'ALL /t/:app/*', call: async () => ({ path: '/t/noapp/route' }), expect: USERS_ONLY(404) },
  { route: 'ALL /t/:app', call: async () => ({ path: '/t/noapp' }), expect: USERS_ONLY(404) },
  { route: 'GET /gov/members/proposals', call: async () => ({ path: '/gov/members/proposals?api-version=2024-07-01' }), expect: EVERYONE('ok') },
  { route: 'GET /gov/members/proposals/:id', call: async () => ({ path: '/gov/members/proposals/00?api-version=2024-07-01' }), expect: EVERYONE(404) },
  { route: 'GET /gov/members/proposals/:id/actions', call: async () => ({ path: '/gov/members/proposals/00/actions?api-version=2024-07-01' }), expect: EVERYONE(404) },
  { route: 'GET /gov/members/proposals/:id/ballots/:member', call: async () => ({ path: '/gov/members/proposals/00/ballots/00?api-version=2024-07-01' }), expect: EVERYONE(404) },
  { route: 'GET /gov/service/javascript-app', call: async () => ({ path: '/gov/service/javascript-app?api-version=2024-07-01' }), expect: EVERYONE('ok') },
  { route: 'GET /gov/service/javascript-modules', call: async () => ({ path: '/gov/service/javascript-modules?api-version=2024-07-01' }), expect: EVERYONE('ok') },
  { route: 'GET /gov/service/javascript-modules/:name', call: async () => ({ path: '/gov/service/javascript-modules/none.js?api-version=2024-07-01' }), expect: EVERYONE(404) },
  {
    route: 'POST /gov/members/*',
    // A proposal signed with the caller's own key: only a member's signature counts, with or without a
    // TLS client certificate (CCF's member_sig_only_policies). A caller with no key sends bytes that are no
    // envelope: the signature is the authentication, so that is 401 like any other failed one.
    call: async (c) => ({ method: 'POST', path: '/gov/members/proposals:create?api-version=2024-07-01', body: signedBy(c, { actions: [{ name: 'set_constitution', args: { constitution: 'x' } }] }), headers: { 'content-type': 'application/cose' } }),
    expect: { ...ANY_IDENTITY(401), member: 400 },
  },
];

const signedBy = (c: Caller, payload: unknown, type: 'proposal' | 'ballot' | 'withdrawal' = 'proposal', proposalId?: string) => signedByIdentity(who[c], payload, type, { proposalId });

test('every route in src/http/routes is in the table, and every row is a route', () => {
  const files = readdirSync(join(REPO, 'src', 'http', 'routes')).filter((f) => f.endsWith('.ts'));
  assertEveryRouteHasARow(ROWS, ...files, 'src/http/server.ts');
});

describe('REST routes × callers', () => {
  for (const row of ROWS) {
    test(row.route, async () => {
      const got: Record<string, Expected> = {};
      for (const c of CALLERS) {
        const req = await row.call(c);
        const res = await https(url(req.path), who[c], { method: req.method ?? (row.route.startsWith('ALL') ? 'GET' : 'GET'), json: req.json, body: req.body, headers: req.headers });
        got[c] = outcome(res.status);
      }
      assert.deepEqual(got, row.expect);
    });
  }
});

/** The user credentials a caller puts in wire messages: its own, or alice's where it holds no token. */
const credsOf = (c: Caller) => {
  const name = { anotherUser: 'carol', collabBefore: 'bob', collabAfter: 'bob', revoked: 'dave' }[c as string] ?? 'alice';
  return { user_id: name, user_token: who[c].token ?? who.creator.token! };
};

interface WireRow {
  listener: string;
  message: string;
  build: (c: Caller) => Promise<Record<string, unknown>>;
  expect: Record<Caller, Expected | string>;
}

// Wire outcomes: 'ok' for a reply of the asked-for kind, else the MesaTEE error kind.
const REFUSED = 'PermissionDenied';
const WIRE_UNAUTHENTICATED = { anonymous: REFUSED, otherCa: REFUSED, revoked: REFUSED, wrongToken: REFUSED, member: REFUSED } as const;
const USER_LISTENER = (e: Expected | string) => ({ ...Object.fromEntries(CALLERS.map((c) => [c, e])), ...WIRE_UNAUTHENTICATED }) as Record<Caller, Expected | string>;
const SERVICE_LISTENER = { ...(Object.fromEntries(CALLERS.map((c) => [c, REFUSED])) as Record<Caller, string>), service: 'ok' };

const WIRE_ROWS: WireRow[] = [
  { listener: 'tms_external', message: 'List', build: async (c) => ({ type: 'List', ...credsOf(c) }), expect: USER_LISTENER('ok') },
  { listener: 'tms_external', message: 'Create', build: async (c) => ({ type: 'Create', function_name: 'echo', collaborator_list: [], files: [], ...credsOf(c) }), expect: USER_LISTENER('ok') },
  { listener: 'tms_external', message: 'Get', build: async (c) => ({ type: 'Get', task_id: taskFor(c).id, ...credsOf(c) }), expect: { ...USER_LISTENER('ok'), anotherUser: REFUSED } },
  {
    listener: 'tms_external',
    message: 'Update (approve)',
    build: async (c) => ({ type: 'Update', task_id: (await psiTask(c === 'collabAfter')).id, files: [fixtures.bobFile], ...credsOf(c) }),
    expect: { ...USER_LISTENER(REFUSED), collabBefore: 'ok' },
  },
  {
    listener: 'fns',
    message: 'Invoke',
    build: async (c) => {
      const t = await psiTask(c !== 'collabBefore');
      return { task_id: t.id, function_name: 'psi', task_token: t.token, payload: null };
    },
    // The task token is the credential here (FNS messages carry no user token); only participants invoke.
    expect: { ...USER_LISTENER('ok'), collabBefore: REFUSED, anotherUser: REFUSED, wrongToken: 'ok', service: REFUSED },
  },
  { listener: 'tdfs_external', message: 'List', build: async (c) => ({ type: 'List', ...credsOf(c) }), expect: USER_LISTENER('ok') },
  { listener: 'tdfs_external', message: 'Get', build: async (c) => ({ type: 'Get', file_id: fixtures.aliceFile, ...credsOf(c) }), expect: { ...USER_LISTENER(REFUSED), creator: 'ok', service: 'ok' } },
  { listener: 'tdfs_external', message: 'Create', build: async (c) => ({ type: 'Create', file_name: 'w', sha256: 'a'.repeat(64), file_size: 1, ...credsOf(c) }), expect: USER_LISTENER('ok') },
  {
    listener: 'tdfs_external',
    message: 'Delete',
    build: async (c) => ({ type: 'Delete', file_id: await upload('alice', Buffer.from('d')), ...credsOf(c) }),
    expect: { ...USER_LISTENER(REFUSED), creator: 'ok', service: 'ok' },
  },
  { listener: 'tms_internal', message: 'Get', build: async () => ({ type: 'Get', task_id: fixtures.approved.id }), expect: SERVICE_LISTENER },
  { listener: 'tms_internal', message: 'Update', build: async () => ({ type: 'Update', task_id: fixtures.pending.id, task_result_file_id: null, output_files: [], status: null }), expect: SERVICE_LISTENER },
  { listener: 'kms', message: 'Get', build: async () => ({ type: 'Get', key_id: await serviceKey() }), expect: SERVICE_LISTENER },
  { listener: 'kms', message: 'Delete', build: async () => ({ type: 'Delete', key_id: await serviceKey() }), expect: SERVICE_LISTENER },
  { listener: 'tdfs_internal', message: 'Create', build: async () => ({ type: 'Create', sha256: 'a'.repeat(64), file_size: 1, user_id: 'alice', task_id: fixtures.approved.id, collaborator_list: [], allow_policy: 0 }), expect: SERVICE_LISTENER },
  { listener: 'kms', message: 'Create', build: async () => ({ type: 'Create' }), expect: SERVICE_LISTENER },
  { listener: 'tdfs_internal', message: 'Get', build: async () => ({ type: 'Get', file_id: fixtures.aliceFile }), expect: SERVICE_LISTENER },
];

/** A fresh key made through KMS by the node's service identity. */
async function serviceKey(): Promise<string> {
  const kms = await WireClient.connect(node.ports.kms, { cert: node.service.cert, key: node.service.key, ca: node.ca });
  const created = await kms.request({ type: 'Create' });
  kms.close();
  return created.key_id;
}

test('every wire message type is in the table', () => {
  const types = (file: string, service: string) => {
    const src = readFileSync(join(REPO, 'src', 'wire', file), 'utf8');
    const start = src.indexOf(`tagged('${service}'`);
    const body = src.slice(start, src.indexOf('\n  });', start));
    return [...body.matchAll(/^    ([A-Z][A-Za-z]+): \{$/gm)].map((m) => m[1]);
  };
  const found = [
    ...types('tms.ts', 'TMS').map((t) => `tms_external ${t}`),
    ...types('tms.ts', 'TMS internal').map((t) => `tms_internal ${t}`),
    ...types('kms.ts', 'KMS').map((t) => `kms ${t}`),
    ...types('tdfs.ts', 'TDFS').map((t) => `tdfs_external ${t}`),
    ...types('tdfs.ts', 'TDFS internal').map((t) => `tdfs_internal ${t}`),
    'fns Invoke',
  ].sort();
  assert.ok(found.length >= 15, found.join(', '));
  assert.deepEqual([...new Set(WIRE_ROWS.map((r) => `${r.listener} ${r.message.split(' ')[0]}`))].sort(), found);
});

describe('wire messages × callers', () => {
  for (const row of WIRE_ROWS) {
    test(`${row.listener} ${row.message}`, async () => {
      const got: Record<string, Expected | string> = {};
      for (const c of CALLERS) {
        const message = await row.build(c);
        const id = who[c];
        let reply: any;
        try {
          const client = await WireClient.connect(node.ports[row.listener], { cert: id.cert as string, key: id.key as string, ca: node.ca });
          reply = await client.request(message);
          client.close();
        } catch (err) {
          reply = { type: 'Error', kind: `connection failed: ${(err as Error).message}` };
        }
        got[c] = reply?.type === 'Error' ? reply.kind : reply === null ? 'closed' : 'ok';
      }
      assert.deepEqual(got, row.expect);
    });
  }
});

const ACTIONS = [...readFileSync(join(REPO, 'src', 'governance', 'actions.ts'), 'utf8').matchAll(/^  ([a-z_]+): \{$/gm)].map((m) => m[1]);

describe('governance actions × callers', () => {
  test('only a member’s signature proposes any action; every other caller is refused before the action is looked at', async () => {
    assert.ok(ACTIONS.length >= 10, `actions found: ${ACTIONS.join(', ')}`);
    const got: Record<string, Record<string, Expected>> = {};
    const want: Record<string, Record<string, Expected>> = {};
    for (const action of ACTIONS) {
      got[action] = {};
      want[action] = {};
      for (const c of CALLERS) {
        const res = await https(url('/gov/members/proposals:create?api-version=2024-07-01'), who[c], { method: 'POST', body: signedBy(c, { actions: [{ name: action, args: {} }] }), headers: { 'content-type': 'application/cose' } });
        // A member's proposal is judged on its arguments (here empty): accepted or refused as malformed, never as unauthorized.
        got[action][c] = c === 'member' ? (res.status === 401 || res.status === 403 ? res.status : 'processed') : outcome(res.status);
        // A caller with no key sends bytes that are no COSE envelope: its authentication fails, 401.
        want[action][c] = c === 'member' ? 'processed' : 401;
      }
    }
    assert.deepEqual(got, want);
  });

  test('only the member whose signature it is may vote on or withdraw a proposal', async () => {
    const memberId = certIdOfPem(who.member.cert!);
    const open = async () => {
      const res = await https(url('/gov/members/proposals:create?api-version=2024-07-01'), who.member, { method: 'POST', body: signedBy('member', { actions: [{ name: 'remove_jwt_issuer', args: { issuer: 'nobody' } }] }), headers: { 'content-type': 'application/cose' } });
      assert.equal(res.status, 200, res.body.toString());
      return res.json().proposalId as string;
    };
    const got: Record<string, Record<string, Expected>> = { ballot: {}, withdrawal: {} };
    for (const c of CALLERS) {
      const signer = who[c].cert ? certIdOfPem(who[c].cert!) : memberId;
      let p = await open();
      const ballot = await https(url(`/gov/members/proposals/${p}/ballots/${signer}:submit?api-version=2024-07-01`), who[c], { method: 'POST', body: signedBy(c, { ballot: 'export function vote() { return false; }' }, 'ballot', p), headers: { 'content-type': 'application/cose' } });
      got.ballot[c] = outcome(ballot.status);
      p = await open();
      const withdrawal = await https(url(`/gov/members/proposals/${p}:withdraw?api-version=2024-07-01`), who[c], { method: 'POST', body: signedBy(c, '', 'withdrawal', p), headers: { 'content-type': 'application/cose' } });
      got.withdrawal[c] = outcome(withdrawal.status);
    }
    const want = { ...ANY_IDENTITY(401), member: 'ok' as Expected };
    assert.deepEqual(got, { ballot: want, withdrawal: want });
    process.stdout.write(`# authorization pairs checked: ${ROWS.length * CALLERS.length} REST, ${WIRE_ROWS.length * CALLERS.length} wire, ${(ACTIONS.length + 2) * CALLERS.length} governance\n`);
  });
});
