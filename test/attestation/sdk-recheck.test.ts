import assert from 'node:assert/strict';
import { X509Certificate, generateKeyPairSync, sign } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pino from 'pino';
import { AttestedIdentity } from '../../src/attestation/attested-identity.js';
import { softwareProvider } from '../../src/attestation/software.js';
import { createCertificateAuthority } from '../../src/crypto/certificates.js';
import { NodeVerifier } from '../../src/sdk/verification.js';

// Issue 23 review: the SDK kept a verified node certificate forever, so evidence that had grown too old (and
// collateral that had expired since) was never judged again on a long-lived client. Now a verification lasts
// until the evidence passes its allowed age (and ten minutes at most).

const dir = mkdtempSync(join(tmpdir(), 'tessera-recheck-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const measurement = { mr_enclave: 'a'.repeat(64), mr_signer: 'b'.repeat(64) };
const keyFiles = { exists: (p: string) => existsSync(p), read: (p: string) => readFileSync(p, 'utf8'), write: (p: string, _r: string, pem: string) => writeFileSync(p, pem, { mode: 0o600 }) };

test('a verified certificate is checked again once its evidence is older than the allowed age', async () => {
  const ca = await createCertificateAuthority('test CA');
  const identity = new AttestedIdentity({ ca, provider: softwareProvider({ keyFiles, path: join(dir, 'platform.pem') }), measurement, maxAgeMs: 86_400_000, logger: pino({ level: 'silent' }) });
  const pair = await identity.issue();
  const info = Buffer.from(`[node]\nmr_enclave = "${measurement.mr_enclave}"\nmr_signer = "${measurement.mr_signer}"\n`);
  const auditor = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const verifier = new NodeVerifier({
    enclaveInfo: info,
    auditors: [{ name: 'auditor', publicKey: auditor.publicKey.export({ format: 'pem', type: 'spki' }) as string, signature: sign('sha256', info, auditor.privateKey) }],
    maxEvidenceAgeMs: 1500,
  });
  const cert = new X509Certificate(pair.certPem);
  assert.equal(verifier.check(cert.raw, cert.fingerprint256)?.provider, 'software');
  await new Promise((resolve) => setTimeout(resolve, 1700));
  assert.throws(() => verifier.check(cert.raw, cert.fingerprint256), /stale evidence: made .*; at most 2 s is accepted/);
});
