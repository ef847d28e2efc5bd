import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { SignJWT } from 'jose';
import { ACCEPT_BALLOT } from '../src/sdk/member.js';
import { signCoseSign1 } from '../src/crypto/cose.js';
import { certIdOfPem } from '../src/crypto/certificates.js';
import { verifyReceipt, type Receipt } from '../src/sdk/index.js';
import { REPO, type TestNode, nodeKeyFiles, startNode, tempDir } from './helpers/cli.js';
import { member } from './helpers/gov.js';
import { https } from './helpers/https-client.js';
import { identitiesDirOf } from '../src/node/datadir.js';

// An app of our own, written in TypeScript against @microsoft/ccf-app, bundled with esbuild and deployed
// by proposal, exercised end to end.

let node: TestNode;
const issuer = 'https://issuer.example';
const jwtKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
before(async () => {
  node = await startNode({
    users: ['alice'],
    members: ['m0', 'm1', 'm2'],
    config: (c) => {
      c.ledger = { signature_interval_ms: 50 };
      c.app = { max_execution_time_ms: 1000, max_heap_mib: 48, return_exception_details: true };
    },
  });
  const bundlePath = join(tempDir(), 'bundle.json');
  execFileSync(process.execPath, [join(REPO, 'test', 'fixtures', 'ccf-own-app', 'build.mjs'), bundlePath]);
  const bundle = JSON.parse(readFileSync(bundlePath, 'utf8'));
  const jwk = { ...jwtKey.publicKey.export({ format: 'jwk' }), kid: 'test-key', alg: 'ES256' };
  const [m0, m1] = [member(node, 'm0'), member(node, 'm1')];
  const p = (await m0.propose({ actions: [{ name: 'set_js_app', args: { bundle, disable_bytecode_cache: false } }, { name: 'set_jwt_issuer', args: { issuer, jwks: { keys: [jwk] } } }] })).json();
  await m0.vote(p.proposalId, ACCEPT_BALLOT);
  assert.equal((await m1.vote(p.proposalId, ACCEPT_BALLOT)).json().proposalState, 'Accepted');
});
after(() => node.cleanup());

const alice = () => node.identity('alice');
type Who = 'alice' | 'm0' | 'anonymous';
function call(path: string, opts: { method?: string; json?: unknown; body?: Buffer; headers?: Record<string, string>; as?: Who } = {}) {
  const who = opts.as ?? 'alice';
  const id =
    who === 'anonymous'
      ? { ca: node.ca }
      : who === 'alice'
        ? { cert: alice().cert, key: alice().key, ca: node.ca }
        : { cert: readFileSync(join(identitiesDirOf(node.dir), 'm0', 'cert.pem'), 'utf8'), key: readFileSync(join(identitiesDirOf(node.dir), 'm0', 'key.pem'), 'utf8'), ca: node.ca };
  return https(`https://127.0.0.1:${node.ports.https}/app${path}`, id, { method: opts.method, json: opts.json, body: opts.body, headers: opts.headers });
}
const jwt = (claims: Record<string, unknown> = {}) =>
  new SignJWT({ sub: 'alice', ...claims }).setProtectedHeader({ alg: 'ES256', kid: 'test-key' }).setIssuer(issuer).setIssuedAt().setExpirationTime('10m').sign(jwtKey.privateKey);

async function receipt(txId: string): Promise<Receipt> {
  for (let i = 0; i < 100; i++) {
    const r = await https(`https://127.0.0.1:${node.ports.https}/app/receipt?transaction_id=${txId}`, { ...alice(), ca: node.ca });
    if (r.status === 200) return r.json();
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error('no receipt');
}

describe('tables', () => {
  test('private and public tables through the typed KV, with versions', async () => {
    const put = await call('/records/k1', { method: 'PUT', json: { value: 'one' } });
    assert.equal(put.status, 201, put.body.toString());
    const seqno = Number(String(put.headers['x-ms-ccf-transaction-id']).split('.')[1]);
    const got = (await call('/records/k1')).json();
    assert.equal(got.value, 'one');
    assert.equal(got.version, seqno, 'getVersionOfPreviousWrite is the seqno of the write');
    assert.equal(got.count, 1);
    assert.deepEqual([(await call('/records/none')).status, (await call('/records/none')).json()], [404, { error: 'no record none' }]);

    const db = new Database(join(node.dir, 'store.sqlite'), { readonly: true });
    const writes = (db.prepare('SELECT writes FROM txlog WHERE seqno = ?').get(seqno) as { writes: string }).writes;
    db.close();
    const parsed = JSON.parse(writes) as Array<{ table: string; sealed?: string; value?: unknown }>;
    assert.ok(!writes.includes('app:records'), 'the private table is named only by its MAC');
    assert.ok(parsed.find((w) => w.table.startsWith('#'))?.sealed, 'the private table is sealed in the ledger');
    assert.ok(parsed.find((w) => w.table === 'public:app:counters')?.value, 'the public table is in the clear');
    assert.ok(!writes.includes(Buffer.from('"one"').toString('hex')), 'the private value does not appear');
  });

  test('every converter round-trips', async () => {
    const r = await call('/converters');
    assert.equal(r.status, 200, r.body.toString());
    for (const [name, ok] of Object.entries(r.json())) assert.equal(ok, true, name);
    assert.equal(Object.keys(r.json()).length, 19);
  });

  test('every crypto function works as CCF specifies', async () => {
    const r = await call('/crypto', { method: 'POST', json: { ca: node.ca } });
    assert.equal(r.status, 200, r.body.toString());
    for (const [name, ok] of Object.entries(r.json())) assert.equal(ok, true, name);
  });

  test('Tessera extensions: ordered range iteration and TextEncoder/TextDecoder', async () => {
    const r = (await call('/range', { method: 'POST' })).json();
    assert.deepEqual(r, { keys: ['b', 'c'], textEncoder: '195,169', textDecoder: 'é' });
  });
});

describe('authentication policies', () => {
  test('a certificate that expires is refused from then on, although it was accepted (and cached) before', async () => {
    const { issueCertificate } = await import('../src/crypto/certificates.js');
    const ca = { certPem: node.ca, keyPem: nodeKeyFiles(node.dir).read(join(node.dir, 'ca.key.sealed'), 'ca') };
    const shortLived = await issueCertificate(ca, { name: 'brief', role: 'user', validMs: 2000 });
    const as = { cert: shortLived.certPem, key: shortLived.keyPem, ca: node.ca };
    const before = await https(`https://127.0.0.1:${node.ports.https}/app/whoami/any`, as);
    assert.equal(before.status, 200, before.body.toString());
    assert.equal(certIdOfPem(before.json().cert), certIdOfPem(shortLived.certPem));
    // Validity is checked in whole seconds, as CCF does: 1.5 s past the end is past it whatever the rounding.
    await new Promise((r) => setTimeout(r, 3500));
    const afterwards = await https(`https://127.0.0.1:${node.ports.https}/app/whoami/any`, as);
    assert.equal(afterwards.status, 401, afterwards.body.toString());
    // CCF's wording (src/endpoints/authentication/cert_auth.cpp), with Unix seconds.
    const [detail] = afterwards.json().error.details;
    assert.deepEqual({ ...detail, message: undefined }, { auth_policy: 'any_cert', code: 'InvalidAuthenticationInfo', message: undefined });
    assert.match(detail.message, /^Current time \d+ is after certificate's Not After validity period \d+$/);
  });

  test('each policy gives its caller shape', async () => {
    const aliceId = certIdOfPem(alice().cert);
    const user = (await call('/whoami/user')).json();
    assert.deepEqual({ ...user, cert: undefined }, { policy: 'user_cert', id: aliceId, data: null, cert: undefined });
    assert.equal(user.cert, alice().cert);
    const m = (await call('/whoami/member', { as: 'm0' })).json();
    assert.equal(m.policy, 'member_cert');
    assert.equal(m.id, certIdOfPem(readFileSync(join(identitiesDirOf(node.dir), 'm0', 'cert.pem'), 'utf8')));
    assert.equal((await call('/whoami/any', { as: 'm0' })).json().policy, 'any_cert');
    const token = await jwt();
    const j = (await call('/whoami/jwt', { as: 'anonymous', headers: { authorization: `Bearer ${token}` } })).json();
    assert.equal(j.policy, 'jwt');
    assert.equal(j.jwt.keyIssuer, issuer);
    assert.equal(j.jwt.payload.sub, 'alice');
    assert.equal(j.jwt.header.kid, 'test-key');
    const cose = signCoseSign1({ key: createPrivateKey(alice().key), kid: aliceId, type: 'proposal', payload: Buffer.from('signed content') });
    const c = (await call('/whoami/cose', { method: 'POST', as: 'anonymous', body: cose, headers: { 'content-type': 'application/cose' } })).json();
    assert.deepEqual({ policy: c.policy, id: c.id, content: c.cose.content }, { policy: 'user_cose_sign1', id: aliceId, content: 'signed content' });
    assert.deepEqual((await call('/whoami/none', { as: 'anonymous' })).json(), { policy: 'no_auth' });
    assert.equal((await call('/whoami/anonymous', { as: 'anonymous' })).json(), null);
    const both = (await call('/whoami/both', { headers: { authorization: `Bearer ${token}` } })).json();
    // CCF keeps all_of's policies in a map keyed by name: they come in name order (all_of_auth.cpp).
    assert.deepEqual(both.policy, ['jwt', 'user_cert']);
    assert.equal(both.user_cert.id, aliceId);
    assert.equal(both.jwt.jwt.payload.iss, issuer);
    assert.equal((await call('/records/k1', { as: 'anonymous', headers: { authorization: `Bearer ${token}` } })).status, 200, 'the second policy of a list passes');
  });

  test('failing policies give 401 with each reason', async () => {
    const expired = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'test-key' }).setIssuer(issuer).setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(jwtKey.privateKey);
    const r = await call('/whoami/jwt', { as: 'anonymous', headers: { authorization: `Bearer ${expired}` } });
    assert.equal(r.status, 401);
    assert.match(r.json().error.details[0].message, /^Current time \d+ is after token's Expiration Time \(exp\) claim \d+$/);
    const partial = await call('/whoami/both');
    assert.equal(partial.status, 401);
    assert.deepEqual(partial.json().error.details.map((d: any) => [d.auth_policy, d.message]), [['jwt+user_cert', 'jwt:Missing authorization header']]);
    const member = await call('/whoami/user', { as: 'm0' });
    assert.equal(member.json().error.details[0].message, 'Could not find matching user certificate');
    const plain = await call('/whoami/cose', { method: 'POST', as: 'anonymous', json: { not: 'cose' } });
    assert.equal(plain.status, 401);
  });
});

describe('transactions', () => {
  test('writes apply on 2xx unless setApplyWrites says otherwise', async () => {
    const outcome = async (mode: string) => {
      const r = await call(`/apply/${mode}`, { method: 'POST' });
      return [r.status, (await call(`/records/apply-${mode}`)).status];
    };
    assert.deepEqual(await outcome('default'), [200, 200]);
    assert.deepEqual(await outcome('error'), [500, 404]);
    assert.deepEqual(await outcome('force'), [400, 200]);
    assert.deepEqual(await outcome('drop'), [200, 404]);
  });

  test('a claims digest set by the handler is in the receipt, which verifies offline', async () => {
    const r = await call('/claims', { method: 'POST', body: Buffer.from('I claim this'), headers: { 'content-type': 'text/plain' } });
    assert.equal(r.status, 200, r.body.toString());
    const expected = createHash('sha256').update('I claim this').digest('hex');
    assert.equal(r.json().claims_digest, expected);
    const rec = await receipt(String(r.headers['x-ms-ccf-transaction-id']));
    assert.equal(rec.leaf_components.claims_digest, expected);
    verifyReceipt(rec, node.ca);
  });

  test('historical reads see the state as of a transaction, with its receipt', async () => {
    const v1 = await call('/records/h', { method: 'PUT', json: { value: 'first' } });
    const v2 = await call('/records/h', { method: 'PUT', json: { value: 'second' } });
    const at = async (txId: string) => {
      for (let i = 0; i < 100; i++) {
        const r = await call('/history/records/h', { headers: { 'x-ms-ccf-transaction-id': txId } });
        if (r.status !== 202) return r;
        assert.equal(r.headers['retry-after'], '3');
        await new Promise((res) => setTimeout(res, 50));
      }
      throw new Error('never available');
    };
    const first = await at(String(v1.headers['x-ms-ccf-transaction-id']));
    assert.equal(first.status, 200, first.body.toString());
    assert.deepEqual(first.json().record, { value: 'first' });
    verifyReceipt(first.json().receipt, node.ca);
    assert.deepEqual((await at(String(v2.headers['x-ms-ccf-transaction-id']))).json().record, { value: 'second' });

    const missing = await call('/history/records/h');
    assert.deepEqual([missing.status, missing.json().error.code], [400, 'MissingRequiredHeader']);
    const bad = await call('/history/records/h', { headers: { 'x-ms-ccf-transaction-id': 'yesterday' } });
    assert.deepEqual([bad.status, bad.json().error.code], [400, 'InvalidHeaderValue']);
    const unknown = await call('/history/records/h', { headers: { 'x-ms-ccf-transaction-id': '2.999999' } });
    assert.deepEqual([unknown.status, unknown.json().error.code, unknown.headers['cache-control']], [404, 'TransactionPendingOrUnknown', 'no-cache']);
    const invalid = await call('/history/records/h', { headers: { 'x-ms-ccf-transaction-id': '9.1' } });
    assert.deepEqual([invalid.status, invalid.json().error.code], [404, 'TransactionInvalid']);
  });

  test('getStateRange gives each transaction’s state in a range, each with a receipt that verifies', async () => {
    const a = Number(String((await call('/records/r', { method: 'PUT', json: { value: 'A' } })).headers['x-ms-ccf-transaction-id']).split('.')[1]);
    const b = Number(String((await call('/records/r', { method: 'PUT', json: { value: 'B' } })).headers['x-ms-ccf-transaction-id']).split('.')[1]);
    let r;
    for (let i = 0; i < 100; i++) {
      r = await call(`/history/range?from=${a - 1}&to=${b}&key=r`);
      if (r.status !== 202) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    assert.equal(r!.status, 200, r!.body.toString());
    const states = r!.json();
    assert.deepEqual(states.map((s: any) => s.value), [null, 'A', 'B']);
    assert.deepEqual(states.map((s: any) => s.transactionId), [`2.${a - 1}`, `2.${a}`, `2.${b}`]);
    for (const s of states) verifyReceipt(s.receipt, node.ca);
    assert.equal((await call('/history/range?from=5&to=2&key=r')).status, 400);
  });

  test('Date.now() is the clock whatever enableUntrustedDateTime says, as in CCF 7 (src/js/extensions/ccf/converters.cpp)', async () => {
    const sent = Date.now();
    const r = (await call('/time', { as: 'anonymous' })).json();
    const received = Date.now();
    // The node and this test read the same machine's clock.
    assert.ok(sent <= r.before && r.before <= r.after && r.after <= received, 'the clock, not the epoch');
    assert.equal(r.wasOn, true, 'CCF 7 returns its argument, not the previous setting');
  });
});

describe('bad handlers get CCF errors and leave the KV untouched', () => {
  const count = async () => (await call('/records/k1')).json().count;

  for (const [how, message, detail] of [
    ['throw', 'Exception thrown while executing.', /^Error: handler failed on purpose$/],
    ['loop', 'Operation took too long to complete.', /time limit/],
    ['memory', 'Exception thrown while executing.', /^InternalError: out of memory$/],
    ['stack', 'Exception thrown while executing.', /^InternalError: stack overflow$/],
    ['not-object', 'Invalid endpoint function return value (not an object).', null],
    ['bad-status', 'Invalid endpoint function return value (status code type).', null],
    ['typed-key', 'Exception thrown while executing.', /^TypeError: Argument must be an ArrayBuffer$/],
  ] as Array<[string, string, RegExp | null]>) {
    test(how, async () => {
      const before = await count();
      const r = await call(`/misbehave/${how}`, { method: 'POST' });
      assert.equal(r.status, 500, r.body.toString());
      assert.equal(r.json().error.code, 'InternalError');
      assert.equal(r.json().error.message, message);
      if (detail) assert.match(r.json().error.details[0].message, detail);
      assert.equal(await count(), before);
    });
  }

  test('a write in a readonly endpoint is refused with CCF’s message', async () => {
    const r = await call('/readonly-write', { method: 'POST' });
    assert.equal(r.status, 500);
    assert.match(r.json().error.details[0].message, /^TypeError: Cannot call set on table named records\. This table is read-only in current \(read-only application\) execution context/);
    assert.equal((await call('/records/nope')).status, 404);
  });
});
