import 'reflect-metadata';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as x509 from '@peculiar/x509';
import { createCertificateAuthority, issueCertificate, newKeyPair } from '../../src/crypto/certificates.js';
import { parseEnclaveInfo } from '../../src/attestation/enclave-info.js';
import { EVIDENCE_OID, type Evidence, type TrustAnchors, encodeEvidence, reportDataFor } from '../../src/attestation/evidence.js';
import { verifySevSnp } from '../../src/attestation/sev-snp.js';
import { verifyTdx } from '../../src/attestation/tdx.js';
import { VENDOR_CERTIFICATES } from '../../src/attestation/vendor-roots.js';
import { verifyNodeCertificate } from '../../src/attestation/verify.js';
import { checkTcbPolicy } from '../../src/attestation/tcb-policy.js';
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
    assert.deepEqual(checked.tcb, { snp: { bootloader: 3, tee: 0, snp: 8, microcode: 115, product: 'Milan-B0', signer: 'VCEK' } });
  });

  test('a real Genoa report reads its TCB in the Genoa layout', () => {
    const vcek = read('snp/trustee-az-snp-vtpm/vcek-genoa.pem').toString();
    const checked = verifySevSnp(envelope('sev-snp', read('snp/trustee-az-snp-vtpm/report-genoa.bin'), vcek, new Date().toISOString()), {});
    assert.deepEqual(checked.tcb, { snp: { bootloader: 10, tee: 0, snp: 23, microcode: 84, product: 'Genoa', signer: 'VCEK' } });
  });
});

describe('Intel CRLs (real, from the published collateral)', () => {
  const collateral = JSON.parse(read('tdx/dcap-qvl/tdx_quote_collateral.json').toString()) as { pck_crl: string; root_ca_crl: string };
  const quote = read('tdx/dcap-qvl/tdx_quote.bin');
  const crls = [collateral.pck_crl, collateral.root_ca_crl];

  test('while the CRLs are current, the PCK and the Platform CA are checked against them and are not revoked', () => {
    const checked = verifyTdx(envelope('tdx', quote, null, '2025-06-20T00:00:00Z'), { collateral: { crls } });
    assert.match(checked.description, /PCK chains to Intel SGX Root CA; no certificate revoked;/);
    const without = verifyTdx(envelope('tdx', quote, null, '2025-06-20T00:00:00Z'), {});
    assert.match(without.description, /revocation not checked for Intel SGX PCK Certificate, Intel SGX PCK Platform CA \(no Intel CRL supplied\)/);
  });

  test('a CRL past its next update is refused, saying to fetch a current one', () => {
    assert.throws(
      () => verifyTdx(envelope('tdx', quote, null, '2025-08-01T00:00:00Z'), { collateral: { crls } }),
      /the Intel PCK CRL of 'Intel SGX PCK Platform CA' is out of date: its next update was due 2025-07-19T10:00:35.000Z; fetch a current CRL/,
    );
  });

  test('a CRL that its issuer did not sign is not used (a forged CRL cannot clear a certificate)', () => {
    const der = Buffer.from(collateral.pck_crl, 'hex');
    der[der.length - 5] ^= 1;
    const checked = verifyTdx(envelope('tdx', quote, null, '2025-06-20T00:00:00Z'), { collateral: { crls: [der, collateral.root_ca_crl] } });
    assert.match(checked.description, /chains to Intel SGX Root CA; revocation not checked for Intel SGX PCK Certificate \(no Intel CRL supplied\)/);
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
    assert.match(tdx(fine, { collateral: { crls: [fine.crlPem] } }).description, /chains to SGX Root CA; revocation not checked for PCK Platform CA \(no Intel CRL supplied\)/);
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
    // The VCEK's issuer (the ASK) publishes no CRL; the ASK was checked against the ARK's.
    assert.match(checked.description, /chaining to ARK-Milan; reported TCB .*; revocation not checked for SEV-VCEK \(no AMD CRL supplied\);/);
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

describe("the auditors' TCB minimums (enclave_info.toml)", () => {
  const info = (tcb: string) => `[tessera]\nmr_enclave = "${measurement.mr_enclave}"\nmr_signer = "${measurement.mr_signer}"\n${tcb}`;
  const platform = testSnpPlatform({ bootloader: 3, tee: 0, snp: 8, microcode: 115 });

  async function snpNode() {
    const amd = await testChain('P-384', ['SEV-VCEK', 'SEV-Milan', 'ARK-Milan'], { leafExtensions: vcekExtensions(platform) });
    return { der: await nodeCert('sev-snp', (rd) => ({ report: snpReport(rd, amd.leafKey, platform), auxiliary: amd.chainPem })), trust: { sevSnpRoots: [amd.rootPem] } };
  }

  test('an SEV-SNP platform at or above every minimum is accepted, and its TCB reported', async () => {
    const { der, trust } = await snpNode();
    const allowed = Object.values(parseEnclaveInfo(info('[tessera.tcb]\nsnp_min = { bootloader = 3, snp = 8, microcode = 100 }\n')));
    const v = verifyNodeCertificate(der, { allowed, maxAgeMs: day, trust });
    assert.deepEqual(v.tcb?.snp, { ...platform.tcb, product: 'Milan-B0', signer: 'VCEK' });
  });

  test('an SEV-SNP platform below a minimum is refused, naming the component, its SVN and the minimum', async () => {
    const { der, trust } = await snpNode();
    const allowed = Object.values(parseEnclaveInfo(info('[tessera.tcb]\nsnp_min = { snp = 9, microcode = 115 }\n')));
    assert.throws(
      () => verifyNodeCertificate(der, { allowed, maxAgeMs: day, trust }),
      /the platform's SEV-SNP snp firmware is at SVN 8, below the minimum 9 the auditors set in enclave_info.toml: update the host's snp firmware, or have the auditors sign a lower minimum/,
    );
    const micro = Object.values(parseEnclaveInfo(info('[tessera.tcb]\nsnp_min = { microcode = 200 }\n')));
    assert.throws(() => verifyNodeCertificate(der, { allowed: micro, maxAgeMs: day, trust }), /SEV-SNP microcode firmware is at SVN 115, below the minimum 200 .*update the host's CPU microcode/);
  });

  test('a TDX policy that needs a TCB status is refused when no TCB Info was supplied', async () => {
    const intel = await testChain('P-256', ['PCK', 'PCK Platform CA', 'SGX Root CA']);
    const der = await nodeCert('tdx', (rd) => ({ report: tdxQuote(rd, intel), auxiliary: null }));
    const trust = { tdxRoots: [intel.rootPem] };
    assert.ok(verifyNodeCertificate(der, { allowed: [measurement], maxAgeMs: day, trust }));
    const allowed = Object.values(parseEnclaveInfo(info('[tessera.tcb]\ntdx_status = ["UpToDate"]\n')));
    assert.throws(() => verifyNodeCertificate(der, { allowed, maxAgeMs: day, trust }), /the auditors accept only TDX TCB status UpToDate, and no Intel TCB Info was supplied to evaluate it/);
  });

  test('a TCB table with an unknown key, component or status, or a bad number, is refused when enclave_info.toml is read', () => {
    assert.throws(() => parseEnclaveInfo(info('[tessera.tcb]\nsnp_minimum = { snp = 1 }\n')), /\[tessera.tcb\]: unknown key 'snp_minimum' \(known: snp_min, tdx_status\)/);
    assert.throws(() => parseEnclaveInfo(info('[tessera.tcb]\nsnp_min = { ucode = 1 }\n')), /snp_min: unknown component 'ucode' \(known: bootloader, tee, snp, microcode, fmc\)/);
    assert.throws(() => parseEnclaveInfo(info('[tessera.tcb]\nsnp_min = { snp = 256 }\n')), /snp_min.snp must be an integer from 0 to 255/);
    assert.throws(() => parseEnclaveInfo(info('[tessera.tcb]\ntdx_status = ["Fine"]\n')), /tdx_status: unknown status 'Fine'/);
    assert.throws(() => parseEnclaveInfo(info('[tessera.tcb]\ntdx_status = []\n')), /tdx_status must be a non-empty list/);
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
  const upToDate = () => verifyTdx(envelope('tdx', read('tdx/dcap-qvl/tdx_quote.bin'), null, '2025-06-20T00:00:00Z'), { collateral: { crls: [dcap.pck_crl, dcap.root_ca_crl], tdx: [trusteeCollateral, dcapCollateral] } });

  test('an up-to-date platform: the TCB Info for its FMSPC is picked from those supplied, and the status reported', () => {
    const checked = upToDate();
    assert.equal(checked.tcb?.tdx?.status, 'UpToDate');
    assert.equal(checked.tcb?.tdx?.fmspc, 'b0c06f000000');
    assert.equal(checked.tcb?.tdx?.qeStatus, 'UpToDate');
    assert.match(checked.description, /no certificate revoked; TCB status UpToDate; MRTD/);
    checkTcbPolicy(checked.tcb, { tdx_status: ['UpToDate'] });
  });

  test('an out-of-date platform is refused by default and by an UpToDate-only policy, and accepted when the auditors accept OutOfDate', () => {
    const checked = verifyTdx(envelope('tdx', read('tdx/trustee/tdx_quote_6.dat'), null, '2025-11-01T00:00:00Z'), { collateral: { tdx: [trusteeCollateral] } });
    assert.equal(checked.tcb?.tdx?.status, 'OutOfDate');
    assert.throws(() => checkTcbPolicy(checked.tcb, undefined), /the platform's TDX TCB status is OutOfDate.*, and Tessera accepts by default only UpToDate, SWHardeningNeeded, ConfigurationNeeded, ConfigurationAndSWHardeningNeeded: update the host's TDX module, microcode or configuration/);
    assert.throws(() => checkTcbPolicy(checked.tcb, { tdx_status: ['UpToDate'] }), /TDX TCB status is OutOfDate.*, and the auditors accept only UpToDate/);
    checkTcbPolicy(checked.tcb, { tdx_status: ['UpToDate', 'OutOfDate'] });
  });

  test('no TCB Info for the platform among those supplied, or expired TCB Info, is refused saying what to fetch', () => {
    assert.throws(
      () => verifyTdx(envelope('tdx', read('tdx/dcap-qvl/tdx_quote.bin'), null, '2025-06-20T00:00:00Z'), { collateral: { tdx: [trusteeCollateral] } }),
      /none of the 1 TCB Info supplied is for this platform's FMSPC b0c06f000000: fetch it from Intel PCS \(\/tdx\/certification\/v4\/tcb\?fmspc=b0c06f000000\)/,
    );
    assert.throws(() => verifyTdx(envelope('tdx', read('tdx/dcap-qvl/tdx_quote.bin'), null, '2025-08-01T00:00:00Z'), { collateral: { tdx: [dcapCollateral] } }), /TCB Info .*(expired|out of date|next update)/i);
  });
});
