import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateKeyPairSync } from 'node:crypto';
import { verifyReceipt, type Receipt } from '../src/sdk/index.js';
import { signCoseSign1 } from '../src/crypto/cose.js';
import { ACCEPT_BALLOT, REJECT_BALLOT } from '../src/sdk/member.js';
import { REPO, type TestNode, startNode } from './helpers/cli.js';
import { member } from './helpers/gov.js';
import { https } from './helpers/https-client.js';
import { identitiesDirOf } from '../src/node/datadir.js';

let node: TestNode;
let m0: ReturnType<typeof member>, m1: ReturnType<typeof member>, m2: ReturnType<typeof member>;
before(async () => {
  node = await startNode({ users: ['alice'], members: ['m0', 'm1', 'm2'], config: (c) => (c.ledger = { signature_interval_ms: 50 }) });
  [m0, m1, m2] = ['m0', 'm1', 'm2'].map((n) => member(node, n));
});
after(() => node.cleanup());

const mathProposal = () => JSON.parse(readFileSync(join(REPO, 'test', 'fixtures', 'math-proposal.json'), 'utf8'));

describe('deploying the seed math app', () => {
  test('three members vote; after the second yes it is Accepted, the bundle is stored, and a receipt for that transaction verifies offline', async () => {
    const created = await m0.propose(mathProposal());
    assert.equal(created.status, 200, created.body.toString());
    const p = created.json();
    assert.match(p.proposalId, /^[0-9a-f]{64}$/);
    assert.deepEqual({ ...p, proposalId: undefined }, { proposalId: undefined, proposerId: m0.id, proposalState: 'Open', ballotCount: 0 });

    const first = (await m0.vote(p.proposalId, ACCEPT_BALLOT)).json();
    assert.equal(first.proposalState, 'Open');
    const against = (await m1.vote(p.proposalId, REJECT_BALLOT)).json();
    assert.equal(against.proposalState, 'Open', 'one yes of three members is not a majority');
    const second = await m2.vote(p.proposalId, ACCEPT_BALLOT);
    assert.equal(second.status, 200);
    const accepted = second.json();
    assert.equal(accepted.proposalState, 'Accepted');
    assert.deepEqual(accepted.finalVotes, { [m0.id]: true, [m1.id]: false, [m2.id]: true });
    const txId = second.headers['x-ms-ccf-transaction-id'] as string;
    assert.match(txId, /^2\.\d+$/);

    const modules = (await m0.get('/gov/service/javascript-modules')).json();
    assert.deepEqual(modules, { value: [{ moduleName: '/math.js' }] });
    const source = await m0.get(`/gov/service/javascript-modules/${encodeURIComponent('/math.js')}`);
    assert.equal(source.body.toString(), mathProposal().actions[0].args.bundle.modules[0].module);
    const app = (await m0.get('/gov/service/javascript-app?case=original')).json();
    assert.equal(app.endpoints['/compute'].POST.js_module, '/math.js');
    assert.equal(app.endpoints['/compute2/{op}/{left}/{right}'].GET.js_function, 'compute2');
    // CCF keys verbs by their llhttp names, upper case, in both modes (service_state.h: RESTVerb::c_str).
    assert.equal((await m0.get('/gov/service/javascript-app')).json().endpoints['/compute'].POST.jsFunction, 'compute');

    let receipt: Receipt | undefined;
    for (let i = 0; i < 100 && !receipt; i++) {
      const r = await m0.get(`/app/receipt?transaction_id=${txId}`);
      if (r.status === 200) receipt = r.json();
      else await new Promise((res) => setTimeout(res, 50));
    }
    assert.ok(receipt, 'a receipt arrived');
    verifyReceipt(receipt!, node.ca);

    const late = await m1.vote(p.proposalId, ACCEPT_BALLOT);
    assert.equal(late.status, 400);
    assert.equal(late.json().error.code, 'ProposalNotOpen');
  });
});

describe('bad input changes nothing', () => {
  test('unknown actions and bad arguments fail validation', async () => {
    const unknown = await m0.propose({ actions: [{ name: 'make_me_admin', args: {} }] });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.json().error.code, 'ProposalFailedToValidate');
    assert.match(unknown.json().error.message, /make_me_admin: no such action/);
    const bundle = mathProposal();
    bundle.actions[0].args.bundle.modules[0].name = 'other.js';
    const missing = await m0.propose(bundle);
    assert.equal(missing.status, 400);
    assert.match(missing.json().error.message, /set_js_app: module 'math.js' not found in bundle/);
    const noCert = await m0.propose({ actions: [{ name: 'set_user', args: { cert: 'not a cert' } }] });
    assert.match(noCert.json().error.message, /set_user: cert is not a valid X.509 certificate/);
    assert.match((await m0.propose('not json')).json().error.message, /the proposal is not JSON/);
  });

  test('a ballot that throws or loops is refused, and the node keeps serving', async () => {
    const p = (await m0.propose({ actions: [{ name: 'remove_jwt_issuer', args: { issuer: 'nobody' } }] })).json();
    const throws = await m0.vote(p.proposalId, 'export function vote() { throw new Error("no way"); }');
    assert.equal(throws.status, 400);
    assert.match(throws.json().error.message, /the ballot failed: the code threw no way/);
    const loops = await m0.vote(p.proposalId, 'export function vote() { for (;;) {} }');
    assert.equal(loops.status, 400);
    assert.match(loops.json().error.message, /the ballot failed: the code ran past its time limit of 1000 ms/);
    assert.equal((await m0.get(`/gov/members/proposals/${p.proposalId}`)).json().ballotCount, 0);
    assert.equal((await https(`https://127.0.0.1:${node.ports.https}/v1/health`, { ca: node.ca })).status, 200);
  });

  test('non-members, wrong signatures, wrong kids, replays and stale or impossible created_at are refused', async () => {
    const p = (await m0.propose({ actions: [{ name: 'remove_jwt_issuer', args: { issuer: 'nobody2' } }] })).json();
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const forged = signCoseSign1({ key: stranger, kid: m1.id, type: 'ballot', proposalId: p.proposalId, payload: Buffer.from(JSON.stringify({ ballot: ACCEPT_BALLOT })) });
    const wrongSig = await m1.post(`/gov/members/proposals/${p.proposalId}/ballots/${m1.id}:submit`, forged);
    assert.equal(wrongSig.status, 401);
    assert.match(wrongSig.json().error.message, /COSE signature does not verify with the certificate of member m1/);
    const alice = node.identity('alice');
    const { certIdOfPem } = await import('../src/crypto/certificates.js');
    const asUser = await m1.vote(p.proposalId, ACCEPT_BALLOT, { kid: certIdOfPem(alice.cert) });
    assert.equal(asUser.status, 401);
    assert.match(asUser.json().error.message, /is not a member of this service/);
    const noKid = await m1.vote(p.proposalId, ACCEPT_BALLOT, { kid: 'ab'.repeat(32) });
    assert.equal(noKid.json().error.code, 'InvalidAuthenticationInfo');

    const envelope = m1.sign('ballot', { ballot: ACCEPT_BALLOT }, { proposalId: p.proposalId });
    assert.equal((await m1.post(`/gov/members/proposals/${p.proposalId}/ballots/${m1.id}:submit`, envelope)).status, 200);
    const replay = await m1.post(`/gov/members/proposals/${p.proposalId}/ballots/${m1.id}:submit`, envelope);
    assert.equal(replay.status, 400);
    assert.equal(replay.json().error.code, 'ProposalReplay');
    const stale = await m2.vote(p.proposalId, ACCEPT_BALLOT, { createdAt: 1_000_000_000 });
    assert.equal(stale.json().error.code, 'ProposalCreatedTooLongAgo');
    const impossible = await m2.vote(p.proposalId, ACCEPT_BALLOT, { createdAt: 99_999_999_999 });
    assert.equal(impossible.json().error.code, 'InvalidCreatedAt');
    assert.equal((await m0.get(`/gov/members/proposals/${p.proposalId}`)).json().ballotCount, 1, 'only the valid ballot counted');
  });

  test('a second, different vote is refused; the same ballot again is idempotent', async () => {
    const p = (await m0.propose({ actions: [{ name: 'remove_jwt_issuer', args: { issuer: 'nobody3' } }] })).json();
    assert.equal((await m2.vote(p.proposalId, REJECT_BALLOT)).status, 200);
    assert.equal((await m2.vote(p.proposalId, REJECT_BALLOT)).status, 200);
    const changed = await m2.vote(p.proposalId, ACCEPT_BALLOT);
    assert.equal(changed.status, 400);
    assert.equal(changed.json().error.code, 'VoteAlreadyExists');
  });

  test('a constitution that does not export all three functions is refused', async () => {
    const r = await m0.propose({ actions: [{ name: 'set_constitution', args: { constitution: 'export function validate() { return { valid: true }; } export function apply() {}' } }] });
    assert.equal(r.status, 400);
    // CCF's validateConstitution checks apply, resolve, validate in that order, with these messages.
    assert.equal(r.json().error.code, 'ProposalFailedToValidate');
    assert.match(r.json().error.message, /proposed constitution exports function apply with 0 args, expected 2 args \(proposal, proposerId\)/);
    const noResolve = await m0.propose({ actions: [{ name: 'set_constitution', args: { constitution: 'export function validate(i) { return { valid: true }; } export function apply(p, id) {}' } }] });
    assert.match(noResolve.json().error.message, /proposed constitution does not export a function named resolve: Failed to find export 'resolve' in module 'proposed constitution'/);
  });

  test('every /gov call needs api-version', async () => {
    const r = await https(`https://127.0.0.1:${node.ports.https}/gov/members/proposals`, { cert: readFileSync(join(identitiesDirOf(node.dir), 'm0', 'cert.pem'), 'utf8'), key: readFileSync(join(identitiesDirOf(node.dir), 'm0', 'key.pem'), 'utf8'), ca: node.ca });
    assert.equal(r.status, 400);
    assert.equal(r.json().error.code, 'MissingApiVersionParameter');
  });
});

describe('proposal states', () => {
  test('withdraw is the proposer’s alone; withdrawing again, or an unknown proposal, is idempotent (CCF)', async () => {
    const p = (await m0.propose({ actions: [{ name: 'remove_jwt_issuer', args: { issuer: 'w' } }] })).json();
    const other = await m1.withdraw(p.proposalId);
    assert.equal(other.status, 403);
    assert.deepEqual(other.json().error, { code: 'AuthorizationFailed', message: `Proposal ${p.proposalId} can only be withdrawn by proposer ${m0.id}, not caller ${m1.id}.` });
    assert.equal((await m0.withdraw(p.proposalId)).json().proposalState, 'Withdrawn');
    const again = await m0.withdraw(p.proposalId);
    assert.equal(again.status, 200);
    assert.equal(again.json().proposalState, 'Withdrawn');
    assert.equal((await m0.withdraw('cd'.repeat(32))).status, 204);
    const late = await m1.vote(p.proposalId, ACCEPT_BALLOT);
    assert.deepEqual(late.json().error, { code: 'ProposalNotOpen', message: `Proposal ${p.proposalId} is currently in state Withdrawn - only Open proposals can receive votes` });
  });

  test('an accepted action that fails to apply leaves the proposal Failed and changes nothing', async () => {
    const p = (await m0.propose({ actions: [{ name: 'set_jwt_issuer', args: { issuer: 'https://ok.example' } }, { name: 'remove_jwt_issuer', args: { issuer: 'https://never-added.example' } }] })).json();
    await m0.vote(p.proposalId, ACCEPT_BALLOT);
    const r = (await m1.vote(p.proposalId, ACCEPT_BALLOT)).json();
    assert.equal(r.proposalState, 'Failed');
    assert.match(r.failure.reason, /no JWT issuer https:\/\/never-added.example/);
  });

  test('a new constitution takes effect, drops open proposals, and can accept at once', async () => {
    const open = (await m1.propose({ actions: [{ name: 'remove_jwt_issuer', args: { issuer: 'pending' } }] })).json();
    const eager = `
      export function validate(input) { return { valid: true, description: "OK" }; }
      export function resolve(proposal, proposerId, votes) { return "Accepted"; }
      export function apply(proposal, proposalId) { for (const a of JSON.parse(proposal).actions) tessera_apply_action(a.name, JSON.stringify(a.args), proposalId); }`;
    const p = (await m0.propose({ actions: [{ name: 'set_constitution', args: { constitution: eager } }] })).json();
    await m0.vote(p.proposalId, ACCEPT_BALLOT);
    assert.equal((await m2.vote(p.proposalId, ACCEPT_BALLOT)).json().proposalState, 'Accepted');
    assert.equal((await m0.get(`/gov/members/proposals/${open.proposalId}`)).json().proposalState, 'Dropped');
    const instant = (await m0.propose({ actions: [{ name: 'set_jwt_issuer', args: { issuer: 'https://instant.example' } }] })).json();
    assert.equal(instant.proposalState, 'Accepted', 'resolved at creation under the new constitution');
  });

  test('set_node_function switches a built-in off and on for tasks', async () => {
    // Passes a proposal under whichever constitution is in force.
    const pass = async (proposal: unknown) => {
      const p = (await m0.propose(proposal)).json();
      if (p.proposalState === 'Open') {
        await m0.vote(p.proposalId, ACCEPT_BALLOT);
        return (await m1.vote(p.proposalId, ACCEPT_BALLOT)).json();
      }
      return p;
    };
    const alice = { ...node.identity('alice'), ca: node.ca };
    const create = () => https(`https://127.0.0.1:${node.ports.https}/v1/tasks`, alice, { method: 'POST', json: { function_name: 'bytes_plus_one' } });
    assert.equal((await pass({ actions: [{ name: 'remove_node_function', args: { name: 'bytes_plus_one' } }] })).proposalState, 'Accepted');
    const off = await create();
    assert.equal(off.status, 404);
    assert.match(off.json().error.message, /switched off by governance/);
    assert.equal((await pass({ actions: [{ name: 'set_node_function', args: { name: 'bytes_plus_one', kind: 'builtin' } }] })).proposalState, 'Accepted');
    assert.equal((await create()).status, 201);
  });
});

describe('tessera gov', () => {
  test('propose, vote, list and show from the command line', async () => {
    const { tessera, tempDir } = await import('./helpers/cli.js');
    const { writeFileSync } = await import('node:fs');
    const dir = tempDir();
    const file = join(dir, 'proposal.json');
    writeFileSync(file, JSON.stringify({ actions: [{ name: 'set_jwt_issuer', args: { issuer: 'https://cli.example' } }] }));
    const flags = (m: string) => ['-i', join(identitiesDirOf(node.dir), m), '--url', `https://127.0.0.1:${node.ports.https}`];
    const proposed = await tessera(['gov', 'propose', file, ...flags('m0')]);
    assert.equal(proposed.code, 0, proposed.stderr);
    const id = proposed.stdout.split(/\s+/)[0];
    assert.match(id, /^[0-9a-f]{64}$/);
    const state = proposed.stdout.split(/\s+/)[1];
    if (state === 'Open') {
      assert.match((await tessera(['gov', 'vote', id, '--accept', ...flags('m1')])).stdout, /Open|Accepted/);
      const voted = await tessera(['gov', 'vote', id, '--accept', ...flags('m2')]);
      assert.match(voted.stdout, new RegExp(`${id}  Accepted  \\(2 ballots\\)  tx 1\\.\\d+`));
    }
    assert.match((await tessera(['gov', 'list', ...flags('m0')])).stdout, new RegExp(`${id}  Accepted`));
    const shown = JSON.parse((await tessera(['gov', 'show', id, '--json', ...flags('m0')])).stdout);
    assert.deepEqual(shown.actions, ['set_jwt_issuer']);
    const both = await tessera(['gov', 'vote', id, '--accept', '--reject', ...flags('m0')]);
    assert.match(both.stderr, /choose exactly one of --accept, --reject or --ballot FILE/);
    const closed = await tessera(['gov', 'vote', id, '--reject', ...flags('m0')]);
    assert.equal(closed.code, 1);
    assert.match(closed.stderr, /ProposalNotOpen/);
  });
});

describe('one member cannot freeze governance', () => {
  test('envelopes dated beyond the node’s clock are refused and never reach the median; another member’s proposal to remove that member still passes', async () => {
    // Year 2286: inside created_at's range, far beyond the node's clock. Before the fix each of these was
    // recorded, and once they were the median every honest proposal was ProposalCreatedTooLongAgo.
    const year2286 = Math.floor(Date.UTC(2286, 0, 1) / 1000);
    const attempts = [];
    for (let i = 0; i < 101; i++) attempts.push(await m2.propose({ actions: [{ name: 'remove_jwt_issuer', args: { issuer: `future-${i}` } }] }, { createdAt: year2286 + i }));
    const created = await m0.propose({ actions: [{ name: 'remove_member', args: { member_id: m2.id } }] });
    assert.equal(created.status, 200, `another member's proposal is refused: ${created.body.toString()}`);
    let state = created.json().proposalState;
    if (state === 'Open') {
      await m0.vote(created.json().proposalId, ACCEPT_BALLOT);
      state = (await m1.vote(created.json().proposalId, ACCEPT_BALLOT)).json().proposalState;
    }
    assert.equal(state, 'Accepted');
    const futureBallot = await m1.vote('ab'.repeat(32), ACCEPT_BALLOT, { createdAt: year2286 });
    assert.equal(futureBallot.json().error.code, 'InvalidCreatedAt', 'ballots are checked the same way');
    // A clock a little ahead (within the skew) is fine, as is one exactly on time.
    const ahead = await m1.propose({ actions: [{ name: 'set_jwt_issuer', args: { issuer: 'skew' } }] }, { createdAt: Math.floor(Date.now() / 1000) + 60 });
    assert.equal(ahead.status, 200, ahead.body.toString());
    attempts.forEach((r, i) => {
      assert.equal(r.status, 400, `far-future proposal ${i} was not refused: ${r.body.toString()}`);
      assert.equal(r.json().error.code, 'InvalidCreatedAt');
      assert.match(r.json().error.message, new RegExp(`created_at ${year2286 + i} is \\d+ s ahead of this node's clock \\(\\d+\\); at most 300 s is allowed`));
    });
    const gone = await m2.propose({ actions: [{ name: 'remove_jwt_issuer', args: { issuer: 'x' } }] });
    assert.equal(gone.status, 401, 'the removed member can no longer propose');
  });
});
