import 'reflect-metadata';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as x509 from '@peculiar/x509';
import { createCertificateAuthority, issueCertificate, newKeyPair } from '../../src/crypto/certificates.js';
import { parseEnclaveInfo } from '../../src/attestation/enclave-info.js';
import { EVIDENCE_OID, type Evidence, type TrustAnchors, encodeEvidence, reportDataFor } from '../../src/attestation/evidence.js';
import { verifySevSnp } from '../../src/attestation/sev-snp.js';
import { softwareProvider } from '../../src/attestation/software.js';
import { verifyTdx } from '../../src/attestation/tdx.js';
import { VENDOR_CERTIFICATES } from '../../src/attestation/vendor-roots.js';
import { verifyNodeCertificate } from '../../src/attestation/verify.js';
import { checkHardwarePolicy } from '../../src/attestation/hardware-policy.js';
import type { TdxCollateral } from '../../src/attestation/tdx-tcb.js';
import { REPO } from '../helpers/cli.js';
import { amdChain, snpReport, tdxQuote, testChain, testSnpPlatform, vcekExtensions } from '../helpers/tee-fixtures.js';

// Issue 23: the certificate path (validity, CA constraints, key usage, revocation, no stranger in the chain)
// and the auditors' TCB minimums. Real evidence where the check can be shown on it (Intel's real CRLs,
// AMD's real VCEKs, the pinned roots); chains the test builds where a vendor's key would be needed (a
// revoked PCK, a CA without keyCertSign).

const FIXTURES = join(REPO, 'test', 'fixtures', 'attestation');
const read = (p: string) => readFileSync(join(FIXTURES, p));
const measurement = { mr_enclave: 'a'.repeat(64), mr_signer: 'b'.repeat(64) };
const day = 86_400_000;
const ca = await createCertificateAuthority('test CA');

const envelope = (provider: Evidence['provider'], report: Buffer, auxiliary: string | null, timestamp: string): Evidence => ({
  version: 1,
  provider,
  mr_enclave: '',
  mr_signer: '',
  timestamp,
  report: report.toString('base64'),
  auxiliary: auxiliary === null ? null : Buffer.from(auxiliary).toString('base64'),
});

/** A node certificate whose evidence is made by `attest` over the report data for its own key. */
async function nodeCert(provider: Evidence['provider'], attest: (reportData: Buffer) => { report: Buffer; auxiliary: string | null }) {
  const { keys, spki } = await newKeyPair();
  const timestamp = new Date().toISOString();
  const { report, auxiliary } = attest(reportDataFor(spki, measurement, timestamp));
  const evidence: Evidence = { ...envelope(provider, report, auxiliary, timestamp), ...measurement };
  const pair = await issueCertificate(ca, { name: 'node', role: 'service', extensions: { [EVIDENCE_OID]: encodeEvidence(evidence) } }, keys);
  return new X509Certificate(pair.certPem).raw;
}

describe('vendor roots pinned in the code', () => {
  test('each pinned certificate matches its fingerprint, and the roots are the ones the real evidence ends in', () => {
    for (const v of VENDOR_CERTIFICATES) {
      assert.equal(new X509Certificate(v.pem).fingerprint256.replaceAll(':', '').toLowerCase(), v.sha256, v.name);
    }
    const names = VENDOR_CERTIFICATES.filter((v) => v.role === 'root').map((v) => v.name);
    assert.deepEqual(names, ['ARK-Milan', 'ARK-Genoa', 'ARK-Turin', 'Intel SGX Root CA']);
    // The Intel root published with the test data is the pinned one.
    const published = new X509Certificate(read('tdx/intel-root/Intel_SGX_Root_CA.pem'));
    assert.equal(published.fingerprint256.replaceAll(':', '').toLowerCase(), VENDOR_CERTIFICATES.find((v) => v.name === 'Intel SGX Root CA')!.sha256);
  });

  test('a real SEV-SNP report verifies with no roots configured, and with only its VCEK in the evidence (the pinned ASK completes the path)', () => {
    const report = read('snp/virtee-sev/report_milan.hex');
    const bytes = Buffer.from(report.toString().trim(), 'hex');
    const vcek = new X509Certificate(read('snp/virtee-sev/vcek_milan.der')).toString();
    const checked = verifySevSnp(envelope('sev-snp', bytes, vcek, new Date().toISOString()), {});
    assert.match(checked.description, /AMD SEV-SNP \(Milan-B0\): report signed by a VCEK chaining to ARK-Milan; reported TCB bootloader 3, tee 0, snp 8, microcode 115/);
    const launch = bytes.subarray(0x90, 0xc0).toString('hex');
    assert.deepEqual(checked.platform, { snp: { bootloader: 3, tee: 0, snp: 8, microcode: 115, product: 'Milan-B0', signer: 'VCEK', measurement: launch, vmpl: 0, debug: false } });
  });

  test('a real Genoa report reads its TCB in the Genoa layout', () => {
    const vcek = read('snp/trustee-az-snp-vtpm/vcek-genoa.pem').toString();
    const report = read('snp/trustee-az-snp-vtpm/report-genoa.bin');
    const checked = verifySevSnp(envelope('sev-snp', report, vcek, new Date().toISOString()), {});
    assert.deepEqual(checked.platform, { snp: { bootloader: 10, tee: 0, snp: 23, microcode: 84, product: 'Genoa', signer: 'VCEK', measurement: report.subarray(0x90, 0xc0).toString('hex'), vmpl: 0, debug: false } });
  });
});

describe('Intel CRLs (real, from the published collateral)', () => {
  const collateral = JSON.parse(read('tdx/dcap-qvl/tdx_quote_collateral.json').toString()) as { pck_crl: string; root_ca_crl: string };
  const quote = read('tdx/dcap-qvl/tdx_quote.bin');
  const crls = [collateral.pck_crl, collateral.root_ca_crl];

  test('while the CRLs are current, the PCK and the Platform CA are checked against them and are not revoked', () => {
    const checked = verifyTdx(envelope('tdx', quote, null, '2025-06-20T00:00:00Z'), { collateral: { crls } }, new Date('2025-06-20T01:00:00Z'));
    assert.match(checked.description, /PCK chains to Intel SGX Root CA; no certificate revoked;/);
    const without = verifyTdx(envelope('tdx', quote, null, '2025-06-20T00:00:00Z'), {});
    assert.match(without.description, /revocation not checked for Intel SGX PCK Certificate, Intel SGX PCK Platform CA \(no CRL supplied\)/);
  });

  test("a CRL past its next update by the verifier's clock is refused, saying to fetch a current one", () => {
    // Collateral is judged at the verifier's time, as the vendors' verifiers do, not at the evidence's.
    assert.throws(
      () => verifyTdx(envelope('tdx', quote, null, '2025-07-19T09:00:00Z'), { collateral: { crls } }, new Date('2025-08-01T00:00:00Z')),
      /the Intel PCK CRL of 'Intel SGX PCK Platform CA' is out of date: its next update was due 2025-07-19T10:00:35.000Z; fetch a current CRL/,
    );
  });

  test('a CRL that its issuer did not sign is not used (a forged CRL cannot clear a certificate)', () => {
    const der = Buffer.from(collateral.pck_crl, 'hex');
    der[der.length - 5] ^= 1;
    const checked = verifyTdx(envelope('tdx', quote, null, '2025-06-20T00:00:00Z'), { collateral: { crls: [der, collateral.root_ca_crl] } }, new Date('2025-06-20T01:00:00Z'));
    assert.match(checked.description, /chains to Intel SGX Root CA; revocation not checked for Intel SGX PCK Certificate \(none of the 2 CRLs supplied is from its issuer\)/);
  });

  test('a real PCK past its validity is refused as expired', () => {
    assert.throws(() => verifyTdx(envelope('tdx', quote, null, '2032-03-01T00:00:00Z'), {}), /the Intel PCK certificate 'Intel SGX PCK Certificate' is not valid at 2032-03-01T00:00:00.000Z .*it has expired/);
  });

  test('a CRL that is not a CRL is refused clearly', () => {
    assert.throws(() => verifyTdx(envelope('tdx', quote, null, '2025-06-20T00:00:00Z'), { collateral: { crls: ['not a crl'] } }), /a CRL in the collateral is not a DER or PEM certificate revocation list/);
  });
});

describe('certificate paths the test builds (a vendor key would be needed for these)', () => {
  const at = () => new Date().toISOString();
  const tdx = (chain: Awaited<ReturnType<typeof testChain>>, trust: TrustAnchors, pem = chain.chainPem) =>
    verifyTdx(envelope('tdx', tdxQuote(Buffer.alloc(64), { ...chain, chainPem: pem }), null, at()), { tdxRoots: [chain.rootPem], ...trust });

  test('a revoked PCK is refused, naming it and its issuer', async () => {
    const intel = await testChain('P-256', ['PCK', 'PCK Platform CA', 'SGX Root CA'], { revokeLeaf: true });
    assert.throws(() => tdx(intel, { collateral: { crls: [intel.crlPem] } }), /the Intel PCK certificate 'PCK' \(serial 3\) was revoked by 'PCK Platform CA' on .*: this platform's key must not be trusted/);
    const fine = await testChain('P-256', ['PCK', 'PCK Platform CA', 'SGX Root CA']);
    assert.match(tdx(fine, { collateral: { crls: [fine.crlPem] } }).description, /chains to SGX Root CA; revocation not checked for PCK Platform CA \(none of the 1 CRLs supplied is from its issuer\)/);
  });

  test('an expired PCK, and one not yet valid, are refused', async () => {
    const now = Date.now();
    const expired = await testChain('P-256', ['PCK', 'PCK Platform CA', 'SGX Root CA'], { leafValidity: { notBefore: new Date(now - 10 * day), notAfter: new Date(now - day) } });
    assert.throws(() => tdx(expired, {}), /the Intel PCK certificate 'PCK' is not valid at .*it has expired, and the platform needs a current one from its vendor/);
    const early = await testChain('P-256', ['PCK', 'PCK Platform CA', 'SGX Root CA'], { leafValidity: { notBefore: new Date(now + day), notAfter: new Date(now + 10 * day) } });
    assert.throws(() => tdx(early, {}), /the Intel PCK certificate 'PCK' is not valid at .*; check the clocks/);
  });

  test('an intermediate whose key usage does not allow signing certificates is refused', async () => {
    const intel = await testChain('P-256', ['PCK', 'PCK Platform CA', 'SGX Root CA'], { midKeyUsage: x509.KeyUsageFlags.digitalSignature });
    assert.throws(() => tdx(intel, {}), /the Intel PCK certificate 'PCK Platform CA' is a CA whose key usage does not allow signing certificates \(keyCertSign\)/);
  });

  test('a chain with an extra unknown certificate is refused', async () => {
    const intel = await testChain('P-256', ['PCK', 'PCK Platform CA', 'SGX Root CA']);
    const stranger = await testChain('P-256', ['Other', 'Stranger CA', 'Other Root']);
    assert.throws(() => tdx(intel, {}, `${intel.chainPem}\n${stranger.midPem}`), /the Intel PCK chain carries a certificate that is not on the path to the root: 'Stranger CA'/);
  });

  test('a stale CRL of the test CA is refused', async () => {
    const now = Date.now();
    const intel = await testChain('P-256', ['PCK', 'PCK Platform CA', 'SGX Root CA'], { crlValidity: { thisUpdate: new Date(now - 10 * day), nextUpdate: new Date(now - day) } });
    assert.throws(() => tdx(intel, { collateral: { crls: [intel.crlPem] } }), /the Intel PCK CRL of 'PCK Platform CA' is out of date/);
  });
});

describe("AMD's CRL (RSASSA-PSS, signed by the ARK, listing revoked ASKs)", () => {
  const platform = testSnpPlatform();

  test('an ASK the ARK revoked is refused; with a current CRL that lists nothing, the ASK is checked', async () => {
    const revoked = await amdChain(platform, { revokeAsk: true });
    const evidence = envelope('sev-snp', snpReport(Buffer.alloc(64), revoked.leafKey, platform), revoked.chainPem, new Date().toISOString());
    assert.throws(() => verifySevSnp(evidence, { sevSnpRoots: [revoked.rootPem], collateral: { crls: [revoked.crlPem] } }), /the AMD SEV-SNP certificate 'SEV-Milan' \(serial 2\) was revoked by 'ARK-Milan' on .*: this platform's key must not be trusted/);
    const fine = await amdChain(platform);
    const checked = verifySevSnp(envelope('sev-snp', snpReport(Buffer.alloc(64), fine.leafKey, platform), fine.chainPem, new Date().toISOString()), { sevSnpRoots: [fine.rootPem], collateral: { crls: [fine.crlPem] } });
    // AMD revokes ASKs by CRL and VCEKs through TCB versions: with the ARK's CRL at hand, nothing is left unchecked.
    assert.match(checked.description, /chaining to ARK-Milan; reported TCB .*; no certificate revoked;/);
  });
});

describe('SEV-SNP: the endorsement key belongs to the chip and the TCB', () => {
  const platform = testSnpPlatform({ bootloader: 3, tee: 0, snp: 8, microcode: 115 });

  test('a VCEK issued for another TCB than the report states is refused, naming the component', async () => {
    const amd = await testChain('P-384', ['SEV-VCEK', 'SEV-Milan', 'ARK-Milan'], { leafExtensions: vcekExtensions({ ...platform, tcb: { ...platform.tcb, snp: 7 } }) });
    const report = snpReport(Buffer.alloc(64), amd.leafKey, platform);
    assert.throws(
      () => verifySevSnp(envelope('sev-snp', report, amd.chainPem, new Date().toISOString()), { sevSnpRoots: [amd.rootPem] }),
      /the VCEK certificate was issued for snp SPL 7, and the report's reported TCB has 8: the key is for another TCB/,
    );
  });

  test('a VCEK for another chip is refused before its signature is even tried', async () => {
    const amd = await testChain('P-384', ['SEV-VCEK', 'SEV-Milan', 'ARK-Milan'], { leafExtensions: vcekExtensions(testSnpPlatform()) });
    const report = snpReport(Buffer.alloc(64), amd.leafKey, platform);
    assert.throws(() => verifySevSnp(envelope('sev-snp', report, amd.chainPem, new Date().toISOString()), { sevSnpRoots: [amd.rootPem] }), /a VCEK for another chip/);
  });

  test('a leaf that is not a VCEK while the report says VCEK is refused', async () => {
    const amd = await testChain('P-384', ['SEV-VLEK', 'SEV-VLEK-Milan', 'ARK-Milan'], { leafExtensions: vcekExtensions(platform) });
    const report = snpReport(Buffer.alloc(64), amd.leafKey, platform);
    assert.throws(() => verifySevSnp(envelope('sev-snp', report, amd.chainPem, new Date().toISOString()), { sevSnpRoots: [amd.rootPem] }), /the SEV-SNP report says it is signed by a VCEK, and the chain's leaf certificate is 'SEV-VLEK'/);
  });
});

describe("the auditors' hardware requirements (enclave_info.toml [service.hardware])", () => {
  const table = (service: string, hardware: string) => `[${service}]\nmr_enclave = "${measurement.mr_enclave}"\nmr_signer = "${measurement.mr_signer}"\n${hardware ? `[${service}.hardware]\n${hardware}` : ''}`;
  const allowedBy = (...tables: string[]) => Object.values(parseEnclaveInfo(tables.join('\n')));
  const platform = testSnpPlatform({ bootloader: 3, tee: 0, snp: 8, microcode: 115 });
  const launch = platform.measurement.toString('hex');
  const pinned = `snp_measurement = ["${launch}"]\n`;

  async function snpNode(p = platform) {
    const amd = await testChain('P-384', ['SEV-VCEK', 'SEV-Milan', 'ARK-Milan'], { leafExtensions: vcekExtensions(p) });
    return { der: await nodeCert('sev-snp', (rd) => ({ report: snpReport(rd, amd.leafKey, p), auxiliary: amd.chainPem })), trust: { sevSnpRoots: [amd.rootPem] } };
  }

  test('an SEV-SNP guest whose launch measurement the auditors pinned, at or above every minimum, is accepted, and its platform reported', async () => {
    const { der, trust } = await snpNode();
    const allowed = allowedBy(table('node', `${pinned}snp_min = { bootloader = 3, snp = 8, microcode = 100 }\n`));
    const v = verifyNodeCertificate(der, { allowed, maxAgeMs: day, trust });
    assert.deepEqual(v.platform?.snp, { ...platform.tcb, product: 'Milan-B0', signer: 'VCEK', measurement: launch, vmpl: 0, debug: false });
  });

  test('a hardware node whose guest measurement the auditors did not pin is refused: the hardware would prove nothing about the code', async () => {
    const { der, trust } = await snpNode();
    assert.throws(() => verifyNodeCertificate(der, { allowed: allowedBy(table('node', '')), maxAgeMs: day, trust }), /the auditors pinned no SEV-SNP guest measurement for this node's measurement \(snp_measurement/);
    const other = `snp_measurement = ["${'0'.repeat(96)}"]\n`;
    assert.throws(
      () => verifyNodeCertificate(der, { allowed: allowedBy(table('node', other)), maxAgeMs: day, trust }),
      new RegExp(`the guest's SEV-SNP launch measurement ${launch} is not one the auditors signed in \\[node.hardware\\] \\(snp_measurement\\): the guest image .* is not the one they reviewed`),
    );
  });

  test('a debuggable SEV-SNP guest is refused unless the auditors allow_debug', async () => {
    const debuggable = { ...testSnpPlatform(), debug: true };
    const { der, trust } = await snpNode(debuggable);
    const pin = `snp_measurement = ["${debuggable.measurement.toString('hex')}"]\n`;
    assert.throws(() => verifyNodeCertificate(der, { allowed: allowedBy(table('node', pin)), maxAgeMs: day, trust }), /the SEV-SNP guest policy allows debugging \(policy bit 19\), so the host can read and write its memory/);
    assert.ok(verifyNodeCertificate(der, { allowed: allowedBy(table('node', `${pin}allow_debug = true\n`)), maxAgeMs: day, trust }));
  });

  test('a real debug-policy report is reported as such (google/go-sev-guest attestation.bin, policy 0xb0000)', () => {
    const vcek = new X509Certificate(read('snp/go-sev-guest/vcek.testcer.der')).toString();
    const checked = verifySevSnp(envelope('sev-snp', read('snp/go-sev-guest/attestation.bin'), vcek, new Date().toISOString()), {});
    assert.equal(checked.platform?.snp?.debug, true);
    assert.match(checked.description, /DEBUG allowed by the guest policy/);
    assert.throws(() => checkHardwarePolicy('sev-snp', checked.platform, [{ service: 'node', hardware: { snp_measurement: [checked.platform!.snp!.measurement] } }]), /allows debugging/);
  });

  test('an SEV-SNP platform below a minimum is refused, naming the component, its SVN and the minimum', async () => {
    const { der, trust } = await snpNode();
    assert.throws(
      () => verifyNodeCertificate(der, { allowed: allowedBy(table('node', `${pinned}snp_min = { snp = 9, microcode = 115 }\n`)), maxAgeMs: day, trust }),
      /the platform's SEV-SNP snp firmware is at SVN 8, below the minimum 9 the auditors set in \[node.hardware\]: update the host's snp firmware, or have the auditors sign a lower minimum/,
    );
    assert.throws(() => verifyNodeCertificate(der, { allowed: allowedBy(table('node', `${pinned}snp_min = { microcode = 200 }\n`)), maxAgeMs: day, trust }), /SEV-SNP microcode firmware is at SVN 115, below the minimum 200 .*update the host's CPU microcode/);
  });

  test('every service listing the measurement counts: a minimum under one is not bypassed by another that sets none', async () => {
    const { der, trust } = await snpNode();
    const allowed = allowedBy(table('tms', ''), table('node', `${pinned}snp_min = { microcode = 200 }\n`));
    assert.throws(() => verifyNodeCertificate(der, { allowed, maxAgeMs: day, trust }), /below the minimum 200 the auditors set in \[node.hardware\]/);
  });

  test('a software node is refused where the auditors require hardware', async () => {
    const keyFiles = { exists: (p: string) => existsSync(p), read: (p: string) => readFileSync(p, 'utf8'), write: (p: string, _r: string, pem: string) => writeFileSync(p, pem, { mode: 0o600 }) };
    const dir = mkdtempSync(join(tmpdir(), 'tessera-hw-'));
    try {
      const provider = softwareProvider({ keyFiles, path: join(dir, 'platform.pem') });
      const { keys, spki } = await newKeyPair();
      const timestamp = new Date().toISOString();
      const { report, auxiliary } = await provider.attest(reportDataFor(spki, measurement, timestamp));
      const evidence: Evidence = { version: 1, provider: 'software', ...measurement, timestamp, report: report.toString('base64'), auxiliary: auxiliary ? auxiliary.toString('base64') : null };
      const pair = await issueCertificate(ca, { name: 'node', role: 'service', extensions: { [EVIDENCE_OID]: encodeEvidence(evidence) } }, keys);
      const der = new X509Certificate(pair.certPem).raw;
      assert.ok(verifyNodeCertificate(der, { allowed: allowedBy(table('node', '')), maxAgeMs: day }));
      assert.throws(
        () => verifyNodeCertificate(der, { allowed: allowedBy(table('node', pinned)), maxAgeMs: day }),
        /the auditors require hardware evidence for this measurement \(\[node.hardware\] in enclave_info.toml\), and this node's evidence is from the software provider, which proves nothing about hardware/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('TDX: MRTD and RTMRs pinned, a debug TD, and a TCB status policy with no TCB Info supplied', async () => {
    const intel = await testChain('P-256', ['PCK', 'PCK Platform CA', 'SGX Root CA']);
    const mrtd = Buffer.alloc(48, 9);
    const trust = { tdxRoots: [intel.rootPem] };
    const der = await nodeCert('tdx', (rd) => ({ report: tdxQuote(rd, intel, { mrtd }), auxiliary: null }));
    const zeros = '0'.repeat(96);
    const rtmrs = `tdx_rtmr1 = ["${zeros}"]\ntdx_rtmr2 = ["${zeros}"]\n`;
    const pin = `tdx_mrtd = ["${mrtd.toString('hex')}"]\n${rtmrs}`;
    const v = verifyNodeCertificate(der, { allowed: allowedBy(table('node', pin)), maxAgeMs: day, trust });
    assert.equal(v.platform?.tdx?.mrtd, mrtd.toString('hex'));
    assert.equal(v.platform?.tdx?.evaluation, null);
    assert.throws(() => verifyNodeCertificate(der, { allowed: allowedBy(table('node', `tdx_mrtd = ["${'1'.repeat(96)}"]\n${rtmrs}`)), maxAgeMs: day, trust }), /the trust domain's MRTD [0-9a-f]{96} is not one the auditors signed in \[node.hardware\]/);
    assert.throws(
      () => verifyNodeCertificate(der, { allowed: allowedBy(table('node', `tdx_mrtd = ["${mrtd.toString('hex')}"]\ntdx_rtmr1 = ["${zeros}"]\ntdx_rtmr2 = ["${'2'.repeat(96)}"]\n`)), maxAgeMs: day, trust }),
      /the trust domain's RTMR2 0{96} is not one the auditors signed/,
    );
    // MRTD alone measures the firmware only: the file is refused as it is read.
    assert.throws(() => parseEnclaveInfo(table('node', `tdx_mrtd = ["${mrtd.toString('hex')}"]\n`)), /pins tdx_mrtd, which measures only the TD firmware: pin tdx_rtmr1 and tdx_rtmr2 too/);
    assert.throws(() => verifyNodeCertificate(der, { allowed: allowedBy(table('node', `${pin}tdx_status = ["UpToDate"]\n`)), maxAgeMs: day, trust }), /\[node.hardware\] accepts only TDX TCB status UpToDate, and no Intel TCB Info was supplied to evaluate it/);
    assert.throws(() => verifyNodeCertificate(der, { allowed: allowedBy(table('node', `snp_measurement = ["${launch}"]\n`)), maxAgeMs: day, trust }), /the auditors pinned no TDX guest measurement/);
    const debug = await nodeCert('tdx', (rd) => ({ report: tdxQuote(rd, intel, { mrtd, debug: true }), auxiliary: null }));
    assert.throws(() => verifyNodeCertificate(debug, { allowed: allowedBy(table('node', pin)), maxAgeMs: day, trust }), /the trust domain is debuggable \(TDATTRIBUTES.DEBUG\)/);
  });

  test("TDX: a quote from a quoting enclave that is not Intel's is refused, with or without collateral", async () => {
    const intel = await testChain('P-256', ['PCK', 'PCK Platform CA', 'SGX Root CA']);
    const forged = tdxQuote(Buffer.alloc(64), intel, { qeSigner: Buffer.alloc(32, 0xaa) });
    assert.throws(() => verifyTdx(envelope('tdx', forged, null, new Date().toISOString()), { tdxRoots: [intel.rootPem] }), /the quoting enclave was signed by a{64}, not by Intel \(dc9e2a7c/);
    const vendor = tdxQuote(Buffer.alloc(64), intel);
    vendor[12] ^= 1;
    assert.throws(() => verifyTdx(envelope('tdx', vendor, null, new Date().toISOString()), { tdxRoots: [intel.rootPem] }), /QE vendor id .* is not Intel's/);
  });

  test('a real debug TD is reported as such (confidential-containers/trustee tdx_quote_4, TDATTRIBUTES 01…)', () => {
    const checked = verifyTdx(envelope('tdx', read('tdx/trustee/tdx_quote_4.dat'), null, new Date().toISOString()), {});
    assert.equal(checked.platform?.tdx?.debug, true);
    assert.match(checked.description, /DEBUG trust domain/);
  });

  test('a hardware table with an unknown key, component, status or measurement, or a bad number, is refused when enclave_info.toml is read', () => {
    assert.throws(() => parseEnclaveInfo(table('tessera', 'snp_minimum = { snp = 1 }\n')), /\[tessera.hardware\]: unknown key 'snp_minimum' \(known: snp_measurement, snp_min, tdx_mrtd, tdx_rtmr0…tdx_rtmr3, tdx_status, allow_debug\)/);
    assert.throws(() => parseEnclaveInfo(table('tessera', 'snp_min = { ucode = 1 }\n')), /snp_min: unknown component 'ucode' \(known: bootloader, tee, snp, microcode, fmc\)/);
    assert.throws(() => parseEnclaveInfo(table('tessera', 'snp_min = { snp = 256 }\n')), /snp_min.snp must be an integer from 0 to 255/);
    assert.throws(() => parseEnclaveInfo(table('tessera', 'tdx_status = ["Fine"]\n')), /tdx_status: unknown status 'Fine'/);
    assert.throws(() => parseEnclaveInfo(table('tessera', 'tdx_status = []\n')), /tdx_status must be a non-empty list/);
    assert.throws(() => parseEnclaveInfo(table('tessera', 'snp_measurement = ["abc"]\n')), /snp_measurement must be a non-empty list of 48-byte measurements, each 96 lowercase hex characters/);
    assert.throws(() => parseEnclaveInfo(table('tessera', 'allow_debug = "yes"\n')), /allow_debug must be true or false/);
    assert.throws(() => parseEnclaveInfo(`${table('tessera', '')}[tessera.tcb]\nsnp_min = { snp = 1 }\n`), /\[tessera\] has an unknown key 'tcb' \(known: mr_enclave, mr_signer, hardware\)/);
  });
});

describe('TDX: the TCB status from Intel collateral, through the verifier and the policy (real quotes and collateral)', () => {
  const dcap = JSON.parse(read('tdx/dcap-qvl/tdx_quote_collateral.json').toString()) as Record<string, string>;
  // dcap-qvl stores Intel PCS's responses split up; put the response bodies back together, byte for byte.
  const dcapCollateral: TdxCollateral = {
    tcbInfo: `{"tcbInfo":${dcap.tcb_info},"signature":"${dcap.tcb_info_signature}"}`,
    qeIdentity: `{"enclaveIdentity":${dcap.qe_identity},"signature":"${dcap.qe_identity_signature}"}`,
    signingChain: dcap.tcb_info_issuer_chain,
  };
  const trusteeCollateral: TdxCollateral = { tcbInfo: read('tdx/trustee/tcbInfo.json').toString(), signingChain: read('tdx/intel-root/Intel_SGX_TCB_Signing_chain.pem').toString() };
  const upToDate = () =>
    verifyTdx(envelope('tdx', read('tdx/dcap-qvl/tdx_quote.bin'), null, '2025-06-20T00:00:00Z'), { collateral: { crls: [dcap.pck_crl, dcap.root_ca_crl], tdx: [trusteeCollateral, dcapCollateral] } }, new Date('2025-06-20T01:00:00Z'));
  const policy = (tdx: { mrtd: string; rtmr: string[] }, tdx_status?: string[]) => [
    { service: 'node', hardware: { tdx_mrtd: [tdx.mrtd], tdx_rtmr: { 1: [tdx.rtmr[1]], 2: [tdx.rtmr[2]] }, ...(tdx_status ? { tdx_status } : {}) } },
  ];

  test('an up-to-date platform: the TCB Info for its FMSPC is picked from those supplied, and the status reported', () => {
    const checked = upToDate();
    assert.equal(checked.platform?.tdx?.evaluation?.status, 'UpToDate');
    assert.equal(checked.platform?.tdx?.evaluation?.fmspc, 'b0c06f000000');
    assert.equal(checked.platform?.tdx?.evaluation?.qeStatus, 'UpToDate');
    assert.match(checked.description, /no certificate revoked; TCB status UpToDate; MRTD/);
    checkHardwarePolicy('tdx', checked.platform, policy(checked.platform!.tdx!, ['UpToDate']));
  });

  test('an out-of-date platform is refused by default and by an UpToDate-only policy, and accepted when the auditors accept OutOfDate', () => {
    const checked = verifyTdx(envelope('tdx', read('tdx/trustee/tdx_quote_6.dat'), null, '2025-11-01T00:00:00Z'), { collateral: { tdx: [trusteeCollateral] } }, new Date('2025-11-01T01:00:00Z'));
    const td = checked.platform!.tdx!;
    assert.equal(checked.platform?.tdx?.evaluation?.status, 'OutOfDate');
    assert.throws(() => checkHardwarePolicy('tdx', checked.platform, policy(td)), /the platform's TDX TCB status is OutOfDate.*, and Tessera accepts by default only UpToDate, SWHardeningNeeded, ConfigurationNeeded, ConfigurationAndSWHardeningNeeded: update the host's TDX module, microcode or configuration/);
    assert.throws(() => checkHardwarePolicy('tdx', checked.platform, policy(td, ['UpToDate'])), /TDX TCB status is OutOfDate.*, and \[node.hardware\] accepts only UpToDate/);
    checkHardwarePolicy('tdx', checked.platform, policy(td, ['UpToDate', 'OutOfDate']));
  });

  test('no TCB Info for the platform among those supplied, or expired TCB Info, is refused saying what to fetch', () => {
    assert.throws(
      () => verifyTdx(envelope('tdx', read('tdx/dcap-qvl/tdx_quote.bin'), null, '2025-06-20T00:00:00Z'), { collateral: { tdx: [trusteeCollateral] } }, new Date('2025-06-20T01:00:00Z')),
      /none of the 1 TCB Info supplied is for this platform's FMSPC b0c06f000000: fetch it from Intel PCS \(\/tdx\/certification\/v4\/tcb\?fmspc=b0c06f000000\)/,
    );
    assert.throws(() => verifyTdx(envelope('tdx', read('tdx/dcap-qvl/tdx_quote.bin'), null, '2025-07-18T00:00:00Z'), { collateral: { tdx: [dcapCollateral] } }, new Date('2025-08-01T00:00:00Z')), /TCB Info .*(expired|out of date|next update)/i);
  });
});
