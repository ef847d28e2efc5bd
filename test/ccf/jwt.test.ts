import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { startNode, type TestNode } from '../helpers/cli.js';
import { https } from '../helpers/https-client.js';
import { COUNTER_HANDLERS, EC, RSA, anonymous, appUrl, authEndpoint, deploy, selfSignedX5c, signJwt } from './support.js';

// JWT authentication as CCF does it (src/endpoints/authentication/jwt_auth.cpp, src/http/http_jwt.h,
// src/node/rpc/jwt_management.h), with keys in the forms CCF's tests register them
// (tests/infra/jwt_issuer.py, tests/jwt_test.py): a certificate in x5c, CCF's default (with
// `"kty": "RSA"` whatever the certificate's key), raw RSA n/e (standard base64, as the test issuer's
// to_b64 writes them) and raw EC x/y/crv.

const issuer = 'https://example.issuer';
let node: TestNode;
const keys: Record<string, CryptoKeyPair> = {};

const MODULE = `
export function whoami(request) { return { body: request.caller }; }
${COUNTER_HANDLERS}`;
const ep = authEndpoint;

before(async () => {
  node = await startNode({ users: ['alice'], members: ['m0', 'm1', 'm2'] });
  for (const kid of ['rsa-cert', 'rsa-raw', 'other']) keys[kid] = (await webcrypto.subtle.generateKey(RSA, true, ['sign', 'verify'])) as CryptoKeyPair;
  for (const kid of ['ec-cert', 'ec-raw']) keys[kid] = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const rsaRaw = (await webcrypto.subtle.exportKey('jwk', keys['rsa-raw'].publicKey)) as JsonWebKey;
  const ecRaw = (await webcrypto.subtle.exportKey('jwk', keys['ec-raw'].publicKey)) as JsonWebKey;
  const std = (u: string) => Buffer.from(u, 'base64url').toString('base64');
  const jwks = {
    keys: [
      { kty: 'RSA', kid: 'rsa-cert', x5c: [await selfSignedX5c(keys['rsa-cert'], RSA)], issuer },
      { kty: 'RSA', kid: 'ec-cert', x5c: [await selfSignedX5c(keys['ec-cert'], EC)], issuer },
      { kty: 'RSA', kid: 'rsa-raw', n: std(rsaRaw.n!), e: std(rsaRaw.e!), issuer },
      { kty: 'EC', kid: 'ec-raw', x: ecRaw.x, y: ecRaw.y, crv: 'P-256', issuer },
    ],
  };
  await deploy(
    node,
    {
      metadata: { endpoints: { '/whoami': { get: ep('whoami', 'readonly', ['jwt']) }, '/write': { post: ep('write', 'readwrite', ['jwt']) }, '/count': { get: ep('count', 'readonly', ['no_auth']) } } },
      modules: [{ name: 'app.js', module: MODULE }],
    },
    [{ name: 'set_jwt_issuer', args: { issuer, jwks } }],
  );
});
after(() => node?.cleanup());

const now = () => Math.floor(Date.now() / 1000);
const claims = (extra: Record<string, unknown> = {}) => ({ iss: issuer, nbf: now() - 10, exp: now() + 3600, user: 'Alice', ...extra });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const whoami = (headers: Record<string, string>) => https(appUrl(node, '/whoami'), anonymous(node), { headers });
const count = async () => (await https(appUrl(node, '/count'), anonymous(node))).json() as number;

describe('JWT keys in each form CCF accepts', () => {
  for (const kid of ['rsa-cert', 'ec-cert', 'rsa-raw', 'ec-raw']) {
    test(`${kid}: a token signed with the key authenticates, with CCF's caller shape`, async () => {
      const token = await signJwt(keys[kid].privateKey, kid, claims());
      const r = await whoami(bearer(token));
      assert.equal(r.status, 200, r.body.toString());
      const caller = r.json();
      assert.equal(caller.policy, 'jwt');
      assert.equal(caller.jwt.keyIssuer, issuer);
      assert.equal(caller.jwt.header.kid, kid);
      assert.equal(caller.jwt.payload.user, 'Alice');
    });
  }
});

describe('bad tokens get CCF 401s and write nothing', () => {
  const refused = async (headers: Record<string, string>, message: string | RegExp) => {
    const before = await count();
    const r = await https(appUrl(node, '/write'), anonymous(node), { method: 'POST', headers });
    assert.equal(r.status, 401, r.body.toString());
    assert.equal(r.json().error.code, 'InvalidAuthenticationInfo');
    assert.equal(r.json().error.message, 'Invalid authentication credentials.');
    const details = r.json().error.details;
    assert.equal(details.length, 1);
    assert.equal(details[0].auth_policy, 'jwt');
    assert.equal(details[0].code, 'InvalidAuthenticationInfo');
    if (typeof message === 'string') assert.equal(details[0].message, message);
    else assert.match(details[0].message, message);
    assert.equal(r.headers['www-authenticate'], 'Bearer realm="JWT bearer token access", error="invalid_token"');
    assert.equal(await count(), before);
  };

  test('the same request with a good token writes (the control)', async () => {
    const before = await count();
    const r = await https(appUrl(node, '/write'), anonymous(node), { method: 'POST', headers: bearer(await signJwt(keys['rsa-cert'].privateKey, 'rsa-cert', claims())) });
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(await count(), before + 1);
  });

  test('signed by an unknown key', async () => {
    await refused(bearer(await signJwt(keys.other.privateKey, 'unknown-kid', claims())), 'JWT signing key not found for kid unknown-kid');
  });

  test('signed by another key under a registered kid', async () => {
    await refused(bearer(await signJwt(keys.other.privateKey, 'rsa-cert', claims())), 'Signature verification failed');
  });

  test('expired, or not yet valid', async () => {
    await refused(bearer(await signJwt(keys['rsa-cert'].privateKey, 'rsa-cert', claims({ exp: now() - 60 }))), /^Current time \d+ is after token's Expiration Time \(exp\) claim \d+$/);
    await refused(bearer(await signJwt(keys['ec-raw'].privateKey, 'ec-raw', claims({ nbf: now() + 600 }))), /^Current time \d+ is before token's Not Before \(nbf\) claim \d+$/);
  });

  test("an issuer other than the key's constraint", async () => {
    await refused(bearer(await signJwt(keys['rsa-cert'].privateKey, 'rsa-cert', claims({ iss: 'https://evil.issuer' }))), `Kid rsa-cert failed issuer constraint validation ${issuer}`);
  });

  test('malformed headers and tokens', async () => {
    await refused({}, 'Missing authorization header');
    await refused({ authorization: 'Bearer' }, 'Authorization header only contains one field');
    await refused({ authorization: 'Basic abc' }, 'Authorization header does not have Bearer scheme');
    await refused({ authorization: 'Bearer a.b' }, 'Malformed JWT: must contain exactly 3 parts');
    await refused(bearer(await signJwt(keys['rsa-cert'].privateKey, 'rsa-cert', claims(), 'HS256')), /^JWT header does not follow schema: /);
    const { exp: _e, ...noExp } = claims();
    await refused(bearer(await signJwt(keys['rsa-cert'].privateKey, 'rsa-cert', noExp)), /^JWT payload is missing required field: .*exp/);
  });
});
