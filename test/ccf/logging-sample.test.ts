import assert from 'node:assert/strict';
import { createHash, createPrivateKey, webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { certIdOfPem, issueCertificate } from '../../src/crypto/certificates.js';
import { identitiesDirOf } from '../../src/node/datadir.js';
import { verifyReceipt, type Receipt } from '../../src/sdk/index.js';
import { REPO, nodeKeyFiles, startNode, type TestNode } from '../helpers/cli.js';
import { passProposal } from '../helpers/gov.js';
import { https, type HttpsIdentity, type HttpsReply } from '../helpers/https-client.js';
import { RSA, anonymous, appUrl, as, deploy, selfSignedX5c, signJwt, userCose } from './support.js';

// CCF's own JavaScript logging sample (test/fixtures/ccf-logging: samples/apps/logging/js, unmodified),
// deployed with set_js_app and driven as CCF's tests/e2e_logging.py drives it: private and public logs,
// historical queries and receipts (with claims), historical ranges, multi-auth, JWT and user COSE.

const FIXTURE = join(REPO, 'test', 'fixtures', 'ccf-logging');
const issuer = 'https://example.issuer';
let node: TestNode;
let jwtKeys: CryptoKeyPair;
const kid = 'logging-kid';

before(async () => {
  node = await startNode({
    users: ['user0', 'user1'],
    members: ['m0', 'm1', 'm2'],
    config: (c) => {
      c.ledger = { signature_interval_ms: 50 };
      c.app = { return_exception_details: true };
    },
  });
  jwtKeys = (await webcrypto.subtle.generateKey(RSA, true, ['sign', 'verify'])) as CryptoKeyPair;
  const metadata = JSON.parse(readFileSync(join(FIXTURE, 'app.json'), 'utf8'));
  const module = readFileSync(join(FIXTURE, 'src', 'logging.js'), 'utf8');
  // CCF's JwtIssuer registers a certificate (x5c) with "kty": "RSA" and the issuer as constraint.
  const jwks = { keys: [{ kty: 'RSA', kid, x5c: [await selfSignedX5c(jwtKeys, RSA)], issuer }] };
  await deploy(node, { metadata, modules: [{ name: 'logging.js', module }] }, [{ name: 'set_jwt_issuer', args: { issuer, jwks } }]);
});
after(() => node?.cleanup());

const user0 = () => as(node, 'user0');
const jwt = (claims: Record<string, unknown> = {}) => {
  const now = Math.floor(Date.now() / 1000);
  return signJwt(jwtKeys.privateKey, kid, { iss: issuer, nbf: now - 10, exp: now + 3600, ...claims });
};
const call = (path: string, id: HttpsIdentity, opts: { method?: string; json?: unknown; body?: Buffer; headers?: Record<string, string> } = {}) => https(appUrl(node, path), id, opts);
const txOf = (r: HttpsReply) => String(r.headers['x-ms-ccf-transaction-id']);
const seqnoOf = (r: HttpsReply) => Number(txOf(r).split('.')[1]);
/** Retries while the node answers 202 (not yet covered by a signature), as CCF's clients do. */
async function until202Ends(send: () => Promise<HttpsReply>): Promise<HttpsReply> {
  for (let i = 0; i < 400; i++) {
    const r = await send();
    if (r.status !== 202) return r;
    await new Promise((res) => setTimeout(res, 25));
  }
  throw new Error('still 202');
}

describe('log/private and log/public (test, test_remove, test_clear, test_record_count)', () => {
  test('write, read, count, delete and clear, as user_cert and as JWT', async () => {
    for (const scope of ['private', 'public']) {
      assert.equal((await call(`/log/${scope}`, user0(), { method: 'POST', json: { id: 42, msg: `hello ${scope}` } })).status, 200);
      const r = await call(`/log/${scope}?id=42`, user0());
      assert.deepEqual([r.status, r.json()], [200, { msg: `hello ${scope}` }]);
      // The same endpoints take a JWT instead of a client certificate (authn_policies: jwt, user_cert).
      const token = await jwt();
      assert.equal((await call(`/log/${scope}`, anonymous(node), { method: 'POST', json: { id: 43, msg: 'by jwt' }, headers: { authorization: `Bearer ${token}` } })).status, 200);
      assert.deepEqual((await call(`/log/${scope}?id=43`, anonymous(node), { headers: { authorization: `Bearer ${token}` } })).json(), { msg: 'by jwt' });
      assert.ok((await call(`/log/${scope}/count`, user0())).json() >= 2);
      assert.deepEqual((await call(`/log/${scope}?id=42`, user0(), { method: 'DELETE' })).json(), true);
      const gone = await call(`/log/${scope}?id=42`, user0());
      assert.deepEqual([gone.status, gone.json()], [404, { error: { code: 'ResourceNotFound' } }]);
      assert.equal((await call(`/log/${scope}/all`, user0(), { method: 'DELETE' })).status, 200);
      assert.equal((await call(`/log/${scope}/count`, user0())).json(), 0);
    }
  });

  test('no credentials: 401 naming both policies, and CCF\'s header from the last one (user_cert: none)', async () => {
    const r = await call('/log/private?id=1', anonymous(node));
    assert.equal(r.status, 401);
    assert.deepEqual(r.json().error.details, [
      { auth_policy: 'jwt', code: 'InvalidAuthenticationInfo', message: 'Missing authorization header' },
      { auth_policy: 'user_cert', code: 'InvalidAuthenticationInfo', message: 'No caller user certificate' },
    ]);
    assert.equal(r.headers['www-authenticate'], undefined);
  });

  test('raw text, cert prefix and anonymous writes (test_raw_text, test_cert_prefix, test_anonymous_caller)', async () => {
    assert.equal((await call('/log/private/raw_text/7', user0(), { method: 'POST', body: Buffer.from('not JSON'), headers: { 'content-type': 'text/plain' } })).status, 200);
    assert.deepEqual((await call('/log/private?id=7', user0())).json(), { msg: 'not JSON' });
    assert.equal((await call('/log/private/prefix_cert', user0(), { method: 'POST', json: { id: 8, msg: 'prefixed' } })).status, 200);
    assert.deepEqual((await call('/log/private?id=8', user0())).json(), { msg: `${certIdOfPem(node.identity('user0').cert)}: prefixed` });
    assert.equal((await call('/log/private/anonymous', anonymous(node), { method: 'POST', json: { id: 9, msg: 'anon' } })).status, 200);
  });

  test('admin_only needs user data isAdmin (test_user_data_ACL)', async () => {
    const r = await call('/log/private/admin_only', user0(), { method: 'POST', json: { id: 10, msg: 'x' } });
    assert.deepEqual([r.status, r.body.toString()], [403, 'Only admins may access this endpoint']);
    await passProposal(node, [{ name: 'set_user_data', args: { user_id: certIdOfPem(node.identity('user0').cert), user_data: { isAdmin: true } } }]);
    assert.equal((await call('/log/private/admin_only', user0(), { method: 'POST', json: { id: 10, msg: 'x' } })).status, 200);
  });
});

describe('historical queries (test_historical_query, test_historical_receipts, _with_claims)', () => {
  test("a historical read at the transaction that wrote the record, and 404 at one that did not write it", async () => {
    const w = await call('/log/private', user0(), { method: 'POST', json: { id: 500, msg: 'then' } });
    const other = await call('/log/private', user0(), { method: 'POST', json: { id: 501, msg: 'other' } });
    const at = (tx: string, id: number) => until202Ends(() => call(`/log/private/historical?id=${id}`, user0(), { headers: { 'x-ms-ccf-transaction-id': tx } }));
    const r = await at(txOf(w), 500);
    assert.deepEqual([r.status, r.json()], [200, { msg: 'then' }]);
    // CCF's historical state holds that transaction's writes only: id 500 was not written at `other`.
    const miss = await at(txOf(other), 500);
    assert.deepEqual([miss.status, miss.json()], [404, { error: { code: 'ResourceNotFound' } }]);
    const invalid = await call('/log/private/historical?id=500', user0(), { headers: { 'x-ms-ccf-transaction-id': '99999.1' } });
    assert.deepEqual([invalid.status, invalid.json().error.code], [404, 'TransactionInvalid']);
    const unknown = await call('/log/private/historical?id=500', user0(), { headers: { 'x-ms-ccf-transaction-id': '99999.999999' } });
    assert.deepEqual([unknown.status, unknown.json().error.code], [404, 'TransactionPendingOrUnknown']);
  });

  test('historical receipts verify; with claims, the receipt commits to the message digest', async () => {
    const w = await call('/log/private', user0(), { method: 'POST', json: { id: 600, msg: 'receipted' } });
    const r = await until202Ends(() => call('/log/private/historical_receipt?id=600', user0(), { headers: { 'x-ms-ccf-transaction-id': txOf(w) } }));
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.json().msg, 'receipted');
    verifyReceipt(r.json().receipt as Receipt, node.ca);

    const msg = 'claimed message';
    const c = await call('/log/public', user0(), { method: 'POST', json: { id: 601, msg, record_claim: true } });
    const pr = await until202Ends(() => call('/log/public/historical_receipt?id=601', user0(), { headers: { 'x-ms-ccf-transaction-id': txOf(c) } }));
    assert.equal(pr.status, 200, pr.body.toString());
    const receipt = pr.json().receipt;
    assert.equal(receipt.leaf_components.claims_digest, undefined, 'the sample removes it, so the verifier must recompute it');
    receipt.leaf_components.claims_digest = createHash('sha256').update(pr.json().msg).digest('hex');
    verifyReceipt(receipt as Receipt, node.ca);
    receipt.leaf_components.claims_digest = createHash('sha256').update('another message').digest('hex');
    assert.throws(() => verifyReceipt(receipt as Receipt, node.ca));
  });
});

describe('historical ranges (test_historical_query_range)', () => {
  test('100 writes over three ids: each range gives exactly the writes of its id, 100 in all', async () => {
    const [idA, idB, idC] = [142, 143, 144];
    const n = 100;
    const idFor = (i: number) => (i === n / 2 ? idC : i % 3 === 0 ? idB : idA);
    const msgs = new Map<number, string>();
    let first = 0;
    let last = 0;
    for (let i = 0; i < n; i++) {
      const msg = `Unique message ${i}`;
      const r = await call('/log/public', user0(), { method: 'POST', json: { id: idFor(i), msg } });
      assert.equal(r.status, 200);
      msgs.set(seqnoOf(r), msg);
      first ||= seqnoOf(r);
      last = seqnoOf(r);
    }
    const range = async (query: string) => {
      const r = await until202Ends(() => call(`/log/public/historical/range?${query}`, user0()));
      assert.equal(r.status, 200, r.body.toString());
      assert.equal(r.json()['@nextLink'], undefined);
      return r.json().entries as Array<{ seqno: number; id: number; msg: string }>;
    };
    const entries = { a: await range(`id=${idA}`), b: await range(`id=${idB}`), c: await range(`id=${idC}`) };
    // Before the fix each state was the accumulated KV: every later seqno repeated the last write (395 entries, not 100).
    assert.equal(entries.a.length + entries.b.length + entries.c.length, n);
    for (const [id, list] of [[idA, entries.a], [idB, entries.b], [idC, entries.c]] as const) {
      for (const e of list) {
        assert.equal(e.id, id);
        assert.equal(e.msg, msgs.get(e.seqno));
      }
    }
    assert.deepEqual(await range(`id=${idA}&from_seqno=${first}`), entries.a);
    assert.deepEqual(await range(`id=${idA}&to_seqno=${last}`), entries.a);
    assert.deepEqual(await range(`id=${idA}&from_seqno=${first}&to_seqno=${last}`), entries.a);

    // Error responses: a reversed range, and an end that is not committed.
    for (const q of [`from_seqno=${last}&to_seqno=1&id=${idA}`, `from_seqno=${last}&to_seqno=${last - 1}&id=${idA}`, `to_seqno=${last * 2}&id=${idA}`]) {
      const r = await call(`/log/public/historical/range?${q}`, user0());
      assert.deepEqual([r.status, r.json().error.code], [400, 'InvalidInput'], q);
    }
  });

  test("a range longer than the sample's page: the first 2001 states are served; asking for more fails as in CCF", async () => {
    // Enough transactions for a range of more than one page (the sample pages at 2001 states).
    const id = 900;
    let last = 0;
    const writers = Array.from({ length: 8 }, async (_, w) => {
      for (let i = w; i < 2050; i += 8) {
        const r = await call('/log/public', user0(), { method: 'POST', json: { id: id + (i % 2), msg: `m${i}` } });
        assert.equal(r.status, 200);
        last = Math.max(last, seqnoOf(r));
      }
    });
    await Promise.all(writers);
    const from = last - 2049;
    const page = await until202Ends(() => call(`/log/public/historical/range?id=${id}&from_seqno=${from}&to_seqno=${from + 2000}`, user0()));
    assert.equal(page.status, 200, page.body.toString().slice(0, 300));
    assert.equal(page.json()['@nextLink'], undefined);
    assert.ok(page.json().entries.length > 900);
    // Over one page the sample prefetches the next page with three arguments; CCF's getStateRange takes
    // exactly four and throws (src/js/extensions/ccf/historical.cpp), so CCF answers this with 500 too.
    const over = await until202Ends(() => call(`/log/public/historical/range?id=${id}&from_seqno=${from}&to_seqno=${last}`, user0()));
    assert.equal(over.status, 500, over.body.toString().slice(0, 300));
    assert.equal(over.json().error.code, 'InternalError');
    assert.match(over.json().error.details[0].message, /Passed 3 arguments, but expected 4/);
  });
});

describe('multi_auth (test_multi_auth) and custom_auth (test_custom_auth)', () => {
  test('each identity gets its own description', async () => {
    const bodies = new Set<string>();
    const expect = async (r: HttpsReply, prefix: string) => {
      assert.equal(r.status, 200, r.body.toString());
      const text = r.body.toString();
      assert.ok(text.startsWith(prefix), text);
      assert.ok(!text.includes('undefined'), text);
      assert.ok(!bodies.has(text));
      bodies.add(text);
    };
    const multi = (id: HttpsIdentity, opts: { body?: Buffer; headers?: Record<string, string> } = {}) => call('/multi_auth', id, { method: 'POST', ...opts });
    await expect(await multi(anonymous(node)), 'Unauthenticated');
    await expect(await multi(user0()), 'User TLS cert');
    await expect(await multi(as(node, 'user1')), 'User TLS cert');
    const m0 = join(identitiesDirOf(node.dir), 'm0');
    await expect(await multi({ cert: readFileSync(join(m0, 'cert.pem'), 'utf8'), key: readFileSync(join(m0, 'key.pem'), 'utf8'), ca: node.ca }), 'Member TLS cert');
    const ca = { certPem: node.ca, keyPem: nodeKeyFiles(node.dir).read(join(node.dir, 'ca.key.sealed'), 'ca') };
    const notAUser = await issueCertificate(ca, { name: 'not_a_user', role: 'user' });
    await expect(await multi({ cert: notAUser.certPem, key: notAUser.keyPem, ca: node.ca }), 'Any TLS cert');
    await expect(await multi(anonymous(node), { headers: { authorization: `Bearer ${await jwt({ user: 'Alice' })}` } }), 'JWT');
    await expect(await multi(anonymous(node), { headers: { authorization: `Bearer ${await jwt({ user: 'Bob' })}` } }), 'JWT');
    const user1 = node.identity('user1');
    const cose = () => userCose(createPrivateKey(user1.key), certIdOfPem(user1.cert), Buffer.from(JSON.stringify({ some: 'content' })));
    await expect(await multi(anonymous(node), { body: cose(), headers: { 'content-type': 'application/cose' } }), 'User COSE Sign1');
    await expect(await multi(user0(), { body: cose(), headers: { 'content-type': 'application/cose', authorization: `Bearer ${await jwt({ user: 'Bob' })}` } }), 'Conjoined auth policy');
  });

  test('custom_auth', async () => {
    const c = (headers: Record<string, string>) => call('/custom_auth', anonymous(node), { headers });
    assert.equal((await c({})).status, 401);
    assert.equal((await c({ 'x-custom-auth-name': 'Bob' })).status, 401);
    assert.equal((await c({ 'x-custom-auth-name': '', 'x-custom-auth-age': '42' })).status, 401);
    assert.equal((await c({ 'x-custom-auth-name': 'Bob', 'x-custom-auth-age': '12' })).status, 401);
    const ok = await c({ 'x-custom-auth-name': 'Alice', 'x-custom-auth-age': '42' });
    assert.deepEqual([ok.status, ok.json().name, ok.json().age], [200, 'Alice', 42]);
    assert.equal((await c({ 'x-custom-auth-explode': 'Boom goes the dynamite' })).status, 500);
  });
});
