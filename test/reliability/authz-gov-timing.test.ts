// The authorization matrix for governance timing (issue 16 #9): signed requests whose created_at is beyond
// the allowed clock skew (governance.max_clock_skew_s, 300 s by default) or older than the recent ones,
// replays of one signed request, and ballots or withdrawals on closed proposals, each by every kind of
// caller, each refused with CCF's error code. A member's request gets as far as the timing check; every
// other caller is refused as unauthenticated before it. After every row the bystander, member m1, is
// checked: its open proposal keeps its state and its one ballot, the closed ones stay closed, and it can
// still propose with the current time (no one froze governance).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { certIdOfPem } from '../../src/crypto/certificates.js';
import { REJECT_BALLOT } from '../../src/sdk/member.js';
import { type Expected, type Identity, baseCallers, errorCodeOf, signedBy } from '../helpers/authz.js';
import { type TestNode, startNode } from '../helpers/cli.js';
import { API, member, passProposal } from '../helpers/gov.js';
import { https } from '../helpers/https-client.js';

const CALLERS = ['anonymous', 'otherCa', 'revoked', 'user', 'member', 'service'] as const;
type Caller = (typeof CALLERS)[number];

let node: TestNode;
let who: Record<Caller, Identity>;
/** m1's proposals: one open (with m1's one ballot), one accepted, one withdrawn. */
const proposals = { open: '', accepted: '', withdrawn: '' };
const now = () => Math.floor(Date.now() / 1000);
const SKEW_S = 300;

before(async () => {
  node = await startNode({ users: ['alice', 'dave'], members: ['m0', 'm1', 'm2'], config: (c) => (c.log.level = 'warn') });
  const base = await baseCallers(node, { owner: 'alice', otherUser: 'alice', revoked: 'dave', member: 'm0' });
  who = { anonymous: base.anonymous, otherCa: base.otherCa, revoked: base.revoked, user: base.owner, member: base.member, service: base.service };
  const m1 = member(node, 'm1');
  proposals.open = (await m1.propose({ actions: [{ name: 'remove_jwt_issuer', args: { issuer: 'bystander' } }] })).json().proposalId;
  assert.equal((await m1.vote(proposals.open, REJECT_BALLOT)).status, 200);
  proposals.withdrawn = (await m1.propose({ actions: [{ name: 'remove_jwt_issuer', args: { issuer: 'withdrawn' } }] })).json().proposalId;
  assert.equal((await m1.withdraw(proposals.withdrawn)).status, 200);
  await passProposal(node, [{ name: 'set_jwt_issuer', args: { issuer: 'https://closed.example' } }]);
  proposals.accepted = (await m1.get('/gov/members/proposals')).json().value.find((p: any) => p.proposalState === 'Accepted').proposalId;
});
after(() => node?.cleanup());

async function bystanderUnaffected(after: string) {
  const m1 = member(node, 'm1');
  const state = async (id: string) => (await m1.get(`/gov/members/proposals/${id}`)).json();
  const open = await state(proposals.open);
  assert.deepEqual([open.proposalState, open.ballotCount], ['Open', 1], `m1's open proposal after ${after}`);
  assert.equal((await state(proposals.accepted)).proposalState, 'Accepted', `the accepted proposal after ${after}`);
  assert.equal((await state(proposals.withdrawn)).proposalState, 'Withdrawn', `the withdrawn proposal after ${after}`);
  const fresh = await m1.propose({ actions: [{ name: 'remove_jwt_issuer', args: { issuer: 'fresh' } }] });
  assert.equal(fresh.status, 200, `m1 proposes with the current time after ${after}: ${fresh.body.toString()}`);
  assert.equal((await m1.withdraw(fresh.json().proposalId)).status, 200);
}

const post = (c: Caller, path: string, body: Buffer) => https(`https://127.0.0.1:${node.ports.https}${path}?${API}`, who[c], { method: 'POST', body, headers: { 'content-type': 'application/cose' } });
const proposal = (issuer: string) => ({ actions: [{ name: 'remove_jwt_issuer', args: { issuer } }] });
/** The id the caller signs ballots as: its certificate's (a member's is its member id). */
const kidOf = (c: Caller) => (who[c].cert ? certIdOfPem(who[c].cert!) : 'ab'.repeat(32));
const ballot = (c: Caller, proposalId: string, createdAt?: number) => post(c, `/gov/members/proposals/${proposalId}/ballots/${kidOf(c)}:submit`, signedBy(who[c], { ballot: REJECT_BALLOT }, 'ballot', { proposalId, createdAt }));

// Every caller other than a member is refused before created_at is looked at.
const NOT_A_MEMBER = { anonymous: '401 InvalidAuthenticationInfo', otherCa: '401 InvalidAuthenticationInfo', revoked: '401 InvalidAuthenticationInfo', user: '401 InvalidAuthenticationInfo', service: '401 InvalidAuthenticationInfo' };

const ROWS: Array<{ what: string; send: (c: Caller) => Promise<{ status: number; json(): any }>; expect: Record<Caller, Expected> }> = [
  {
    what: `a proposal created_at ${SKEW_S + 60} s ahead of the node's clock`,
    send: (c) => post(c, '/gov/members/proposals:create', signedBy(who[c], proposal('ahead'), 'proposal', { createdAt: now() + SKEW_S + 60 })),
    expect: { ...NOT_A_MEMBER, member: '400 InvalidCreatedAt' },
  },
  {
    what: 'a proposal created_at in the year 2286',
    send: (c) => post(c, '/gov/members/proposals:create', signedBy(who[c], proposal('2286'), 'proposal', { createdAt: 9_999_999_000 })),
    expect: { ...NOT_A_MEMBER, member: '400 InvalidCreatedAt' },
  },
  {
    what: 'a proposal created_at in 2001, older than the recent requests',
    send: (c) => post(c, '/gov/members/proposals:create', signedBy(who[c], proposal('past'), 'proposal', { createdAt: 1_000_000_000 })),
    expect: { ...NOT_A_MEMBER, member: '400 ProposalCreatedTooLongAgo' },
  },
  {
    what: 'the same signed proposal a second time',
    send: async (c) => {
      const envelope = signedBy(who[c], proposal(`replayed-${c}`));
      const first = await post(c, '/gov/members/proposals:create', envelope);
      if (c === 'member') assert.equal(first.status, 200, first.body.toString());
      return post(c, '/gov/members/proposals:create', envelope);
    },
    expect: { ...NOT_A_MEMBER, member: '400 ProposalReplay' },
  },
  { what: "a ballot created_at in the year 2286 on m1's open proposal", send: (c) => ballot(c, proposals.open, 9_999_999_000), expect: { ...NOT_A_MEMBER, member: '400 InvalidCreatedAt' } },
  { what: "a ballot created_at in 2001 on m1's open proposal", send: (c) => ballot(c, proposals.open, 1_000_000_000), expect: { ...NOT_A_MEMBER, member: '400 ProposalCreatedTooLongAgo' } },
  { what: 'a ballot on a proposal already accepted', send: (c) => ballot(c, proposals.accepted), expect: { ...NOT_A_MEMBER, member: '400 ProposalNotOpen' } },
  { what: 'a ballot on a withdrawn proposal', send: (c) => ballot(c, proposals.withdrawn), expect: { ...NOT_A_MEMBER, member: '400 ProposalNotOpen' } },
  {
    what: 'a withdrawal of the accepted proposal (m0 proposed it)',
    send: (c) => post(c, `/gov/members/proposals/${proposals.accepted}:withdraw`, signedBy(who[c], '', 'withdrawal', { proposalId: proposals.accepted })),
    expect: { ...NOT_A_MEMBER, member: '400 ProposalNotOpen' },
  },
];

describe('governance timing × callers', () => {
  for (const row of ROWS) {
    test(row.what, async () => {
      const got = {} as Record<Caller, Expected>;
      for (const c of CALLERS) got[c] = errorCodeOf((await row.send(c)) as never);
      assert.deepEqual(got, row.expect);
      await bystanderUnaffected(row.what);
    });
  }
});
