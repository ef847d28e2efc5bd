// CCF's /gov reads and COSE-only governance writes, as CCF's tests call them (microsoft/CCF tests/*.py,
// named at each test; handlers in src/node/gov/handlers/*.h): no client certificate, CCF's api-version
// handling, CCF's shapes and errors.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { certIdOfPem } from '../../src/crypto/certificates.js';
import { DEFAULT_CONSTITUTION } from '../../src/governance/default-constitution.js';
import { type TestNode, startNode } from '../helpers/cli.js';
import { https } from '../helpers/https-client.js';
import { API, member } from '../helpers/gov.js';

let node: TestNode;
before(async () => {
  node = await startNode({ users: ['alice'], members: ['m0', 'm1', 'm2'], config: (c) => (c.ledger = { signature_interval_ms: 50 }) });
});
after(() => node.cleanup());

const anon = (path: string, init: { method?: string; body?: Buffer; headers?: Record<string, string> } = {}) => https(`https://127.0.0.1:${node.ports.https}${path}`, { ca: node.ca }, init);

test('api-version: missing, unknown, and too old for the JavaScript app reads (src/node/gov/api_version.h)', async () => {
  const missing = await anon('/gov/service/info');
  assert.deepEqual([missing.status, missing.json().error], [400, { code: 'MissingApiVersionParameter', message: 'The api-version query parameter (?api-version=) is required for all requests. The supported api-versions are: 2023-06-01-preview, 2024-07-01' }]);
  const unknown = await anon('/gov/service/info?api-version=2020-01-01');
  assert.deepEqual([unknown.status, unknown.json().error], [400, { code: 'UnsupportedApiVersionValue', message: "Unsupported api-version '2020-01-01'. The supported api-versions are: 2023-06-01-preview, 2024-07-01" }]);
  assert.equal((await anon('/gov/service/info?api-version=2023-06-01-preview')).status, 200);
  const old = await anon('/gov/service/javascript-app?api-version=2023-06-01-preview');
  assert.deepEqual([old.status, old.json().error.message], [400, "Unsupported api-version '2023-06-01-preview'. The supported api-versions are: 2024-07-01"]);
  // The common endpoints take none (tests/e2e_logging.py reads /gov/commit-style paths without one).
  assert.equal((await anon('/gov/commit')).status, 200);
});

test('service info, constitution, members, users, nodes, jwk and join policy without a client certificate (tests/governance.py, tests/governance_history.py)', async () => {
  const info = (await anon(`/gov/service/info?${API}`)).json();
  assert.equal(info.status, 'Open');
  assert.equal(info.certificate, node.ca);
  assert.equal(info.creationTransactionId, '2.1');
  assert.equal(info.configuration.recentCoseProposalsWindowSize, 100);

  const constitution = await anon(`/gov/service/constitution?${API}`);
  assert.equal(constitution.status, 200);
  assert.match(String(constitution.headers['content-type']), /^text\/javascript/);
  assert.equal(constitution.body.toString(), DEFAULT_CONSTITUTION);

  const m0 = member(node, 'm0');
  const members = (await anon(`/gov/service/members?${API}`)).json().value;
  assert.equal(members.length, 3);
  const one = members.find((m: any) => m.memberId === m0.id);
  assert.deepEqual(Object.keys(one).sort(), ['certificate', 'memberData', 'memberId', 'recoveryRole', 'status']);
  assert.equal(one.status, 'Active');
  assert.deepEqual((await anon(`/gov/service/members/${m0.id}?${API}`)).json(), one);
  const nobody = await anon(`/gov/service/members/${'a'.repeat(64)}?${API}`);
  assert.deepEqual([nobody.status, nobody.json().error], [404, { code: 'ResourceNotFound', message: `Member ${'a'.repeat(64)} does not exist.` }]);
  const malformed = await anon(`/gov/service/members/xyz?${API}`);
  assert.deepEqual([malformed.status, malformed.json().error], [400, { code: 'InvalidResourceName', message: "'xyz' is not a valid hex-encoded member ID" }]);

  const aliceId = certIdOfPem(node.identity('alice').cert);
  const users = (await anon(`/gov/service/users?${API}`)).json().value;
  assert.deepEqual(users.map((u: any) => u.userId), [aliceId]);
  assert.equal((await anon(`/gov/service/users/${aliceId}?${API}`)).json().certificate, node.identity('alice').cert);
  assert.equal((await anon(`/gov/service/users/${'b'.repeat(64)}?${API}`)).json().error.message, `User ${'b'.repeat(64)} does not exist.`);

  const nodes = (await anon(`/gov/service/nodes?${API}`)).json().value;
  assert.equal(nodes.length, 1);
  assert.equal(nodes[0].status, 'Trusted');
  assert.equal(nodes[0].quoteInfo.format, 'Insecure_Virtual');
  assert.equal((await anon(`/gov/service/nodes/${nodes[0].nodeId}?${API}`)).json().nodeId, nodes[0].nodeId);

  assert.deepEqual((await anon(`/gov/service/jwk?${API}`)).json(), { issuers: {}, keys: {}, caCertBundles: {} });
  const policy = (await anon(`/gov/service/join-policy?${API}`)).json();
  assert.deepEqual(Object.keys(policy).sort(), ['sgx', 'snp', 'virtual']);
});

test('transactions: commit and one transaction status (src/node/gov/handlers/transactions.h)', async () => {
  const commit = (await anon(`/gov/service/transactions/commit?${API}`)).json();
  assert.equal(commit.status, 'Committed');
  assert.match(commit.transactionId, /^2\.\d+$/);
  assert.deepEqual((await anon(`/gov/service/transactions/1.1?${API}`)).json(), { status: 'Invalid', transactionId: '1.1' });
  const bad = await anon(`/gov/service/transactions/2.0?${API}`);
  assert.deepEqual([bad.status, bad.json().error], [400, { code: 'InvalidQueryParameterValue', message: "The value '2.0' passed as parameter 'transactionId' could not be converted to a valid Transaction ID." }]);
});

test('COSE-signed proposals and ballots are accepted without a TLS client certificate (tests/governance.py, member_frontend COSE auth)', async () => {
  const m0 = member(node, 'm0');
  const m1 = member(node, 'm1');
  const post = (path: string, body: Buffer) => anon(`${path}${path.includes('?') ? '&' : '?'}${API}`, { method: 'POST', body, headers: { 'content-type': 'application/cose' } });
  const proposed = await post('/gov/members/proposals:create', m0.sign('proposal', { actions: [{ name: 'set_user_data', args: { user_id: certIdOfPem(node.identity('alice').cert), user_data: { role: 'x' } } }] }));
  assert.equal(proposed.status, 200, proposed.body.toString());
  const id = proposed.json().proposalId;
  const accept = 'export function vote() { return true; }';
  assert.equal((await post(`/gov/members/proposals/${id}/ballots/${m0.id}:submit`, m0.sign('ballot', { ballot: accept }, { proposalId: id }))).status, 200);
  const passed = await post(`/gov/members/proposals/${id}/ballots/${m1.id}:submit`, m1.sign('ballot', { ballot: accept }, { proposalId: id }));
  assert.equal(passed.json().proposalState, 'Accepted');
  const alice = (await anon(`/gov/service/users/${certIdOfPem(node.identity('alice').cert)}?${API}`)).json();
  assert.deepEqual(alice.userData, { user_data: { role: 'x' } });
  // A signed message of another type is an authentication failure: 401 with CCF's wording (cose_auth.cpp).
  const wrong = await post('/gov/members/proposals:create', m0.sign('ballot', { actions: [] }));
  assert.deepEqual([wrong.status, wrong.json().error], [401, { code: 'InvalidAuthenticationInfo', message: 'Found ccf.gov.msg.type set to ballot, expected ccf.gov.msg.type to be proposal' }]);
});

test('state digests: a member updates, reads and acknowledges its digest (src/node/gov/handlers/acks.h, tests/memberclient.py)', async () => {
  const m2 = member(node, 'm2');
  const none = await anon(`/gov/members/state-digests/${m2.id}?${API}`);
  assert.deepEqual([none.status, none.json().error], [404, { code: 'ResourceNotFound', message: `No ACK record exists for member ${m2.id}.` }]);
  let updated;
  for (let i = 0; i < 100 && !updated; i++) {
    const r = await anon(`/gov/members/state-digests/${m2.id}:update?${API}`, { method: 'POST', body: m2.sign('state_digest', ''), headers: { 'content-type': 'application/cose' } });
    if (r.status === 200) updated = r.json();
    else await new Promise((res) => setTimeout(res, 50));
  }
  assert.ok(updated);
  assert.match(updated.stateDigest, /^[0-9a-f]{64}$/);
  assert.deepEqual((await anon(`/gov/members/state-digests/${m2.id}?${API}`)).json(), { memberId: m2.id, stateDigest: updated.stateDigest });
  const m0 = member(node, 'm0');
  const other = await anon(`/gov/members/state-digests/${m2.id}:update?${API}`, { method: 'POST', body: m0.sign('state_digest', ''), headers: { 'content-type': 'application/cose' } });
  assert.deepEqual([other.status, other.json().error.code], [400, 'InvalidAuthenticationInfo']);
});

test('javascript-app keys verbs upper case, and refuses an unknown case value (service_state.h)', async () => {
  const bad = await anon(`/gov/service/javascript-app?${API}&case=lower`);
  assert.deepEqual([bad.status, bad.json().error], [400, { code: 'InvalidQueryParameterValue', message: "Accepted values for the 'case' query parameter are: original" }]);
  assert.deepEqual((await anon(`/gov/service/javascript-app?${API}`)).json(), { endpoints: {} });
  const missing = await anon(`/gov/service/javascript-modules/none.js?${API}`);
  assert.deepEqual([missing.status, missing.json().error.message], [404, 'Module none.js does not exist.']);
});
