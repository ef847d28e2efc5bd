import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startNode, type TestNode } from '../helpers/cli.js';
import { member, passProposal } from '../helpers/gov.js';
import { https } from '../helpers/https-client.js';
import { EC, selfSignedX5c } from './support.js';

// Signing keys an issuer cannot use are refused when they are proposed, as CCF's node refuses to store them
// (src/node/rpc/jwt_management.h, set_jwt_public_signing_keys: no keys, no kid, no usable public key) and
// CCF's default constitution checks their shape (samples/constitutions/default/actions.js, checkJwks).
// Nothing is stored: the issuer's keys stay as they were.

let node: TestNode;
before(async () => {
  node = await startNode({ members: ['m0', 'm1', 'm2'] });
});
after(() => node.cleanup());

const jwkSet = async () => (await https(`https://127.0.0.1:${node.ports.https}/gov/service/jwk?api-version=2024-07-01`, { ca: node.ca })).json();
const propose = (keys: unknown[]) => member(node, 'm0').propose({ actions: [{ name: 'set_jwt_issuer', args: { issuer: 'https://issuer.example', jwks: { keys } } }] });

test('an issuer whose keys cannot be used is refused at proposal time, and nothing is stored', async () => {
  const pair = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  await passProposal(node, [{ name: 'set_jwt_issuer', args: { issuer: 'https://issuer.example', jwks: { keys: [{ kty: 'EC', kid: 'good', x5c: [await selfSignedX5c(pair, EC)] }] } } }]);
  const before = await jwkSet();
  assert.ok(JSON.stringify(before).includes('good'), JSON.stringify(before));

  const cases: Array<[string, unknown[], RegExp]> = [
    ['no keys', [], /JWKS has no keys/],
    ['a key with no key material', [{ kty: 'RSA', kid: 'empty' }], /JWK must contain either x5c, or n\/e for RSA key type, or x\/y\/crv for EC key type/],
    ['an x5c that is no certificate', [{ kty: 'RSA', kid: 'junk', x5c: [Buffer.from('not a certificate').toString('base64')] }], /JWT signing key junk: /],
    ['a key without kid', [{ kty: 'RSA', x5c: [await selfSignedX5c(pair, EC)] }], /kid must be of type string/],
  ];
  for (const [what, keys, message] of cases) {
    const r = await propose(keys);
    assert.equal(r.status, 400, `${what}: ${r.body.toString()}`);
    assert.equal(r.json().error.code, 'ProposalFailedToValidate', what);
    assert.match(r.json().error.message, message, what);
  }
  assert.deepEqual(await jwkSet(), before, 'the issuer keeps the keys it had');
});
