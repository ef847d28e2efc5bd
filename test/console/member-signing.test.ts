import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, generateKeyPairSync, webcrypto } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Decoder, Tag } from 'cbor-x';
import { certIdOfPem as nodeCertIdOfPem, createCertificateAuthority, issueCertificate } from '../../src/crypto/certificates.js';
import { decodeCoseSign1, signCoseSign1 } from '../../src/crypto/cose.js';
import { identitiesDirOf } from '../../src/node/datadir.js';
import { ACCEPT_BALLOT } from '../../src/sdk/member.js';
import { certIdOfPem, importMemberIdentity, importMemberPkcs12, type MemberIdentity, signGovMessage } from '../../src/console/lib/member-signing.js';
import { REPO, type TestNode, startNode, tempDir } from '../helpers/cli.js';
import { API } from '../helpers/gov.js';
import { https } from '../helpers/https-client.js';

const text = (s: unknown) => new TextEncoder().encode(typeof s === 'string' ? s : JSON.stringify(s));
const decoder = new Decoder({ mapsAsObjects: false, useRecords: false });
/** [protected header bytes, unprotected, payload, signature] of an envelope. */
const parts = (envelope: Uint8Array) => (decoder.decode(envelope) as Tag).value as Uint8Array[];

/** A P-256 (or P-384) member key and certificate, as tessera issues them. */
async function freshMember(curve: 'P-256' | 'P-384' = 'P-256') {
  const ca = await createCertificateAuthority('test CA');
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: curve }, true, ['sign', 'verify'])) as CryptoKeyPair;
  return issueCertificate(ca, { name: `member-${curve}`, role: 'member' }, keys);
}

describe('envelopes the node decodes', () => {
  let p256: { certPem: string; keyPem: string };
  let id: MemberIdentity;
  before(async () => {
    p256 = await freshMember();
    id = await importMemberIdentity(p256.keyPem, p256.certPem);
  });

  test('decodeCoseSign1 reads a ballot, its signature verifies with the certificate, and its fields are as given', async () => {
    const payload = text({ ballot: ACCEPT_BALLOT });
    const proposalId = 'ab'.repeat(32);
    const envelope = await signGovMessage(id, 'ballot', payload, { proposalId, createdAt: 1_750_000_000 });
    const msg = decodeCoseSign1(Buffer.from(envelope));
    assert.equal(msg.verify(new X509Certificate(p256.certPem)), true);
    assert.equal(msg.kid, nodeCertIdOfPem(p256.certPem));
    assert.equal(id.memberId, nodeCertIdOfPem(p256.certPem));
    assert.equal(await certIdOfPem(p256.certPem), nodeCertIdOfPem(p256.certPem));
    assert.deepEqual({ type: msg.type, createdAt: msg.createdAt, proposalId: msg.proposalId }, { type: 'ballot', createdAt: 1_750_000_000, proposalId });
    assert.deepEqual(new Uint8Array(msg.payload), payload);
    // Not signed by another key.
    assert.equal(msg.verify(new X509Certificate((await freshMember()).certPem)), false);
  });

  test('the protected header is byte for byte the one signCoseSign1 (Node crypto) writes, and so is the envelope around the signature', async () => {
    for (const opts of [{ createdAt: 1_700_000_000 }, { createdAt: 42, proposalId: 'cd'.repeat(32) }]) {
      const ours = parts(await signGovMessage(id, 'withdrawal', text(''), opts));
      const theirs = parts(signCoseSign1({ key: createPrivateKey(p256.keyPem), kid: id.memberId, type: 'withdrawal', payload: Buffer.alloc(0), ...opts }));
      assert.deepEqual(Buffer.from(ours[0]), Buffer.from(theirs[0]));
      assert.equal(ours[3].length, 64, 'P-256 r || s');
    }
    const payload = text({ actions: [] });
    const mine = await signGovMessage(id, 'proposal', payload, { createdAt: 1_700_000_000 });
    const node = signCoseSign1({ key: createPrivateKey(p256.keyPem), kid: id.memberId, type: 'proposal', payload: Buffer.from(payload), createdAt: 1_700_000_000 });
    // Same bytes except the 64 signature bytes at the end (ECDSA signatures are randomised).
    assert.equal(mine.length, node.length);
    assert.deepEqual(Buffer.from(mine.subarray(0, -64)), node.subarray(0, -64));
  });

  test('created_at defaults to now; no proposal id unless given', async () => {
    const before = Math.floor(Date.now() / 1000);
    const msg = decodeCoseSign1(Buffer.from(await signGovMessage(id, 'proposal', text({ actions: [] }))));
    assert.ok(msg.createdAt >= before && msg.createdAt <= Math.floor(Date.now() / 1000) + 1);
    assert.equal(msg.proposalId, undefined);
    assert.equal(msg.type, 'proposal');
  });

  test('a P-384 member signs ES384 (alg -35, 96-byte signature) and the node verifies it', async () => {
    const p384 = await freshMember('P-384');
    const id384 = await importMemberIdentity(p384.keyPem, p384.certPem);
    assert.equal(id384.curve, 'P-384');
    const envelope = await signGovMessage(id384, 'ack', text({ state_digest: 'x' }));
    const header = decoder.decode(parts(envelope)[0]) as Map<unknown, unknown>;
    assert.equal(header.get(1), -35);
    assert.equal(parts(envelope)[3].length, 96);
    assert.equal(decodeCoseSign1(Buffer.from(envelope)).verify(new X509Certificate(p384.certPem)), true);
  });

  test('a SEC1 "EC PRIVATE KEY" imports too, and signs envelopes that verify', async () => {
    const sec1 = createPrivateKey(p256.keyPem).export({ format: 'pem', type: 'sec1' }) as string;
    assert.match(sec1, /BEGIN EC PRIVATE KEY/);
    const fromSec1 = await importMemberIdentity(sec1, p256.certPem);
    assert.equal(fromSec1.memberId, id.memberId);
    const msg = decodeCoseSign1(Buffer.from(await signGovMessage(fromSec1, 'proposal', text({ actions: [] }))));
    assert.equal(msg.verify(new X509Certificate(p256.certPem)), true);
    // OpenSSL's `ecparam -genkey` puts an EC PARAMETERS block first.
    const withParams = `-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n${sec1}`;
    assert.equal((await importMemberIdentity(withParams, p256.certPem)).curve, 'P-256');
  });

  test('the imported key is not extractable and only signs', async () => {
    assert.equal(id.key.extractable, false);
    assert.deepEqual(id.key.usages, ['sign']);
    assert.equal(id.key.type, 'private');
    await assert.rejects(webcrypto.subtle.exportKey('pkcs8', id.key));
    await assert.rejects(webcrypto.subtle.exportKey('jwk', id.key));
  });

  test('a key of another certificate, an RSA key, other curves, and garbage are refused with a clear Error', async () => {
    const other = await freshMember();
    await assert.rejects(importMemberIdentity(other.keyPem, p256.certPem), { message: 'the private key does not match the certificate’s public key' });
    const p384 = await freshMember('P-384');
    await assert.rejects(importMemberIdentity(p384.keyPem, p256.certPem), { message: 'the private key (P-384) does not match the certificate, whose key is P-256' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    await assert.rejects(importMemberIdentity(rsa.export({ format: 'pem', type: 'pkcs8' }) as string, p256.certPem), {
      message: 'the private key is an RSA key; member keys are ECDSA P-256 or P-384',
    });
    await assert.rejects(importMemberIdentity(rsa.export({ format: 'pem', type: 'pkcs1' }) as string, p256.certPem), {
      message: 'the private key is an RSA key; member keys are ECDSA P-256 or P-384',
    });
    const ed = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    await assert.rejects(importMemberIdentity(ed, p256.certPem), { message: 'the private key is an Ed25519 key; member keys are ECDSA P-256 or P-384' });
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    await assert.rejects(importMemberIdentity(k1, p256.certPem), { message: 'the private key is on curve secp256k1; member keys are ECDSA P-256 or P-384' });
    await assert.rejects(importMemberIdentity('hello, I am not a key', p256.certPem), {
      message: 'the private key is not PEM: expected a -----BEGIN PRIVATE KEY----- or -----BEGIN EC PRIVATE KEY----- block',
    });
    await assert.rejects(importMemberIdentity('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', p256.certPem), {
      message: 'the private key is not a valid key: not a PKCS#8 PrivateKeyInfo',
    });
    const truncated = `-----BEGIN PRIVATE KEY-----\n${p256.keyPem.split('\n')[1].slice(0, 40)}\n-----END PRIVATE KEY-----\n`;
    await assert.rejects(importMemberIdentity(truncated, p256.certPem), { message: 'the private key is not a valid key: not valid DER' });
    await assert.rejects(importMemberIdentity('-----BEGIN PRIVATE KEY-----\n%%%%\n-----END PRIVATE KEY-----\n', p256.certPem), { message: 'the PRIVATE KEY PEM block is not valid base64' });
    await assert.rejects(importMemberIdentity(p256.certPem, p256.certPem), { message: 'the private key PEM holds CERTIFICATE, not a PRIVATE KEY or EC PRIVATE KEY block' });
    const encrypted = createPrivateKey(p256.keyPem).export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'pw' }) as string;
    await assert.rejects(importMemberIdentity(encrypted, p256.certPem), /the private key is encrypted \(ENCRYPTED PRIVATE KEY\)/);
    await assert.rejects(importMemberIdentity(p256.keyPem, 'garbage'), { message: 'the certificate is not PEM: expected a -----BEGIN CERTIFICATE----- block' });
    await assert.rejects(importMemberIdentity(p256.keyPem, p256.keyPem), { message: 'the certificate is not PEM: expected a -----BEGIN CERTIFICATE----- block' });
    for (const bad of [other.keyPem, rsa.export({ format: 'pem', type: 'pkcs8' }) as string, 'garbage']) {
      await assert.rejects(importMemberIdentity(bad, p256.certPem), (err: unknown) => err instanceof Error && err.constructor === Error);
    }
  });
});

const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version']);
    return true;
  } catch {
    return false;
  }
})();

describe('PKCS#12 files (made with the openssl command, as a member would)', { skip: !hasOpenssl && 'no openssl command' }, () => {
  let dir: string;
  let mine: { certPem: string; keyPem: string };
  let caPem: string;
  /** `openssl pkcs12 -export` of the member's key and certificate (and a CA certificate), with `args`. */
  const p12 = (args: string[], password = 'correct horse') => {
    const out = join(dir, 'out.p12');
    execFileSync('openssl', ['pkcs12', '-export', '-inkey', join(dir, 'key.pem'), '-in', join(dir, 'cert.pem'), '-certfile', join(dir, 'ca.pem'), '-passout', `pass:${password}`, '-out', out, ...args], { stdio: 'pipe' });
    return new Uint8Array(readFileSync(out));
  };
  before(async () => {
    dir = tempDir('tessera-p12-');
    const ca = await createCertificateAuthority('member CA');
    caPem = ca.certPem;
    mine = await issueCertificate(ca, { name: 'p12-member', role: 'member' });
    writeFileSync(join(dir, 'key.pem'), mine.keyPem);
    writeFileSync(join(dir, 'cert.pem'), mine.certPem);
    writeFileSync(join(dir, 'ca.pem'), ca.certPem);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('OpenSSL 3 defaults (PBES2 AES-256-CBC, HMAC-SHA256 MAC): the member certificate is chosen over the CA one, the key is not extractable, envelopes verify', async () => {
    const id = await importMemberPkcs12(p12([]), 'correct horse');
    assert.equal(id.memberId, nodeCertIdOfPem(mine.certPem));
    assert.notEqual(id.memberId, nodeCertIdOfPem(caPem));
    assert.equal(new X509Certificate(id.certPem).fingerprint256, new X509Certificate(mine.certPem).fingerprint256);
    assert.equal(id.key.extractable, false);
    await assert.rejects(webcrypto.subtle.exportKey('pkcs8', id.key));
    const msg = decodeCoseSign1(Buffer.from(await signGovMessage(id, 'proposal', text({ actions: [] }))));
    assert.equal(msg.verify(new X509Certificate(mine.certPem)), true);
    assert.equal(msg.kid, nodeCertIdOfPem(mine.certPem));
  });

  test('other AES variants: unencrypted certificates, no MAC, AES-128 with SHA-1 PBKDF2, a SHA-512 MAC, an empty and a non-ASCII password', async () => {
    const expected = nodeCertIdOfPem(mine.certPem);
    assert.equal((await importMemberPkcs12(p12(['-certpbe', 'NONE']), 'correct horse')).memberId, expected);
    assert.equal((await importMemberPkcs12(p12(['-nomac']), 'correct horse')).memberId, expected);
    assert.equal((await importMemberPkcs12(p12(['-keypbe', 'AES-128-CBC', '-certpbe', 'AES-128-CBC', '-macalg', 'sha512']), 'correct horse')).memberId, expected);
    assert.equal((await importMemberPkcs12(p12([], ''), '')).memberId, expected);
    assert.equal((await importMemberPkcs12(p12([], 'pässwörd'), 'pässwörd')).memberId, expected);
  });

  test('a wrong password, a legacy 3DES file, and bytes that are not PKCS#12 are refused with a clear Error', async () => {
    await assert.rejects(importMemberPkcs12(p12([]), 'wrong'), { message: 'the PKCS#12 file could not be opened: wrong password' });
    await assert.rejects(importMemberPkcs12(p12(['-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES', '-macalg', 'sha1']), 'correct horse'), {
      message:
        'the PKCS#12 file is encrypted with the legacy 3DES scheme, which browsers cannot decrypt: re-export it with AES, e.g. openssl pkcs12 -export -keypbe AES-256-CBC -certpbe AES-256-CBC -macalg sha256',
    });
    await assert.rejects(importMemberPkcs12(new TextEncoder().encode(mine.keyPem), 'x'), { message: 'the PKCS#12 file is PEM text, not a .p12/.pfx file: import it as a PEM key and certificate' });
    await assert.rejects(importMemberPkcs12(Uint8Array.of(0x04, 0x00), 'x'), { message: 'the PKCS#12 file is not valid: not a PFX structure' });
    await assert.rejects(importMemberPkcs12(p12([]).subarray(0, 100), 'correct horse'), { message: 'the PKCS#12 file is not valid: not valid DER' });
    const keyOnly = join(dir, 'key-only.p12');
    execFileSync('openssl', ['pkcs12', '-export', '-inkey', join(dir, 'key.pem'), '-nocerts', '-passout', 'pass:pw', '-out', keyOnly], { stdio: 'pipe' });
    await assert.rejects(importMemberPkcs12(new Uint8Array(readFileSync(keyOnly)), 'pw'), { message: 'the PKCS#12 file holds no certificate' });
    await assert.rejects(importMemberPkcs12(new TextEncoder().encode('hello'), 'x'), { message: 'the PKCS#12 file is not valid: not valid DER' });
  });
});

describe('against a real node', () => {
  let node: TestNode;
  const ids: Record<string, MemberIdentity> = {};
  let tls: { cert: string; key: string; ca: string };
  const url = (path: string) => `https://127.0.0.1:${node.ports.https}${path}?${API}`;
  const post = (path: string, body: Uint8Array) => https(url(path), tls, { method: 'POST', body: Buffer.from(body), headers: { 'content-type': 'application/cose' } });
  const proposal = () => readFileSync(join(REPO, 'test', 'fixtures', 'math-proposal.json'));

  before(async () => {
    node = await startNode({ users: [], members: ['m0', 'm1', 'm2'] });
    for (const name of ['m0', 'm1', 'm2']) {
      const dir = join(identitiesDirOf(node.dir), name);
      ids[name] = await importMemberIdentity(readFileSync(join(dir, 'key.pem'), 'utf8'), readFileSync(join(dir, 'cert.pem'), 'utf8'));
    }
    // The TLS connection is m0's (the /gov routes take mutual TLS); every envelope carries its own signer.
    const m0 = join(identitiesDirOf(node.dir), 'm0');
    tls = { cert: readFileSync(join(m0, 'cert.pem'), 'utf8'), key: readFileSync(join(m0, 'key.pem'), 'utf8'), ca: node.ca };
  });
  after(() => node?.cleanup());

  test('a proposal, two ballots, a withdrawal and a late ballot, all signed in WebCrypto', async () => {
    const created = await post('/gov/members/proposals:create', await signGovMessage(ids.m0, 'proposal', proposal()));
    assert.equal(created.status, 200, created.body.toString());
    const p = created.json();
    assert.match(p.proposalId, /^[0-9a-f]{64}$/);
    assert.equal(p.proposerId, ids.m0.memberId);
    assert.equal(p.proposalState, 'Open');

    const vote = (who: string, proposalId: string) =>
      signGovMessage(ids[who], 'ballot', text({ ballot: ACCEPT_BALLOT }), { proposalId }).then((e) => post(`/gov/members/proposals/${proposalId}/ballots/${ids[who].memberId}:submit`, e));
    const first = await vote('m0', p.proposalId);
    assert.equal(first.status, 200, first.body.toString());
    assert.equal(first.json().proposalState, 'Open');
    const second = await vote('m1', p.proposalId);
    assert.equal(second.status, 200, second.body.toString());
    assert.equal(second.json().proposalState, 'Accepted');

    // The refusal the console shows for a ballot on a closed proposal.
    const late = await vote('m2', p.proposalId);
    assert.equal(late.status, 400);
    assert.deepEqual(late.json().error, { code: 'ProposalNotOpen', message: `Proposal ${p.proposalId} is currently in state Accepted - only Open proposals can receive votes` });

    const again = await post('/gov/members/proposals:create', await signGovMessage(ids.m0, 'proposal', proposal()));
    assert.equal(again.status, 200, again.body.toString());
    const q = again.json().proposalId;
    const withdrawn = await post(`/gov/members/proposals/${q}:withdraw`, await signGovMessage(ids.m0, 'withdrawal', new Uint8Array(0), { proposalId: q }));
    assert.equal(withdrawn.status, 200, withdrawn.body.toString());
    assert.equal(withdrawn.json().proposalState, 'Withdrawn');
    const afterWithdrawal = await vote('m1', q);
    assert.equal(afterWithdrawal.status, 400);
    assert.deepEqual(afterWithdrawal.json().error, { code: 'ProposalNotOpen', message: `Proposal ${q} is currently in state Withdrawn - only Open proposals can receive votes` });
  });

  test('an envelope of the wrong type is refused with the node’s 401', async () => {
    const wrong = await post('/gov/members/proposals:create', await signGovMessage(ids.m0, 'ballot', proposal()));
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json().error.message, 'Found ccf.gov.msg.type set to ballot, expected ccf.gov.msg.type to be proposal');
  });
});
