import assert from 'node:assert/strict';
import { createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { REPO, type TestNode, startNode } from '../helpers/cli.js';
import { passProposal } from '../helpers/gov.js';
import { https } from '../helpers/https-client.js';

// CCF's npm-app (test/fixtures/ccf-npm-app, from microsoft/CCF tests/npm-app): TypeScript, built here with
// esbuild into ES modules that share chunks (@microsoft/ccf-app, jsrsasign, protobufjs, lodash-es),
// deployed with set_js_app and driven as CCF's tests/npm_tests.py drives it (test_npm_app,
// test_apply_writes), for what concerns the JavaScript runtime.

let node: TestNode;
let bundle: { metadata: unknown; modules: Array<{ name: string; module: string }> };
before(async () => {
  const { buildBundle } = (await import(pathToFileURL(join(REPO, 'test', 'fixtures', 'ccf-npm-app', 'build.mjs')).href)) as { buildBundle(): Promise<typeof bundle> };
  bundle = await buildBundle();
  node = await startNode({ users: ['user0'], members: ['m0', 'm1', 'm2'] });
  await passProposal(node, [{ name: 'set_js_app', args: { bundle } }]);
});
after(() => node?.cleanup());

const user0 = () => ({ cert: node.identity('user0').cert, key: node.identity('user0').key, ca: node.ca });
const post = (path: string, json: unknown) => https(`https://127.0.0.1:${node.ports.https}/app${path}`, user0(), { method: 'POST', json });
const postText = (path: string, text: string) => https(`https://127.0.0.1:${node.ports.https}/app${path}`, user0(), { method: 'POST', body: Buffer.from(text), headers: { 'content-type': 'text/plain' } });
const get = (path: string) => https(`https://127.0.0.1:${node.ports.https}/app${path}`, user0());
const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64');

describe("CCF's npm-app", () => {
  test('the build shares modules between endpoint modules, as rollup preserveModules does', () => {
    const names = bundle.modules.map((m) => m.name);
    assert.ok(names.includes('endpoints/crypto.js') && names.includes('endpoints/proto.js'));
    const chunks = names.filter((n) => !n.startsWith('endpoints/'));
    assert.ok(chunks.length > 0, 'shared chunks exist');
    const importers = (chunk: string) => bundle.modules.filter((m) => m.module.includes(`/${chunk}"`) || m.module.includes(`./${chunk}"`)).length;
    assert.ok(chunks.some((c) => importers(c) >= 2), 'a module is imported by two or more others');
  });

  test('partition (lodash-es) and proto (protobufjs: each module evaluated once, no "Cannot redefine property: decorateRoot")', async () => {
    const partition = await post('/partition', [1, 2, 3, 4]);
    assert.equal(partition.status, 200, partition.body.toString());
    assert.deepEqual(partition.json(), [[1, 3], [2, 4]]);
    for (let i = 0; i < 2; i++) {
      // CCF's Python client sends json.dumps([1, 2, 3, 4]), spaces included: 12 bytes, 14 once encoded.
      const proto = await https(`https://127.0.0.1:${node.ports.https}/app/proto`, user0(), { method: 'POST', body: Buffer.from('[1, 2, 3, 4]'), headers: { 'content-type': 'application/json' } });
      assert.equal(proto.status, 200, proto.body.toString());
      assert.equal(proto.headers['content-type'], 'application/x-protobuf');
      assert.equal(proto.body.length, 14);
    }
  });

  test('converters: every KV converter writes and reads back as CCF checks', async () => {
    const set = await post('/converters/set', undefined);
    assert.equal(set.status, 200, set.body.toString());
    assert.match(set.body.toString(), /Passed/);
    const got = await get('/converters/get');
    assert.equal(got.status, 200, got.body.toString());
    assert.match(got.body.toString(), /Passed/);
  });

  test('crypto: jsrsasign loads (it calls Math.random as it does), keys, digest, HMAC, signatures', async () => {
    const available = await get('/crypto');
    assert.equal(available.status, 200, available.body.toString());
    assert.equal(available.json().available, true);

    const aes = await post('/generateAesKey', { size: 256 });
    assert.equal(aes.body.length, 32);
    assert.notDeepEqual(aes.body, Buffer.alloc(32));
    for (const [path, body] of [['/generateRsaKeyPair', { size: 2048 }], ['/generateEcdsaKeyPair', { curve: 'secp256r1' }], ['/generateEcdsaKeyPair', { curve: 'secp384r1' }], ['/generateEddsaKeyPair', { curve: 'curve25519' }], ['/generateEddsaKeyPair', { curve: 'x25519' }]] as const) {
      const r = await post(path, body);
      assert.equal(r.status, 200, `${path} ${r.body}`);
      const pair = r.json();
      assert.equal(createPublicKey(createPrivateKey(pair.privateKey)).export({ type: 'spki', format: 'pem' }), createPublicKey(pair.publicKey).export({ type: 'spki', format: 'pem' }), `${path}: a matching pair`);
    }

    const digest = await post('/digest', { algorithm: 'SHA-256', data: b64('Hello world!') });
    assert.equal(digest.body.toString(), 'c0535e4be2b79ffd93291305436bf889314e4a3faec05ecffcbb7df31ad9e51a');

    const data = Buffer.from('some data to sign');
    for (const [hash, nodeHash] of [['SHA-256', 'sha256'], ['SHA-384', 'sha384'], ['SHA-512', 'sha512']]) {
      const r = await post('/sign', { algorithm: { name: 'HMAC', hash }, key: 'super secret', data: b64(data) });
      assert.deepEqual(r.body, createHmac(nodeHash!, 'super secret').update(data).digest());
    }
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const ecPriv = ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const ecPub = ec.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const signed = await post('/sign', { algorithm: { name: 'ECDSA', hash: 'SHA-256' }, key: ecPriv, data: b64(data) });
    assert.equal(signed.status, 200, signed.body.toString());
    assert.ok(nodeVerify('sha256', data, { key: ec.publicKey, dsaEncoding: 'ieee-p1363' }, signed.body), 'the app signs in P1363 form, as CCF');
    const theirs = nodeSign('sha256', data, { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });
    assert.equal((await post('/verifySignature', { algorithm: { name: 'ECDSA', hash: 'SHA-256' }, key: ecPub, signature: b64(theirs), data: b64(data) })).json(), true);
    assert.equal((await post('/verifySignature', { algorithm: { name: 'ECDSA', hash: 'SHA-256' }, key: ecPub, signature: b64(theirs), data: b64('other data') })).json(), false);

    assert.equal((await postText('/isValidX509CertBundle', node.ca)).json(), true);
    assert.equal((await postText('/isValidX509CertBundle', `${node.ca}\n${node.ca}`)).json(), true);
    assert.equal((await postText('/isValidX509CertBundle', 'garbage')).json(), false);
  });

  test('jsrsasign signs and verifies inside the app, and interoperates with ccf.crypto', async () => {
    const r = await post('/jsrsasign', { data: 'signed by jsrsasign' });
    assert.equal(r.status, 200, r.body.toString());
    const out = r.json();
    assert.equal(out.ccfVerifiesJsrsasign, true);
    assert.equal(out.jsrsasignVerifiesCcf, true);
    for (const k of [out.ccfKey, out.ownKey]) {
      assert.ok(nodeVerify('sha256', Buffer.from('signed by jsrsasign'), createPublicKey(k.publicKey), Buffer.from(k.signature, 'hex')), 'a DER ECDSA signature the host verifies');
    }
  });

  test('log: KV items and versions (CCF test_npm_app)', async () => {
    assert.equal((await get('/log?id=42')).status, 404);
    assert.equal((await get('/log/version?id=42')).status, 404);
    assert.equal((await post('/log?id=42', { msg: 'Hello!' })).status, 200);
    assert.deepEqual((await get('/log?id=42')).json(), { id: 42, msg: 'Hello!' });
    const v0 = (await get('/log/version?id=42')).json().version;
    assert.equal((await post('/log?id=42', { msg: 'Saluton!' })).status, 200);
    const v1 = (await get('/log/version?id=42')).json().version;
    assert.ok(v1 > v0);
    assert.equal((await get('/log/version?id=43')).status, 404);
    assert.equal((await post('/log?id=43', { msg: 'Bonjour!' })).status, 200);
    const v2 = (await get('/log/version?id=43')).json().version;
    assert.ok(v2 > v1);
    const all = (await get('/log/all')).json();
    assert.equal(all.length, 2);
    assert.deepEqual(new Set(all.map((e: unknown) => JSON.stringify(e))), new Set([JSON.stringify({ id: 42, msg: 'Saluton!' }), JSON.stringify({ id: 43, msg: 'Bonjour!' })]));
    assert.equal((await get('/log/version?id=42')).json().version, v1);
  });

  test('rpc: writes apply on 2xx unless setApplyWrites says otherwise (CCF test_apply_writes)', async () => {
    const steps: Array<[Record<string, unknown>, string]> = [
      [{ val: 'aaa', statusCode: 200 }, 'aaa'],
      [{ val: 'bbb', statusCode: 202 }, 'bbb'],
      [{ val: 'ccc', statusCode: 404 }, 'bbb'],
      [{ val: 'ddd', statusCode: 500 }, 'bbb'],
      [{ val: 'eee', statusCode: 200, setApplyWrites: false }, 'bbb'],
      [{ val: 'fff', statusCode: 202, setApplyWrites: false }, 'bbb'],
      [{ val: 'ggg', statusCode: 404, setApplyWrites: true }, 'ggg'],
      [{ val: 'hhh', statusCode: 500, setApplyWrites: true }, 'hhh'],
    ];
    for (const [body, expected] of steps) {
      assert.equal((await post('/rpc/apply_writes', body)).status, body.statusCode);
      const r = await get('/rpc/apply_writes');
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), expected, JSON.stringify(body));
    }
  });

  test('throw: an exception is 500 "Exception thrown while executing." without details by default (CCF modules.py)', async () => {
    const r = await get('/throw');
    assert.equal(r.status, 500);
    assert.deepEqual(r.json(), { error: { code: 'InternalError', message: 'Exception thrown while executing.' } });
  });
});
