import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Evidence } from '../../src/attestation/evidence.js';
import { SNP, verifySevSnp } from '../../src/attestation/sev-snp.js';
import { TDX, verifyTdx } from '../../src/attestation/tdx.js';
import { REPO } from '../helpers/cli.js';

// Issue 23, first step: the SEV-SNP and TDX verifiers on REAL hardware evidence, published as test data by
// open-source verifiers (test/fixtures/attestation/*/ORIGIN.md names each file's repository, commit and
// licence), not on fixtures these tests built. Each real report or quote verifies; each tampered variant is
// refused with a message naming what failed, and every certificate must be valid at the evidence's time.
// Still to come (issue 23): CRLs, TCB policy, key usage, chains built by a library.

const FIXTURES = join(REPO, 'test', 'fixtures', 'attestation');
const read = (path: string) => readFileSync(join(FIXTURES, path));
/** The PEM certificates of a file (PEM bundle or one DER certificate), in file order. */
function certificates(path: string): X509Certificate[] {
  const bytes = read(path);
  if (!bytes.includes('-----BEGIN')) return [new X509Certificate(bytes)];
  return (bytes.toString().match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((b) => new X509Certificate(b));
}
const byCommonName = (certs: X509Certificate[], cn: RegExp) => {
  const found = certs.find((c) => cn.test(c.subject));
  assert.ok(found, `a certificate named ${cn} in the chain file`);
  return found;
};

interface SnpCase {
  name: string;
  report: Buffer;
  /** Leaf (VCEK or VLEK), its AMD intermediate (ASK or ASVK), and the ARK. */
  chain: X509Certificate[];
  /** When the evidence says it was made: its certificates must be valid then. */
  at: string;
}

/** Now, unless the case says otherwise (a certificate that has expired since the report was published). */
const NOW = new Date().toISOString();

function snpCase(name: string, report: string, leaf: string, chainFile: string, intermediate: RegExp, at = NOW): SnpCase {
  let bytes = read(`snp/${report}`);
  if (report.endsWith('.hex')) bytes = Buffer.from(bytes.toString().trim(), 'hex');
  const chain = certificates(`snp/${chainFile}`);
  return { name, report: bytes, chain: [certificates(`snp/${leaf}`)[0], byCommonName(chain, intermediate), byCommonName(chain, /CN=ARK-/)], at };
}

const SNP_CASES: SnpCase[] = [
  snpCase('google/go-sev-guest, Milan VCEK', 'go-sev-guest/attestation.bin', 'go-sev-guest/vcek.testcer.der', 'go-sev-guest/ask_ark_milan.pem', /CN=SEV-Milan/),
  snpCase('virtee/sev, Milan VCEK', 'virtee-sev/report_milan.hex', 'virtee-sev/vcek_milan.der', 'virtee-sev/cert_chain_milan.pem', /CN=SEV-Milan/),
  snpCase('confidential-containers/trustee, Milan VCEK', 'trustee-snp/test-report.bin', 'trustee-snp/test-vcek.der', 'trustee-snp/milan_ask_ark_asvk.pem', /CN=SEV-Milan/),
  snpCase('confidential-containers/trustee, AWS Milan VLEK', 'trustee-snp/test-vlek-report.bin', 'trustee-snp/test-vlek.der', 'trustee-snp/milan_ask_ark_asvk.pem', /CN=SEV-VLEK-Milan/, '2025-06-01T00:00:00Z'),
  snpCase('confidential-containers/trustee, Azure Genoa VCEK', 'trustee-az-snp-vtpm/report-genoa.bin', 'trustee-az-snp-vtpm/vcek-genoa.pem', 'trustee-az-snp-vtpm/genoa_ask_ark_asvk.pem', /CN=SEV-Genoa/),
];

/** What Tessera's own evidence carries besides the report; the provider checks read only report and auxiliary. */
const ENVELOPE = { version: 1, mr_enclave: '', mr_signer: '', timestamp: '' } as const;

const snpEvidence = (report: Buffer, chain: X509Certificate[], at = NOW): Evidence => ({
  ...ENVELOPE,
  timestamp: at,
  provider: 'sev-snp',
  report: report.toString('base64'),
  auxiliary: Buffer.from(chain.map((c) => c.toString()).join('')).toString('base64'),
});
const arkOf = (c: SnpCase) => c.chain[2].toString();
const flipped = (bytes: Buffer, at: number) => {
  const copy = Buffer.from(bytes);
  copy[at] ^= 0x01;
  return copy;
};

describe('SEV-SNP: real reports', () => {
  for (const c of SNP_CASES) {
    test(`${c.name}: verifies, with its launch measurement and report data`, () => {
      const checked = verifySevSnp(snpEvidence(c.report, c.chain, c.at), { sevSnpRoots: [arkOf(c)] });
      assert.equal(checked.hardware, true);
      assert.match(checked.description, new RegExp(c.report.subarray(SNP.measurement, SNP.measurement + 48).toString('hex')));
      assert.deepEqual(checked.reportData, c.report.subarray(SNP.reportData, SNP.reportData + 64));
    });

    test(`${c.name}: every tampered variant is refused, naming what failed`, () => {
      const trust = { sevSnpRoots: [arkOf(c)] };
      const refused = (report: Buffer, chain: X509Certificate[], why: RegExp, roots = trust) => assert.throws(() => verifySevSnp(snpEvidence(report, chain, c.at), roots), why);
      const badSignature = new RegExp(`the SEV-SNP report signature does not verify under the ${c.name.includes('VLEK') ? 'VLEK' : 'VCEK'}: the report was altered`);
      refused(flipped(c.report, SNP.measurement + 5), c.chain, badSignature);
      refused(flipped(c.report, SNP.reportData), c.chain, badSignature);
      refused(flipped(c.report, SNP.vmpl), c.chain, badSignature);
      refused(flipped(c.report, SNP.signatureR + 3), c.chain, badSignature);
      refused(flipped(c.report, SNP.signatureS + 7), c.chain, badSignature);
      refused(c.report.subarray(0, SNP.size - 1), c.chain, /the SEV-SNP report is 1183 bytes; a report is 1184/);
      // The chain: a leaf whose signature was altered, an intermediate left out, a root nobody trusts.
      const leafDer = Buffer.from(c.chain[0].raw);
      const tamperedLeaf = new X509Certificate(flipped(leafDer, leafDer.length - 10));
      refused(c.report, [tamperedLeaf, c.chain[1], c.chain[2]], /the AMD SEV-SNP certificate chain is broken at/);
      refused(c.report, [c.chain[0], c.chain[2]], /the AMD SEV-SNP certificate 'SEV-V[CL]EK' is issued by 'SEV-(VLEK-)?(Milan|Genoa)', which is neither in the evidence nor a trusted AMD SEV-SNP authority/);
      // An extra certificate, not on the path from the leaf to the root.
      const stranger = SNP_CASES.find((o) => arkOf(o) !== arkOf(c))!.chain[1];
      refused(c.report, [c.chain[0], stranger, c.chain[1], c.chain[2]], /the AMD SEV-SNP chain carries a certificate that is not on the path to the root: 'SEV-(Milan|Genoa)'/);
      // Evidence dated before its VCEK existed.
      assert.throws(() => verifySevSnp(snpEvidence(c.report, c.chain, new Date(Date.parse(c.chain[0].validFrom) - 86_400_000).toISOString()), trust), /is not valid at .* \(the evidence's time\): it is valid from .*; check the clocks/);
      const otherArk = SNP_CASES.find((o) => arkOf(o) !== arkOf(c))!;
      refused(c.report, c.chain, /the AMD SEV-SNP chain ends in 'ARK-(Milan|Genoa)', a root that is not trusted \(trusted: ARK-(Milan|Genoa)\)/, { sevSnpRoots: [arkOf(otherArk)] });
    });
  }

  test('a report signed by the VCEK of another chip is refused', () => {
    const [a, b] = SNP_CASES;
    assert.throws(() => verifySevSnp(snpEvidence(a.report, b.chain), { sevSnpRoots: [arkOf(b)] }), /the report is from chip 3ac3fe21e13fb099…, and its VCEK was issued for chip d49554ec717f4e5b…: a VCEK for another chip/);
  });

  test('an expired VLEK is refused at today\'s date, saying it expired', () => {
    const vlek = SNP_CASES.find((c) => c.name.includes('VLEK'))!;
    assert.throws(() => verifySevSnp(snpEvidence(vlek.report, vlek.chain, NOW), { sevSnpRoots: [arkOf(vlek)] }), /the AMD SEV-SNP certificate 'SEV-VLEK' is not valid at .*: it is valid from 2024-12-10T22:14:21.000Z to 2025-12-10T22:14:21.000Z; it has expired/);
  });
});

const INTEL_ROOT = read('tdx/intel-root/Intel_SGX_Root_CA.pem').toString();
/** Real quotes, version 4 and version 5. */
const TDX_QUOTES: Array<[string, string]> = [
  ['google/go-tdx-guest, version 5 sample', 'go-tdx-guest/quote_v5_sample.dat'],
  ['confidential-containers/trustee, quote 5 (version 5)', 'trustee/tdx_quote_5.dat'],
  ['Phala-Network/dcap-qvl, version 5', 'dcap-qvl/tdx_quote_outdated.bin'],
  ['google/go-tdx-guest, Sapphire Rapids production quote', 'go-tdx-guest/tdx_prod_quote_SPR_E4.dat'],
  ['google/go-tdx-guest, Container-Optimized OS guest', 'go-tdx-guest/cos-113-tdx-quote.dat'],
  ['confidential-containers/trustee, quote 4', 'trustee/tdx_quote_4.dat'],
  ['confidential-containers/trustee, quote 6', 'trustee/tdx_quote_6.dat'],
  ['confidential-containers/trustee, Azure TD', 'trustee/az-tdx-vtpm-td-quote.bin'],
  ['Phala-Network/dcap-qvl', 'dcap-qvl/tdx_quote.bin'],
];
const tdxEvidence = (quote: Buffer): Evidence => ({ ...ENVELOPE, provider: 'tdx', report: quote.toString('base64'), auxiliary: null });

describe('TDX: real quotes', () => {
  for (const [name, path] of TDX_QUOTES) {
    const quote = read(`tdx/${path}`);
    // Version 5 puts a body type and size (6 bytes) before the TD report; the report's own layout is the same.
    const v5 = quote.readUInt16LE(0) === 5;
    const body = TDX.headerBytes + (v5 ? 6 : 0);
    const signedBytes = v5 ? body + quote.readUInt32LE(TDX.headerBytes + 2) : TDX.signedBytes;
    const mrtd = body + (TDX.mrtd - TDX.headerBytes);
    const reportData = body + (TDX.reportData - TDX.headerBytes);
    test(`${name}: verifies, with its MRTD and report data`, () => {
      const checked = verifyTdx(tdxEvidence(quote), { tdxRoots: [INTEL_ROOT] });
      assert.equal(checked.hardware, true);
      assert.match(checked.description, new RegExp(quote.subarray(mrtd, mrtd + 48).toString('hex')));
      assert.deepEqual(checked.reportData, quote.subarray(reportData, reportData + 64));
    });

    test(`${name}: every tampered variant is refused, naming what failed`, () => {
      const refused = (q: Buffer, why: RegExp, roots = [INTEL_ROOT]) => assert.throws(() => verifyTdx(tdxEvidence(q), { tdxRoots: roots }), why);
      const badQuote = /the TDX quote signature does not verify under its attestation key/;
      refused(flipped(quote, mrtd + 1), badQuote);
      refused(flipped(quote, reportData + 63), badQuote);
      refused(flipped(quote, 30), badQuote); // the header's user data (bytes 28–47), signed with the rest
      refused(flipped(quote, 20), /the TDX quote's QE vendor id [0-9a-f]{32} is not Intel's/);
      const signature = signedBytes + 4;
      refused(flipped(quote, signature + 2), badQuote);
      // The attestation key no longer the one the quoting enclave vouched for.
      refused(flipped(quote, signature + 64 + 5), /the quoting enclave did not vouch for this attestation key/);
      // The quoting enclave's report, and its signature by the PCK.
      const qeReport = signature + 128 + 6;
      refused(flipped(quote, qeReport + 10), /the quoting enclave report is not signed by the PCK certificate/);
      refused(flipped(quote, qeReport + TDX.qeReportBytes + 3), /the quoting enclave report is not signed by the PCK certificate/);
      refused(quote.subarray(0, signedBytes + 100), /the TDX quote signature data is truncated/);
      refused(quote, /the Intel PCK chain ends in 'Intel SGX Root CA', a root that is not trusted \(trusted: ARK-Milan\)/, [SNP_CASES[0].chain[2].toString()]);
    });
  }
});

test('TDX: a version 5 quote whose body is not a TD report, or says another size, is refused', () => {
  const quote = Buffer.from(read('tdx/go-tdx-guest/quote_v5_sample.dat'));
  const otherType = Buffer.from(quote);
  otherType.writeUInt16LE(1, TDX.headerBytes);
  assert.throws(() => verifyTdx(tdxEvidence(otherType), { tdxRoots: [INTEL_ROOT] }), /TDX quote v5 body type 1 is not a TD report \(2 or 3\)/);
  const otherSize = Buffer.from(quote);
  otherSize.writeUInt32LE(otherSize.readUInt32LE(TDX.headerBytes + 2) + 1, TDX.headerBytes + 2);
  assert.throws(() => verifyTdx(tdxEvidence(otherSize), { tdxRoots: [INTEL_ROOT] }), /TDX quote v5 body type \d says \d+ bytes; a TD report of that type is \d+/);
  const v6 = Buffer.from(quote);
  v6.writeUInt16LE(6, 0);
  assert.throws(() => verifyTdx(tdxEvidence(v6), { tdxRoots: [INTEL_ROOT] }), /TDX quote version 6 is not supported \(4 or 5\)/);
});
