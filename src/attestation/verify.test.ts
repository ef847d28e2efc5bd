import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createCertificateAuthority, issueCertificate, newKeyPair } from '../crypto/certificates.js';
import { snpReport, tdxQuote, testChain, testSnpPlatform, vcekExtensions } from '../../test/helpers/tee-fixtures.js';
import { EVIDENCE_OID, type Evidence, type ProviderName, encodeEvidence, reportDataFor } from './evidence.js';
import { softwareProvider } from './software.js';
import { certTableToPem } from './sev-snp.js';
import { verifyNodeCertificate } from './verify.js';
import { X509Certificate } from 'node:crypto';

const dir = mkdtempSync(join(tmpdir(), 'tessera-attest-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const measurement = { mr_enclave: 'a'.repeat(64), mr_signer: 'b'.repeat(64) };
const ca = await createCertificateAuthority('test CA');
const allowed = [measurement];
const day = 86_400_000;

/** A node certificate carrying `evidence` built by `attest` over report data for the key it names. */
async function certWith(provider: ProviderName, attest: (reportData: Buffer) => Promise<{ report: Buffer; auxiliary: Buffer | null }>, opts: { bindTo?: Buffer; timestamp?: string } = {}) {
  const { keys, spki } = await newKeyPair();
  const timestamp = opts.timestamp ?? new Date().toISOString();
  const { report, auxiliary } = await attest(reportDataFor(opts.bindTo ?? spki, measurement, timestamp));
  const evidence: Evidence = { version: 1, provider, ...measurement, timestamp, report: report.toString('base64'), auxiliary: auxiliary ? auxiliary.toString('base64') : null };
  const pair = await issueCertificate(ca, { name: 'node', role: 'service', extensions: { [EVIDENCE_OID]: encodeEvidence(evidence) } }, keys);
  return { der: new X509Certificate(pair.certPem).raw, spki };
}

/** Key files kept in the clear: the node seals them (kms/key-files.ts), which is not what is tested here. */
const plainKeyFiles = { exists: (p: string) => existsSync(p), read: (p: string) => readFileSync(p, 'utf8'), write: (p: string, _role: string, pem: string) => writeFileSync(p, pem, { mode: 0o600 }) };

describe('software evidence', () => {
  const provider = softwareProvider({ keyFiles: plainKeyFiles, path: join(dir, 'platform.key.pem') });

  test('verifies when bound to the certificate key, fresh, and listed', async () => {
    const { der } = await certWith('software', (rd) => provider.attest(rd));
    const v = verifyNodeCertificate(der, { allowed, maxAgeMs: day });
    assert.equal(v.provider, 'software');
    assert.equal(v.hardware, false);
    assert.match(v.description, /proves nothing about the hardware/);
  });

  test('evidence for another key is refused', async () => {
    const other = await newKeyPair();
    const { der } = await certWith('software', (rd) => provider.attest(rd), { bindTo: other.spki });
    assert.throws(() => verifyNodeCertificate(der, { allowed, maxAgeMs: day }), /the evidence is for another key: it does not match the TLS key of this connection/);
  });

  test('stale evidence, and evidence from the future, are refused', async () => {
    const old = await certWith('software', (rd) => provider.attest(rd), { timestamp: new Date(Date.now() - 2 * day).toISOString() });
    assert.throws(() => verifyNodeCertificate(old.der, { allowed, maxAgeMs: day }), /stale evidence: made .*, 17280\d s ago; at most 86400 s is accepted/);
    const future = await certWith('software', (rd) => provider.attest(rd), { timestamp: new Date(Date.now() + day).toISOString() });
    assert.throws(() => verifyNodeCertificate(future.der, { allowed, maxAgeMs: day }), /in the future; check the clocks/);
  });

  test('a measurement not on the list is refused', async () => {
    const { der } = await certWith('software', (rd) => provider.attest(rd));
    assert.throws(() => verifyNodeCertificate(der, { allowed: [{ ...measurement, mr_enclave: 'c'.repeat(64) }], maxAgeMs: day }), /not in the signed enclave_info.toml/);
  });

  test('a report signed by some other key than the one it names is refused; pinned platform keys are enforced', async () => {
    const forged = await certWith('software', async (rd) => {
      const real = await provider.attest(rd);
      const other = await softwareProvider({ keyFiles: plainKeyFiles, path: join(dir, 'other.key.pem') }).attest(rd);
      return { report: real.report, auxiliary: other.auxiliary };
    });
    assert.throws(() => verifyNodeCertificate(forged.der, { allowed, maxAgeMs: day }), /not signed by the platform key it names/);
    const { der } = await certWith('software', (rd) => provider.attest(rd));
    const stranger = (await import('node:crypto')).generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }) as string;
    assert.throws(() => verifyNodeCertificate(der, { allowed, maxAgeMs: day, trust: { softwarePlatformKeys: [stranger] } }), /not one of the pinned keys/);
  });

  test('a certificate with no evidence is refused', async () => {
    const plain = await issueCertificate(ca, { name: 'x', role: 'service' });
    assert.throws(() => verifyNodeCertificate(new X509Certificate(plain.certPem).raw, { allowed, maxAgeMs: day }), /carries no attestation evidence/);
  });
});

describe('SEV-SNP evidence (fixture reports)', () => {
  const platform = testSnpPlatform();
  const vcekChain = () => testChain('P-384', ['SEV-VCEK', 'SEV-Milan', 'ARK-Milan'], { leafExtensions: vcekExtensions(platform) });
  // The auditors pinned this guest's launch measurement: without it the hardware proves nothing about the code.
  const allowed = [{ ...measurement, service: 'node', hardware: { snp_measurement: [platform.measurement.toString('hex')] } }];

  test('a report signed by a VCEK chaining to a trusted root verifies, bound to the key', async () => {
    const amd = await vcekChain();
    const { der } = await certWith('sev-snp', async (rd) => ({ report: snpReport(rd, amd.leafKey, platform), auxiliary: Buffer.from(amd.chainPem) }));
    const v = verifyNodeCertificate(der, { allowed, maxAgeMs: day, trust: { sevSnpRoots: [amd.rootPem] } });
    assert.equal(v.hardware, true);
    assert.match(v.description, /AMD SEV-SNP \(Milan-B0\): report signed by a VCEK chaining to ARK-Milan; reported TCB bootloader 3, tee 0, snp 8, microcode 115; revocation not checked for SEV-Milan \(no CRL supplied\); guest launch measurement [0-9a-f]{96}, VMPL 0$/);
    assert.deepEqual(v.platform, { snp: { ...platform.tcb, product: 'Milan-B0', signer: 'VCEK', measurement: platform.measurement.toString('hex'), vmpl: 0, debug: false } });
  });

  test('a changed report byte, an untrusted root, no root, or evidence for another key are refused', async () => {
    const amd = await vcekChain();
    const trust = { sevSnpRoots: [amd.rootPem] };
    const tampered = await certWith('sev-snp', async (rd) => {
      const r = snpReport(rd, amd.leafKey, platform);
      r[0x90] ^= 1;
      return { report: r, auxiliary: Buffer.from(amd.chainPem) };
    });
    assert.throws(() => verifyNodeCertificate(tampered.der, { allowed, maxAgeMs: day, trust }), /SEV-SNP report signature does not verify under the VCEK/);
    const good = await certWith('sev-snp', async (rd) => ({ report: snpReport(rd, amd.leafKey, platform), auxiliary: Buffer.from(amd.chainPem) }));
    const elsewhere = await vcekChain();
    assert.throws(() => verifyNodeCertificate(good.der, { allowed, maxAgeMs: day, trust: { sevSnpRoots: [elsewhere.rootPem] } }), /the AMD SEV-SNP chain ends in a root named 'ARK-Milan' whose key is not the trusted one \(fingerprint [0-9A-F:]{95}, not [0-9A-F:]{95}\): a forged root/);
    // With no roots given, AMD's pinned ARKs are the anchors, and a test root is not one of them.
    assert.throws(() => verifyNodeCertificate(good.der, { allowed, maxAgeMs: day }), /the AMD SEV-SNP chain ends in a root named 'ARK-Milan' whose key is not the trusted one \(fingerprint [0-9A-F:]{95}, not 69:D0:63:B4:53:44:D2:6A:2E:94:E1:F4:21:0D:E4:9E:F5:55:30:82:87:D4:C1:74:44:5C:95:63:9A:54:0B:CD\): a forged root/);
    const other = await newKeyPair();
    const moved = await certWith('sev-snp', async (rd) => ({ report: snpReport(rd, amd.leafKey, platform), auxiliary: Buffer.from(amd.chainPem) }), { bindTo: other.spki });
    assert.throws(() => verifyNodeCertificate(moved.der, { allowed, maxAgeMs: day, trust }), /evidence is for another key/);
  });

  test('the kernel certificate table (auxblob) becomes a VCEK, ASK, ARK bundle', async () => {
    const amd = await vcekChain();
    const ders = amd.chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!.map((p) => new X509Certificate(p).raw);
    const guids = ['63da758d-e664-4564-adc5-f4b93be8accd', 'c0b406a4-a803-4952-9743-3fb6014cd0ae', '4ab7b379-bbac-4fe4-a02f-05aef327c782'];
    const le = (g: string) => {
      const h = g.replaceAll('-', '');
      const rev = (s: string) => Buffer.from(s, 'hex').reverse().toString('hex');
      return Buffer.from(rev(h.slice(0, 8)) + rev(h.slice(8, 12)) + rev(h.slice(12, 16)) + h.slice(16), 'hex');
    };
    // Entries in ARK, VCEK, ASK order, to show the output is reordered.
    const order = [2, 0, 1];
    const tableBytes = 24 * (order.length + 1);
    let offset = tableBytes;
    const table = Buffer.alloc(tableBytes);
    order.forEach((i, row) => {
      le(guids[i]).copy(table, row * 24);
      table.writeUInt32LE(offset, row * 24 + 16);
      table.writeUInt32LE(ders[i].length, row * 24 + 20);
      offset += ders[i].length;
    });
    const pem = certTableToPem(Buffer.concat([table, ...order.map((i) => ders[i])]));
    const subjects = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!.map((p) => new X509Certificate(p).subject);
    assert.deepEqual(subjects, ['CN=SEV-VCEK', 'CN=SEV-Milan', 'CN=ARK-Milan']);
  });
});

describe('TDX evidence (fixture quotes)', () => {
  const mrtd = Buffer.alloc(48, 7);
  // The fixture's RTMRs are zeros: the auditors pin them with MRTD (a kernel, initrd and command line).
  const allowed = [{ ...measurement, service: 'node', hardware: { tdx_mrtd: [mrtd.toString('hex')], tdx_rtmr: { 1: ['0'.repeat(96)], 2: ['0'.repeat(96)] } } }];
  test('a v4 quote with a QE report signed by a PCK chaining to a trusted root verifies', async () => {
    const intel = await testChain('P-256', ['PCK', 'PCK Platform CA', 'SGX Root CA']);
    const { der } = await certWith('tdx', async (rd) => ({ report: tdxQuote(rd, intel, { mrtd }), auxiliary: null }));
    const v = verifyNodeCertificate(der, { allowed, maxAgeMs: day, trust: { tdxRoots: [intel.rootPem] } });
    assert.equal(v.hardware, true);
    assert.match(v.description, /Intel TDX: .* MRTD [0-9a-f]{96}/);
  });

  test('a changed quote, a QE that did not vouch for the key, or an untrusted root are refused', async () => {
    const intel = await testChain('P-256', ['PCK', 'PCK Platform CA', 'SGX Root CA']);
    const trust = { tdxRoots: [intel.rootPem] };
    const tampered = await certWith('tdx', async (rd) => {
      const q = tdxQuote(rd, intel, { mrtd });
      q[200] ^= 1;
      return { report: q, auxiliary: null };
    });
    assert.throws(() => verifyNodeCertificate(tampered.der, { allowed, maxAgeMs: day, trust }), /TDX quote signature does not verify/);
    const unbound = await certWith('tdx', async (rd) => ({ report: tdxQuote(rd, intel, { mrtd, breakQeBinding: true }), auxiliary: null }));
    assert.throws(() => verifyNodeCertificate(unbound.der, { allowed, maxAgeMs: day, trust }), /quoting enclave did not vouch for this attestation key/);
    const good = await certWith('tdx', async (rd) => ({ report: tdxQuote(rd, intel, { mrtd }), auxiliary: null }));
    const elsewhere = await testChain('P-256', ['PCK', 'CA', 'Root']);
    assert.throws(() => verifyNodeCertificate(good.der, { allowed, maxAgeMs: day, trust: { tdxRoots: [elsewhere.rootPem] } }), /the Intel PCK chain ends in 'SGX Root CA', a root that is not trusted \(trusted: Root\)/);
    assert.throws(() => verifyNodeCertificate(good.der, { allowed, maxAgeMs: day }), /a root that is not trusted \(trusted: Intel SGX Root CA\)/);
  });
});
