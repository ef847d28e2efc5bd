import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { EVIDENCE_OID, encodeEvidence, type Evidence } from '../../src/attestation/evidence.js';
import { verifyNodeCertificate } from '../../src/attestation/verify.js';
import { createCertificateAuthority, issueCertificate } from '../../src/crypto/certificates.js';
import { TesseraError } from '../../src/errors/index.js';
import { REPO } from '../helpers/cli.js';

// Malformed evidence in a node certificate must be refused with a TesseraError that says what is wrong: the
// verifier runs inside TLS's server-identity callback, where a RangeError or TypeError would surface as a
// confusing connection failure (found by review: each input below threw one before).

const ca = await createCertificateAuthority('test CA');
const measurement = { mr_enclave: 'a'.repeat(64), mr_signer: 'b'.repeat(64) };
const quote4 = readFileSync(join(REPO, 'test', 'fixtures', 'attestation', 'tdx', 'trustee', 'tdx_quote_4.dat'));

async function refusedWith(evidence: Record<string, unknown>, why: RegExp) {
  const pair = await issueCertificate(ca, { name: 'node', role: 'service', extensions: { [EVIDENCE_OID]: encodeEvidence(evidence as unknown as Evidence) } });
  const der = new X509Certificate(pair.certPem).raw;
  assert.throws(
    () => verifyNodeCertificate(der, { allowed: [measurement], maxAgeMs: 86_400_000 }),
    (err: unknown) => err instanceof TesseraError && err.code === 'permission_denied' && /^attestation check failed: /.test(err.message) && why.test(err.message),
  );
}

const base = { version: 1, ...measurement, timestamp: new Date().toISOString(), auxiliary: null };

test('a provider name that is a property of every object (constructor, __proto__, hasOwnProperty) is an unknown provider', async () => {
  for (const provider of ['constructor', '__proto__', 'hasOwnProperty', 'toString']) {
    await refusedWith({ ...base, provider, report: '' }, new RegExp(`unknown attestation provider '${provider}'`));
  }
});

test('evidence fields of the wrong type are refused as malformed', async () => {
  await refusedWith({ ...base, provider: 'sev-snp', report: '', auxiliary: 5 }, /the evidence in the node certificate is malformed/);
  await refusedWith({ ...base, provider: 'sev-snp', report: '', mr_enclave: 7 }, /the evidence in the node certificate is malformed/);
});

test('TDX quotes whose lengths lie are refused as truncated, not read past their end', async () => {
  const noSignatureData = Buffer.alloc(636);
  noSignatureData.writeUInt16LE(4, 0);
  noSignatureData.writeUInt16LE(2, 2);
  noSignatureData.writeUInt32LE(0x81, 4);
  Buffer.from('939a7233f79c4ca9940a0db3957f0607', 'hex').copy(noSignatureData, 12);
  await refusedWith({ ...base, provider: 'tdx', report: noSignatureData.toString('base64') }, /the TDX quote is truncated: the quote signature would end at byte/);
  // The real quote with its QE authentication data length set to 0xffff.
  const lying = Buffer.from(quote4);
  const qeAuthLength = 632 + 4 + 128 + 6 + 384 + 64;
  lying.writeUInt16LE(0xffff, qeAuthLength);
  await refusedWith({ ...base, provider: 'tdx', report: lying.toString('base64') }, /the TDX quote is truncated: the QE authentication data would end at byte \d+, and the quote has 4936/);
});

test('a certificate in the evidence that is not one, and a software report that is not JSON, are refused saying so', async () => {
  const bad = Buffer.from('-----BEGIN CERTIFICATE-----AAAA-----END CERTIFICATE-----').toString('base64');
  const report = Buffer.alloc(0x4a0);
  report.writeUInt32LE(2, 0);
  report.writeUInt32LE(1, 0x34);
  await refusedWith({ ...base, provider: 'sev-snp', report: report.toString('base64'), auxiliary: bad }, /certificate 1 of the evidence's chain is not a valid X.509 certificate/);
  await refusedWith({ ...base, provider: 'software', report: Buffer.from('null').toString('base64') }, /software/);
});
