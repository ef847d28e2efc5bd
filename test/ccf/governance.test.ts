import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { certIdOfPem, issueCertificate, type PemPair } from '../../src/crypto/certificates.js';
import { type GovMessageType, signCoseSign1 } from '../../src/crypto/cose.js';
import { ACCEPT_BALLOT } from '../../src/sdk/member.js';
import { REPO, type TestNode, nodeKeyFiles, startNode } from '../helpers/cli.js';
import { API, member, passProposal } from '../helpers/gov.js';
import { https } from '../helpers/https-client.js';

// CCF's own default constitution (samples/constitutions/default: actions.js, validate.js, resolve.js,
// apply.js, concatenated as CCF's tests/infra/consortium.py does), run unmodified, and the behaviours CCF's
// tests/governance*.py check under it: majority resolution, ballots, withdrawals, validation messages, users
// and members with their data, JS apps and runtime options, and a constitution that cannot lock governance.

const FIXTURE = join(REPO, 'test', 'fixtures', 'ccf-constitution');
const CCF_CONSTITUTION = ['actions.js', 'validate.js', 'resolve.js', 'apply.js'].map((f) => readFileSync(join(FIXTURE, f), 'utf8')).join('\n');

const APP = {
  bundle: {
    metadata: {
      endpoints: {
        '/caller': { get: { js_module: 'app.js', js_function: 'caller', mode: 'readonly', forwarding_required: 'never', authn_policies: ['user_cert', 'member_cert'], openapi: {} } },
        '/spin': { get: { js_module: 'app.js', js_function: 'spin', mode: 'readonly', forwarding_required: 'never', authn_policies: ['user_cert'], openapi: {} } },
        '/boom': { get: { js_module: 'app.js', js_function: 'boom', mode: 'readonly', forwarding_required: 'never', authn_policies: ['user_cert'], openapi: {} } },
      },
    },
    modules: [
      {
        name: 'app.js',
        module: `export function caller(request) { return { body: { policy: request.caller.policy, id: request.caller.id, data: request.caller.data } }; }
export function spin() { for (;;) {} }
export function boom() { throw new Error("boom inside the handler"); }`,
      },
    ],
  },
};

let node: TestNode;
let m0: ReturnType<typeof member>, m1: ReturnType<typeof member>, m2: ReturnType<typeof member>;
let ca: PemPair;

before(async () => {
  node = await startNode({ users: ['alice'], members: ['m0', 'm1', 'm2'], config: (c) => (c.ledger = { signature_interval_ms: 50 }) });
  [m0, m1, m2] = ['m0', 'm1', 'm2'].map((n) => member(node, n));
  ca = { certPem: node.ca, keyPem: nodeKeyFiles(node.dir).read(join(node.dir, 'ca.key.sealed'), 'ca') };
});
after(() => node.cleanup());

const url = (path: string) => `https://127.0.0.1:${node.ports.https}${path}`;
const as = (id: { cert: string; key: string }) => ({ cert: id.cert, key: id.key, ca: node.ca });
const proposals = async () => (await m0.get('/gov/members/proposals')).json().value.length;

/** A member client for a certificate issued here (the helper's reads the init identities). */
function memberFrom(pair: PemPair) {
  const id = certIdOfPem(pair.certPem);
  const sign = (type: GovMessageType, payload: unknown, proposalId?: string) =>
    signCoseSign1({ key: createPrivateKey(pair.keyPem), kid: id, type, payload: Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)), proposalId });
  const post = (path: string, body: Buffer) => https(`${url(path)}?${API}`, as({ cert: pair.certPem, key: pair.keyPem }), { method: 'POST', body, headers: { 'content-type': 'application/cose' } });
  return {
    id,
    ack: () => post(`/gov/members/state-digests/${id}:ack`, sign('ack', {})),
    propose: (p: unknown) => post('/gov/members/proposals:create', sign('proposal', p)),
    vote: (pid: string, ballot: string) => post(`/gov/members/proposals/${pid}/ballots/${id}:submit`, sign('ballot', { ballot }, pid)),
  };
}

/** Proposes, and `voters` accept until it is no longer Open; returns the last state. */
async function pass(actions: unknown[], voters = [m0, m1, m2]) {
  const created = await m0.propose({ actions });
  assert.equal(created.status, 200, created.body.toString());
  let state = created.json();
  for (const v of voters) {
    if (state.proposalState !== 'Open') break;
    state = (await v.vote(state.proposalId, ACCEPT_BALLOT)).json();
  }
  return state;
}

describe("CCF's default constitution, unmodified", () => {
  test('set_constitution installs it, and it then governs: a strict majority of active members accepts', async () => {
    await passProposal(node, [{ name: 'set_constitution', args: { constitution: CCF_CONSTITUTION } }]);
    const p = (await m0.propose({ actions: [{ name: 'set_js_app', args: APP }] })).json();
    assert.equal(p.proposalState, 'Open', JSON.stringify(p));
    assert.equal((await m0.vote(p.proposalId, ACCEPT_BALLOT)).json().proposalState, 'Open', 'one vote of three active members is no majority');
    const accepted = (await m1.vote(p.proposalId, ACCEPT_BALLOT)).json();
    assert.equal(accepted.proposalState, 'Accepted', JSON.stringify(accepted));
    assert.deepEqual(accepted.finalVotes, { [m0.id]: true, [m1.id]: true });
    const alice = node.identity('alice');
    const r = await https(url('/app/caller'), as(alice));
    assert.equal(r.status, 200, r.body.toString());
    assert.deepEqual(r.json(), { policy: 'user_cert', id: certIdOfPem(alice.cert), data: null });
  });

  test("bad arguments fail validation with CCF's messages, and nothing is written", async () => {
    const before = await proposals();
    const cases: Array<[unknown[], RegExp]> = [
      [[{ name: 'set_user', args: { cert: 'not a cert' } }], /^Proposal failed to validate: set_user at position 0 failed validation: Error: cert must be a valid X509 certificate \(bundle\) in PEM format/],
      [[{ name: 'remove_user', args: { user_id: 'abc' } }], /^Proposal failed to validate: remove_user at position 0 failed validation: Error: user_id must contain exactly 64 characters/],
      [[{ name: 'set_member_data', args: { member_id: m1.id, member_data: 'x' } }], /set_member_data at position 0 failed validation: Error: member_data must be of type object but is string/],
      [[{ name: 'set_js_runtime_options', args: { max_heap_bytes: 1, max_stack_bytes: 1 } }], /set_js_runtime_options at position 0 failed validation: Error: max_execution_time_ms must be an integer/],
      [[{ name: 'set_jwt_issuer', args: { issuer: 'x' } }, { name: 'no_such_action', args: {} }], /^Proposal failed to validate: no_such_action: no such action$/],
    ];
    for (const [actions, message] of cases) {
      const r = await m0.propose({ actions });
      assert.equal(r.status, 400, r.body.toString());
      assert.equal(r.json().error.code, 'ProposalFailedToValidate');
      assert.match(r.json().error.message, message);
    }
    assert.equal(await proposals(), before);
  });

  test('set_user adds a user with its data; set_user on the same certificate replaces the data; set_user_data and remove_user', async () => {
    const carol = await issueCertificate(ca, { name: 'carol', role: 'user' });
    const carolId = certIdOfPem(carol.certPem);
    const callAsCarol = () => https(url('/app/caller'), as({ cert: carol.certPem, key: carol.keyPem }));
    assert.equal((await callAsCarol()).status, 401, 'not a user yet');
    assert.equal((await pass([{ name: 'set_user', args: { cert: carol.certPem, user_data: { tier: 1 } } }])).proposalState, 'Accepted');
    assert.deepEqual((await callAsCarol()).json(), { policy: 'user_cert', id: carolId, data: { tier: 1 } });
    // CCF updates a user's data by proposing set_user again for the same certificate (issue 17, finding 6).
    assert.equal((await pass([{ name: 'set_user', args: { cert: carol.certPem, user_data: { tier: 2 } } }])).proposalState, 'Accepted');
    assert.deepEqual((await callAsCarol()).json().data, { tier: 2 });
    assert.equal((await pass([{ name: 'set_user_data', args: { user_id: carolId, user_data: { tier: 3 } } }])).proposalState, 'Accepted');
    assert.deepEqual((await callAsCarol()).json().data, { tier: 3 });
    assert.equal((await pass([{ name: 'set_user', args: { cert: carol.certPem } }])).proposalState, 'Accepted');
    assert.equal((await callAsCarol()).json().data, null, 'set_user without user_data clears it, as in CCF');
    assert.equal((await pass([{ name: 'remove_user', args: { user_id: carolId } }])).proposalState, 'Accepted');
    assert.equal((await callAsCarol()).status, 401);
    assert.equal((await pass([{ name: 'remove_user', args: { user_id: carolId } }])).proposalState, 'Accepted', "CCF's remove_user is idempotent");
  });

  test('set_member adds an Accepted member who acks to become Active; set_member_data; ballots read ccf.kv and cannot write it; remove_member', async () => {
    const dave = await issueCertificate(ca, { name: 'dave', role: 'member' });
    const m3 = memberFrom(dave);
    assert.equal((await pass([{ name: 'set_member', args: { cert: dave.certPem, member_data: { group: 'a' } } }])).proposalState, 'Accepted');
    assert.equal((await m3.propose({ actions: [] })).status, 403, 'Accepted, not yet Active');
    assert.equal((await m3.ack()).status, 200);
    const callAsDave = () => https(url('/app/caller'), as({ cert: dave.certPem, key: dave.keyPem }));
    assert.deepEqual((await callAsDave()).json(), { policy: 'member_cert', id: m3.id, data: { group: 'a' } });
    assert.equal((await pass([{ name: 'set_member_data', args: { member_id: m3.id, member_data: { group: 'b' } } }])).proposalState, 'Accepted');
    assert.deepEqual((await callAsDave()).json().data, { group: 'b' });
    const unknown = await pass([{ name: 'set_member_data', args: { member_id: 'ab'.repeat(32), member_data: {} } }]);
    assert.equal(unknown.proposalState, 'Failed');
    assert.match(unknown.failure.reason, /^Failed to apply\(\): Error: Member abab\S+ does not exist/);

    // Four active members now: two votes are no majority. A ballot reads the governance tables through ccf.kv.
    const p = (await m0.propose({ actions: [{ name: 'set_jwt_issuer', args: { issuer: 'https://four.example' } }] })).json();
    const reading = `export function vote(proposal, proposerId) {
      const info = ccf.bufToJsonCompatible(ccf.kv["public:ccf.gov.members.info"].get(ccf.strToBuf(proposerId)));
      return info.status === "Active" && JSON.parse(proposal).actions[0].name === "set_jwt_issuer";
    }`;
    assert.equal((await m0.vote(p.proposalId, reading)).json().proposalState, 'Open');
    assert.equal((await m1.vote(p.proposalId, reading)).json().proposalState, 'Open');
    const writing = `export function vote() { ccf.kv["public:ccf.gov.members.info"].delete(ccf.strToBuf("x")); return true; }`;
    const refused = await m2.vote(p.proposalId, writing);
    assert.equal(refused.status, 400);
    assert.match(refused.json().error.message, /Cannot call delete on table named public:ccf.gov.members.info\. This table is read-only in current \(read-only governance\) execution context/);
    assert.equal((await m3.vote(p.proposalId, reading)).json().proposalState, 'Accepted');

    assert.equal((await pass([{ name: 'remove_member', args: { member_id: m3.id } }])).proposalState, 'Accepted');
    assert.equal((await m3.propose({ actions: [] })).status, 401);
  });

  test('set_js_runtime_options: the app runtime takes its time limit and exception details from governance', async () => {
    const alice = node.identity('alice');
    const quiet = await https(url('/app/boom'), as(alice));
    assert.equal(quiet.status, 500);
    assert.equal(quiet.json().error.details, undefined, 'no details by default');
    const set = await pass([{ name: 'set_js_runtime_options', args: { max_heap_bytes: 100 * 1024 * 1024, max_stack_bytes: 1024 * 1024, max_execution_time_ms: 200, return_exception_details: true } }]);
    assert.equal(set.proposalState, 'Accepted', JSON.stringify(set));
    const loud = await https(url('/app/boom'), as(alice));
    assert.equal(loud.status, 500);
    assert.equal(loud.json().error.message, 'Exception thrown while executing.');
    assert.match(loud.json().error.details[0].message, /boom inside the handler/);
    // An endless loop under a 200 ms limit (the node's default is 5 s) is stopped with CCF's message.
    const spun = await https(url('/app/spin'), as(alice));
    assert.equal(spun.status, 500);
    assert.equal(spun.json().error.message, 'Operation took too long to complete.');
  });

  test('withdrawals and transition_service_to_open behave as in CCF', async () => {
    const p = (await m0.propose({ actions: [{ name: 'set_jwt_issuer', args: { issuer: 'https://w.example' } }] })).json();
    assert.equal((await m1.withdraw(p.proposalId)).json().error.code, 'AuthorizationFailed');
    assert.equal((await m0.withdraw(p.proposalId)).json().proposalState, 'Withdrawn');
    assert.equal((await m0.withdraw(p.proposalId)).json().proposalState, 'Withdrawn');
    assert.equal((await m1.vote(p.proposalId, ACCEPT_BALLOT)).json().error.code, 'ProposalNotOpen');
    // The service is open from init; opening it again is accepted and changes nothing, as in CCF.
    const opened = await pass([{ name: 'transition_service_to_open', args: { next_service_identity: node.ca } }]);
    assert.equal(opened.proposalState, 'Accepted', JSON.stringify(opened));
  });

  test('a COSE envelope dated beyond the allowed clock skew is InvalidCreatedAt (400) and writes nothing', async () => {
    const before = await proposals();
    const r = await m0.propose({ actions: [] }, { createdAt: Math.floor(Date.now() / 1000) + 3600 });
    assert.equal(r.status, 400);
    assert.equal(r.json().error.code, 'InvalidCreatedAt');
    assert.equal(await proposals(), before);
  });
});

describe('governance cannot lock itself', () => {
  const broken: Array<[string, string, RegExp]> = [
    ['a syntax error', 'export function validate(input) { return {valid: true} ', /proposed constitution does not export a function named apply: Failed to compile proposed constitution: SyntaxError/],
    ['code that throws while loading', 'throw new Error("no"); export function validate(i) {} export function resolve(p, q, v) {} export function apply(p, i) {}', /Failed to execute proposed constitution: Error: no/],
    ['an apply that always throws', 'export function validate(i) { return { valid: true, description: "" }; } export function resolve(p, q, v) { return "Accepted"; } export function apply(p, i) { throw new Error("apply is broken"); }', /proposed constitution failed a dry run on a proposal of no actions: apply\(\) threw Error: apply is broken/],
    ['a resolve that returns nonsense', 'export function validate(i) { return { valid: true }; } export function resolve(p, q, v) { return "Maybe"; } export function apply(p, i) {}', /resolve\(\) returned invalid status value: "Maybe"/],
    ['a validate that uses what does not exist', 'export function validate(i) { return nothing.here; } export function resolve(p, q, v) { return "Open"; } export function apply(p, i) {}', /validate\(\) threw ReferenceError: nothing is not defined/],
  ];

  for (const [what, source, message] of broken) {
    test(`under CCF's constitution, a constitution with ${what} is refused at proposal time`, async () => {
      const before = await proposals();
      const r = await m0.propose({ actions: [{ name: 'set_constitution', args: { constitution: source } }] });
      assert.equal(r.status, 400, r.body.toString());
      assert.equal(r.json().error.code, 'ProposalFailedToValidate');
      assert.match(r.json().error.message, /^Proposal failed to validate: set_constitution at position 0 failed validation: TypeError: /);
      assert.match(r.json().error.message, message);
      assert.equal(await proposals(), before, 'nothing was recorded');
    });
  }

  test('set_constitution again (CCF): accepted, open proposals are Dropped, and the new one governs', async () => {
    const open = (await m1.propose({ actions: [{ name: 'set_jwt_issuer', args: { issuer: 'https://pending.example' } }] })).json();
    assert.equal((await pass([{ name: 'set_constitution', args: { constitution: `${CCF_CONSTITUTION}\n// second edition` } }])).proposalState, 'Accepted');
    assert.equal((await m0.get(`/gov/members/proposals/${open.proposalId}`)).json().proposalState, 'Dropped');
    assert.equal((await pass([{ name: 'set_jwt_issuer', args: { issuer: 'https://after.example' } }])).proposalState, 'Accepted');
  });

  test('even a constitution that never checks what it installs cannot install one that would lock governance', async () => {
    // This constitution validates nothing and applies set_constitution by writing the table itself.
    const careless = `export function validate(input) { return { valid: true, description: "" }; }
export function resolve(proposal, proposerId, votes) { return votes.filter((v) => v.vote).length >= 2 ? "Accepted" : "Open"; }
export function apply(proposal, proposalId) {
  for (const a of JSON.parse(proposal).actions) {
    if (a.name === "set_constitution") ccf.kv["public:ccf.gov.constitution"].set(new ArrayBuffer(8), ccf.jsonCompatibleToBuf(a.args.constitution));
  }
}`;
    assert.equal((await pass([{ name: 'set_constitution', args: { constitution: careless } }])).proposalState, 'Accepted');
    const r = await m0.propose({ actions: [{ name: 'set_constitution', args: { constitution: 'export function validate(' } }] });
    assert.equal(r.status, 400);
    assert.match(r.json().error.message, /^Proposal failed to validate: proposed constitution does not export a function named apply: Failed to compile/);
    // And back to CCF's, through the careless one's own apply.
    assert.equal((await pass([{ name: 'set_constitution', args: { constitution: CCF_CONSTITUTION } }])).proposalState, 'Accepted');
    assert.equal((await pass([{ name: 'set_jwt_issuer', args: { issuer: 'https://back.example' } }])).proposalState, 'Accepted');
  });
});
