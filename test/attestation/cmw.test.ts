import 'reflect-metadata';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import * as asn1js from 'asn1js';
import * as x509 from '@peculiar/x509';
import pino from 'pino';
import { AttestedIdentity } from '../../src/attestation/attested-identity.js';
import { CMW_OID, EVIDENCE_MEDIA_TYPE, LEGACY_EVIDENCE_OID } from '../../src/attestation/cmw.js';
import { softwareProvider } from '../../src/attestation/software.js';
import { evidenceOf, verifyNodeCertificate } from '../../src/attestation/verify.js';
import { createCertificateAuthority, issueCertificate, newKeyPair } from '../../src/crypto/certificates.js';

// Issue 23, point 4: the evidence rides in the X.509 extension RFC 9999 registers for RATS Conceptual
// Message Wrappers (id-pe-cmw, 1.3.6.1.5.5.7.1.35), as a JSON CMW record marked as Evidence, instead of
// under a private OID. Certificates of nodes from before the change (private OID) are still read.

const dir = mkdtempSync(join(tmpdir(), 'tessera-cmw-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const ca = await createCertificateAuthority('test CA');
const measurement = { mr_enclave: 'a'.repeat(64), mr_signer: 'b'.repeat(64) };
const keyFiles = { exists: (p: string) => existsSync(p), read: (p: string) => readFileSync(p, 'utf8'), write: (p: string, _r: string, pem: string) => writeFileSync(p, pem, { mode: 0o600 }) };
const identity = new AttestedIdentity({ ca, provider: softwareProvider({ keyFiles, path: join(dir, 'platform.pem') }), measurement, maxAgeMs: 86_400_000, logger: pino({ level: 'silent' }) });

const extensionOf = (certPem: string, oid: string) => new x509.X509Certificate(certPem).getExtension(oid);

describe('evidence in a RATS CMW (RFC 9999)', () => {
  test("a node's certificate carries id-pe-cmw: a JSON record [media type, base64url evidence, 4 = Evidence], and no private OID", async () => {
    const pair = await identity.issue();
    assert.equal(extensionOf(pair.certPem, LEGACY_EVIDENCE_OID), null);
    const ext = extensionOf(pair.certPem, CMW_OID);
    assert.ok(ext, 'the id-pe-cmw extension');
    assert.equal(ext.critical, false);
    const value = asn1js.fromBER(new Uint8Array(ext.value)).result;
    assert.ok(value instanceof asn1js.Utf8String, 'the JSON form of CMW ::= CHOICE is a UTF8String');
    const record = JSON.parse(value.getValue()) as [string, string, number];
    assert.equal(record[0], EVIDENCE_MEDIA_TYPE);
    assert.equal(record[2], 4);
    assert.deepEqual(JSON.parse(Buffer.from(record[1], 'base64url').toString()), pair.evidence);
    const v = verifyNodeCertificate(new X509Certificate(pair.certPem).raw, { allowed: [measurement], maxAgeMs: 86_400_000 });
    assert.equal(v.provider, 'software');
  });

  test('a certificate from before the CMW (evidence JSON under the private OID) is still read', async () => {
    const pair = await identity.issue();
    const { keys } = await newKeyPair();
    const legacy = await issueCertificate(ca, { name: 'node', role: 'service', extensions: { [LEGACY_EVIDENCE_OID]: Buffer.from(JSON.stringify(pair.evidence)) } }, keys);
    assert.deepEqual(evidenceOf(new X509Certificate(legacy.certPem).raw), pair.evidence);
  });

  test('a CMW that is CBOR, of another media type, not marked Evidence, or not JSON is refused, saying what it is', async () => {
    const pair = await identity.issue();
    const evidence = Buffer.from(JSON.stringify(pair.evidence)).toString('base64url');
    const withValue = async (value: ArrayBuffer) => {
      const cert = await issueCertificate(ca, { name: 'node', role: 'service', extensions: { [CMW_OID]: Buffer.from(value) } });
      return () => evidenceOf(new X509Certificate(cert.certPem).raw);
    };
    const json = (record: unknown) => new asn1js.Utf8String({ value: JSON.stringify(record) }).toBER();
    assert.throws(await withValue(new asn1js.OctetString({ valueHex: new Uint8Array([0x82, 0x01, 0x02]) }).toBER()), /carries a CBOR CMW; Tessera reads the JSON form/);
    assert.throws(await withValue(json(['application/eat+jwt', evidence, 4])), /the CMW in the node certificate is 'application\/eat\+jwt', not Tessera evidence/);
    assert.throws(await withValue(json([EVIDENCE_MEDIA_TYPE, evidence, 8])), /is not marked as Evidence \(indicator 8\)/);
    assert.throws(await withValue(new asn1js.Utf8String({ value: '{not json' }).toBER()), /the CMW in the node certificate is not valid JSON/);
    assert.throws(await withValue(json({ type: EVIDENCE_MEDIA_TYPE })), /is not a record \[type, value, indicator\]/);
    assert.throws(await withValue(new asn1js.Integer({ value: 5 }).toBER()), /neither a JSON \(UTF8String\) nor a CBOR \(OCTET STRING\) CMW/);
  });
});
