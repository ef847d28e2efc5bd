import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Encoder, Tag } from 'cbor-x';
import { certIdOfPem } from '../../src/crypto/certificates.js';
import { identitiesDirOf } from '../../src/node/datadir.js';
import { startNode, type TestNode } from '../helpers/cli.js';
import { https } from '../helpers/https-client.js';
import { COUNTER_HANDLERS, anonymous, appUrl, authEndpoint, deploy, userCose } from './support.js';

// user_cose_sign1 as CCF's UserCOSESign1AuthnPolicy (src/endpoints/authentication/cose_auth.cpp): the
// protected header needs alg and kid only; `ccf.msg.type` and `ccf.msg.created_at` are optional and no
// governance field is needed. CCF's client signs app requests with alg, kid and `ccf.gov.msg.created_at`
// (tests/infra/clients.py, cose_protected_headers_api_v1), as tests/e2e_logging.py test_multi_auth does.

let node: TestNode;
let aliceId: string;
const aliceKey = () => createPrivateKey(node.identity('alice').key);

const MODULE = `
export function whoami(request) {
  const c = request.caller;
  return { body: { policy: c.policy, id: c.id, data: c.data, hasCert: typeof c.cert === 'string', content: ccf.bufToStr(c.cose.content) } };
}
${COUNTER_HANDLERS}`;
const ep = authEndpoint;

before(async () => {
  node = await startNode({ users: ['alice'], members: ['m0', 'm1', 'm2'] });
  aliceId = certIdOfPem(node.identity('alice').cert);
  await deploy(node, {
    metadata: { endpoints: { '/cose': { post: ep('whoami', 'readwrite', ['user_cose_sign1']) }, '/write': { post: ep('write', 'readwrite', ['user_cose_sign1']) }, '/count': { get: ep('count', 'readonly', ['no_auth']) } } },
    modules: [{ name: 'app.js', module: MODULE }],
  });
});
after(() => node?.cleanup());

const post = (path: string, body: Buffer, headers: Record<string, string> = { 'content-type': 'application/cose' }) => https(appUrl(node, path), anonymous(node), { method: 'POST', body, headers });
const count = async () => (await https(appUrl(node, '/count'), anonymous(node))).json() as number;

describe('accepted envelopes', () => {
  test("CCF's client form (alg, kid, ccf.gov.msg.created_at; no message type) authenticates the user", async () => {
    const r = await post('/cose', userCose(aliceKey(), aliceId, Buffer.from('{"some":"content"}')));
    assert.equal(r.status, 200, r.body.toString());
    assert.deepEqual(r.json(), { policy: 'user_cose_sign1', id: aliceId, data: null, hasCert: true, content: '{"some":"content"}' });
  });

  test('the optional ccf.msg.type and ccf.msg.created_at are accepted, and so is any other header', async () => {
    const header = new Map<unknown, unknown>([['ccf.msg.type', 'app_request'], ['ccf.msg.created_at', Math.floor(Date.now() / 1000)], ['app.custom', 'x']]);
    const r = await post('/cose', userCose(aliceKey(), aliceId, Buffer.from('x'), header));
    assert.equal(r.status, 200, r.body.toString());
  });

  test('CCF sets no created_at tolerance for users: a far-future created_at is accepted', async () => {
    const header = new Map<unknown, unknown>([['ccf.msg.created_at', Math.floor(Date.now() / 1000) + 10 * 365 * 86400]]);
    assert.equal((await post('/cose', userCose(aliceKey(), aliceId, Buffer.from('x'), header))).status, 200);
  });
});

describe('refused envelopes get CCF statuses and bodies and write nothing', () => {
  const refused = async (body: Buffer, message: string, headers?: Record<string, string>) => {
    const before = await count();
    const r = await post('/write', body, headers);
    assert.equal(r.status, 401, r.body.toString());
    assert.deepEqual(r.json().error, { code: 'InvalidAuthenticationInfo', message: 'Invalid authentication credentials.', details: [{ auth_policy: 'user_cose_sign1', code: 'InvalidAuthenticationInfo', message }] });
    assert.equal(r.headers['www-authenticate'], 'COSE-SIGN1 realm="Signed request access"');
    assert.equal(await count(), before);
  };
  const failed = async (body: Buffer, message: string) => {
    const before = await count();
    const r = await post('/write', body);
    // CCF's COSEDecodeError is not caught by the policy: its frontend answers 500 with the message.
    assert.equal(r.status, 500, r.body.toString());
    assert.deepEqual(r.json().error, { code: 'InternalError', message });
    assert.equal(await count(), before);
  };

  test('the control: a good envelope writes', async () => {
    const before = await count();
    assert.equal((await post('/write', userCose(aliceKey(), aliceId, Buffer.from('x')))).status, 200);
    assert.equal(await count(), before + 1);
  });

  test('content type missing or other', async () => {
    await refused(userCose(aliceKey(), aliceId, Buffer.from('x')), 'Missing content-type header', {});
    await refused(userCose(aliceKey(), aliceId, Buffer.from('x')), 'Content type is not set to application/cose', { 'content-type': 'application/json' });
  });

  test('signed by a member, not a user', async () => {
    const m0 = join(identitiesDirOf(node.dir), 'm0');
    const id = certIdOfPem(readFileSync(join(m0, 'cert.pem'), 'utf8'));
    await refused(userCose(createPrivateKey(readFileSync(join(m0, 'key.pem'), 'utf8')), id, Buffer.from('x')), 'Signer is not a known user');
  });

  test("signed by another key under the user's kid", async () => {
    await refused(userCose(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, aliceId, Buffer.from('x')), 'Failed to validate COSE Sign1');
  });

  test('a non-ECDSA algorithm', async () => {
    await refused(userCose(aliceKey(), aliceId, Buffer.from('x'), undefined, { alg: -257 }), 'Unsupported algorithm: -257');
  });

  test('malformed envelopes', async () => {
    await failed(Buffer.from('not cbor at all'), 'Failed to parse COSE_Sign1 outer array');
    await failed(userCose(aliceKey(), aliceId, Buffer.from('x'), undefined, { tagged: false }), 'COSE_Sign1 is not tagged');
    const enc = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false });
    const noKid = Buffer.from(enc.encode(new Tag([Buffer.from(enc.encode(new Map([[1, -7]]))), new Map(), Buffer.from('x'), Buffer.alloc(64)], 18)));
    await failed(noKid, 'Missing kid in protected header');
    const noAlg = Buffer.from(enc.encode(new Tag([Buffer.from(enc.encode(new Map([[4, Buffer.from(aliceId)]]))), new Map(), Buffer.from('x'), Buffer.alloc(64)], 18)));
    await failed(noAlg, 'Missing algorithm in protected header');
  });
});
