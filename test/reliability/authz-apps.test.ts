// The authorization matrix for CCF apps with interpreter_reuse (issue 16 #4): endpoints under each
// authentication policy share one kept interpreter. In every cell alice's slow request (user_cert) is
// running in that interpreter when the caller's arrives; the caller's handler writes and answers 400,
// which discards its own transaction. Each cell records what the caller got: 401 where the policy refuses
// it, else whether the handler saw the caller's own identity (never alice's). After every cell alice is
// checked: answered 200 as herself, her write committed in the transaction she was answered with, and the
// caller's discarded write absent (it did not go through alice's transaction, nor alice's through its).
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { certIdOfPem } from '../../src/crypto/certificates.js';
import { type Expected, type Identity, baseCallers } from '../helpers/authz.js';
import { type TestNode, startNode } from '../helpers/cli.js';
import { passProposal } from '../helpers/gov.js';
import { https } from '../helpers/https-client.js';

const CALLERS = ['anonymous', 'otherCa', 'revoked', 'user', 'member', 'jwt'] as const;
type Caller = (typeof CALLERS)[number];
const POLICIES = ['no_auth', 'any_cert', 'user_cert', 'member_cert', 'jwt'] as const;
type Policy = (typeof POLICIES)[number];

let node: TestNode;
let who: Record<Caller | 'alice', Identity>;
const ISSUER = 'https://issuer.example';
const jwtKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });

// One function behind every endpoint, so all share one kept interpreter. It spins `spin` ms, writes who
// called into the key, and answers `status` with who it saw: a 400 discards its transaction's writes.
const source = `
const label = (c) => !c ? 'none' : c.policy === 'jwt' ? 'jwt:' + c.jwt.payload.sub : c.id ? c.policy + ':' + c.id : c.policy + ':' + (c.cert ? 'cert' : 'none');
export function write(request) {
  const { spin, status } = request.body.json();
  ccf.enableUntrustedDateTime(true);
  const until = Date.now() + spin;
  for (let i = 0; ; i++) if (i % 1000 === 0 && Date.now() >= until) break;
  const me = label(request.caller);
  ccf.kv['public:records'].set(ccf.strToBuf(request.params.key), ccf.strToBuf(me));
  return { statusCode: status, body: { caller: me } };
}
export function read(request) {
  const key = ccf.strToBuf(request.params.key);
  const table = ccf.kv['public:records'];
  if (!table.has(key)) return { statusCode: 404, body: { error: 'no ' + request.params.key } };
  return { body: { value: ccf.bufToStr(table.get(key)), version: table.getVersionOfPreviousWrite(key) } };
}`;
const ep = (fn: string, policy: string, mode: string, reuse: boolean) => ({ js_module: 'w.js', js_function: fn, forwarding_required: 'never', authn_policies: [policy], mode, ...(reuse ? { interpreter_reuse: { key: 'shared' } } : {}) });
const bundle = {
  metadata: { endpoints: { ...Object.fromEntries(POLICIES.map((p) => [`/${p}/{key}`, { post: ep('write', p, 'readwrite', true) }])), '/r/{key}': { get: ep('read', 'no_auth', 'readonly', false) } } },
  modules: [{ name: 'w.js', module: source }],
};

before(async () => {
  node = await startNode({ users: ['alice', 'bob', 'dave'], members: ['m0', 'm1', 'm2'], config: (c) => (c.log.level = 'warn') });
  const base = await baseCallers(node, { owner: 'alice', otherUser: 'bob', revoked: 'dave', member: 'm0' });
  const jwk = { ...jwtKey.publicKey.export({ format: 'jwk' }), kid: 'matrix-key', alg: 'ES256' };
  await passProposal(node, [{ name: 'set_js_app', args: { bundle } }, { name: 'set_jwt_issuer', args: { issuer: ISSUER, jwks: { keys: [jwk] } } }]);
  const jwt = await new SignJWT({ sub: 'carol' }).setProtectedHeader({ alg: 'ES256', kid: 'matrix-key' }).setIssuer(ISSUER).setIssuedAt().setExpirationTime('1h').sign(jwtKey.privateKey);
  who = {
    anonymous: base.anonymous,
    otherCa: { cert: base.otherCa.cert, key: base.otherCa.key, ca: node.ca },
    revoked: base.revoked,
    user: base.otherUser,
    member: base.member,
    // No certificate; the https helper sends the token as Authorization: Bearer.
    jwt: { ca: node.ca, token: jwt },
    alice: base.owner,
  };
});
after(() => node?.cleanup());

/** The identity the handler must see for a caller admitted under a policy (no_auth carries none). */
const labelOf = (c: Caller | 'alice', policy: Policy) =>
  policy === 'jwt' ? 'jwt:carol' : policy === 'user_cert' || policy === 'member_cert' ? `${policy}:${certIdOfPem(who[c].cert!)}` : policy === 'any_cert' ? 'any_cert:cert' : 'no_auth:none';

const url = (path: string) => `https://127.0.0.1:${node.ports.https}/app${path}`;
const post = (c: Caller | 'alice', path: string, json: unknown) => https(url(path), who[c], { method: 'POST', json });
const seqnoOf = (r: { headers: Record<string, unknown> }) => Number(String(r.headers['x-ms-ccf-transaction-id']).split('.')[1]);

// 'own, discarded': admitted, saw its own identity, answered the 400 it asked for.
const OWN = 'own, discarded';
const ONLY = (...admitted: Caller[]) => Object.fromEntries(CALLERS.map((c) => [c, admitted.includes(c) ? OWN : 401])) as Record<Caller, Expected>;
const MATRIX: Record<Policy, Record<Caller, Expected>> = {
  no_auth: ONLY(...CALLERS),
  // Any live certificate, from any issuer (CCF's any_cert), including a removed user's.
  any_cert: ONLY('otherCa', 'revoked', 'user', 'member'),
  user_cert: ONLY('user'),
  member_cert: ONLY('member'),
  jwt: ONLY('jwt'),
};

describe('interpreter_reuse endpoints × callers, each beside alice’s slow request', () => {
  for (const policy of POLICIES) {
    test(policy, { timeout: 60_000 }, async () => {
      const got = {} as Record<Caller, Expected>;
      for (const c of CALLERS) {
        const tag = `${policy}-${c}`;
        // Alice's handler spins in the kept interpreter; the caller's request arrives meanwhile (usually:
        // nothing here depends on when) and waits for its turn.
        const slow = post('alice', `/user_cert/alice-${tag}`, { spin: 200, status: 200 });
        await new Promise((r) => setTimeout(r, 50));
        const theirs = await post(c, `/${policy}/${tag}`, { spin: 0, status: 400 });
        const mine = await slow;
        got[c] = theirs.status === 401 ? 401 : theirs.status !== 400 ? theirs.status : theirs.json().caller === labelOf(c, policy) ? OWN : `saw ${theirs.json().caller}`;

        // The bystander: answered as herself, her write committed in her transaction, the caller's gone.
        assert.deepEqual([mine.status, mine.json().caller], [200, labelOf('alice', 'user_cert')], `alice beside ${tag}`);
        const back = await https(url(`/r/alice-${tag}`), { ca: node.ca });
        assert.deepEqual(back.json(), { value: labelOf('alice', 'user_cert'), version: seqnoOf(mine) }, `alice's write beside ${tag}`);
        assert.equal((await https(url(`/r/${tag}`), { ca: node.ca })).status, 404, `the caller's discarded write beside ${tag}`);
      }
      assert.deepEqual(got, MATRIX[policy]);
    });
  }
});
