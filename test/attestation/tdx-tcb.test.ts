import 'reflect-metadata';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, sign, webcrypto, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import * as x509 from '@peculiar/x509';
import { type TdxCollateral, evaluateTdxTcb } from '../../src/attestation/tdx-tcb.js';
import { REPO } from '../helpers/cli.js';

// Issue 23, point 3: the TDX platform's TCB judged against Intel's signed collateral, on REAL quotes and REAL
// collateral published by open-source verifiers (test/fixtures/attestation/tdx/ORIGIN.md names each file's
// repository, commit and licence). All the collateral is past its nextUpdate today, so every case pins `at`
// inside the collateral's window, as dcap-qvl's tests do (tests/verify_quote.rs now_from_collateral).
// The refusals each change one thing and assert the message naming it.

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const TDX_DIR = join(REPO, 'test', 'fixtures', 'attestation', 'tdx');
const read = (path: string) => readFileSync(join(TDX_DIR, path));
const text = (path: string) => read(path).toString('utf8');
const INTEL_ROOT = new X509Certificate(read('intel-root/Intel_SGX_Root_CA.pem'));
/** Intel SGX TCB Signing (2025-05-06 .. 2032-05-06) ← Intel SGX Root CA, from dcap-qvl's collateral. */
const CHAIN_2025 = text('intel-root/Intel_SGX_TCB_Signing_chain.pem');
/** The same key's earlier certificate (2018-05-21 .. 2025-05-21) ← Intel SGX Root CA, from go-tdx-guest's test getter. */
const CHAIN_2018 = text('intel-root/Intel_SGX_TCB_Signing_chain_2018.pem');

/** The PCK leaf: the first certificate of the quote's certification data (type 5, inside type 6). */
function pckOf(quote: Buffer): X509Certificate {
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(quote.toString('latin1'));
  assert.ok(pem, 'a PEM certificate in the quote');
  return new X509Certificate(pem[0]);
}

/** dcap-qvl's QuoteCollateralV3 JSON as the PCS response bodies it was taken from (raw object + hex signature). */
function fromDcapQvl(path: string): TdxCollateral {
  const c = JSON.parse(text(path)) as Record<string, string>;
  return {
    tcbInfo: `{"tcbInfo":${c.tcb_info},"signature":"${c.tcb_info_signature}"}`,
    qeIdentity: `{"enclaveIdentity":${c.qe_identity},"signature":"${c.qe_identity_signature}"}`,
    signingChain: c.tcb_info_issuer_chain,
  };
}

const DCAP_QVL = fromDcapQvl('dcap-qvl/tdx_quote_collateral.json'); // FMSPC B0C06F000000, 2025-06-19 .. 2025-07-19
const DCAP_QVL_OUTDATED = fromDcapQvl('dcap-qvl/tdx_quote_outdated_collateral.json'); // FMSPC 90C06F000000, 2026-02-18 .. 2026-03-20
const GO_TDX_2023: TdxCollateral = {
  tcbInfo: text('go-tdx-guest/sample_tcbInfo_response'), // FMSPC 50806f000000, 2023-06-18 .. 2023-07-18
  qeIdentity: text('go-tdx-guest/sample_qeIdentity_response'), // 2023-06-08 .. 2023-07-08
  signingChain: CHAIN_2018,
};
const GO_TDX_V5: TdxCollateral = { tcbInfo: text('go-tdx-guest/sample_tcbinfo_response_v5'), signingChain: CHAIN_2025 }; // 90c06f000000, 2026-02-01 .. 2026-03-03
const TRUSTEE: TdxCollateral = { tcbInfo: text('trustee/tcbInfo.json'), signingChain: CHAIN_2025 }; // 00A06D080000, 2025-10-27 .. 2025-11-26

function evaluate(quotePath: string, collateral: TdxCollateral, at: string, opts: { quote?: Buffer; intelRoots?: X509Certificate[] } = {}) {
  const quote = opts.quote ?? read(quotePath);
  return evaluateTdxTcb({ quote, pck: pckOf(quote), collateral, at: new Date(at), intelRoots: opts.intelRoots ?? [INTEL_ROOT] });
}

const refused = (pattern: RegExp) => (e: unknown) => {
  assert.equal((e as { code?: string }).code, 'permission_denied');
  assert.match((e as Error).message, /^attestation check failed: /);
  assert.match((e as Error).message, pattern);
  return true;
};

describe('TDX TCB status from Intel collateral, real quotes', () => {
  test('dcap-qvl tdx_quote: UpToDate, no advisories (dcap-qvl tests/verify_quote.rs could_parse_tdx_quote)', () => {
    const tcb = evaluate('dcap-qvl/tdx_quote.bin', DCAP_QVL, '2025-07-01T00:00:00Z');
    assert.equal(tcb.status, 'UpToDate');
    assert.deepEqual(tcb.advisoryIds, []);
    assert.equal(tcb.fmspc, 'b0c06f000000');
    assert.equal(tcb.tcbDate, '2024-03-13T00:00:00Z');
    assert.equal(tcb.tcbEvaluationDataNumber, 17);
    assert.deepEqual(tcb.tdxModule, { id: 'TDX_01', isvsvn: 6, status: 'UpToDate', tcbDate: '2024-03-13T00:00:00Z' });
    assert.equal(tcb.qeStatus, 'UpToDate');
    assert.equal(tcb.collateralNextUpdate, '2025-07-19T10:16:03Z');
  });

  test('dcap-qvl tdx_quote_outdated: its PCK SGX TCB is below every level, refused (dcap-qvl verifies it only after inserting an all-zero level: tests/verify_tcb_override.rs)', () => {
    // PCK components 3.3.2.2.4.1.0.3…: component 8 (SEAMLDR ACM) is 3, every level of the 2026-02-18 TCB Info asks 5.
    assert.throws(() => evaluate('dcap-qvl/tdx_quote_outdated.bin', DCAP_QVL_OUTDATED, '2026-03-01T00:00:00Z'), refused(/SGX TCB \(PCK components 3\.3\.2\.2\.4\.1\.0\.3\.0\.0\.0\.0\.0\.0\.0\.0, PCESVN 13\) is below every level of the TCB Info/));
  });

  test('go-tdx-guest quote_v5_sample (TD report 1.5): UpToDate under go-tdx-guest v5 TCB Info and under dcap-qvl 2026 collateral with QE Identity', () => {
    const v5 = evaluate('go-tdx-guest/quote_v5_sample.dat', GO_TDX_V5, '2026-02-15T00:00:00Z');
    assert.equal(v5.status, 'UpToDate');
    assert.equal(v5.tdxModule?.id, 'TDX_01');
    assert.equal(v5.qeStatus, undefined);
    const withQe = evaluate('go-tdx-guest/quote_v5_sample.dat', DCAP_QVL_OUTDATED, '2026-03-01T00:00:00Z');
    assert.equal(withQe.status, 'UpToDate');
    assert.equal(withQe.qeStatus, 'UpToDate');
  });

  test('trustee tdx_quote_6: OutOfDate (PCESVN below the UpToDate level), TDX module TDX_03 UpToDate', () => {
    const tcb = evaluate('trustee/tdx_quote_6.dat', TRUSTEE, '2025-11-01T00:00:00Z');
    assert.equal(tcb.status, 'OutOfDate');
    assert.equal(tcb.platformStatus, 'OutOfDate');
    assert.equal(tcb.tcbDate, '2018-01-04T00:00:00Z');
    assert.equal(tcb.tdxModule?.status, 'UpToDate');
  });

  test('trustee tdx_quote_4 under the 2023 collateral (signed by the 2018 TCB Signing certificate): UpToDate, QE UpToDate', () => {
    const tcb = evaluate('trustee/tdx_quote_4.dat', GO_TDX_2023, '2023-07-01T00:00:00Z');
    assert.equal(tcb.status, 'UpToDate');
    assert.equal(tcb.qeStatus, 'UpToDate');
    assert.equal(tcb.tdxModule, undefined, 'TEE_TCB_SVN[1] is 0: no module identity');
  });

  test('go-tdx-guest tdx_prod_quote_SPR_E4 under the same 2023 collateral: no matching TCB level, refused (go-tdx-guest verify_test.go TestNegativeRawQuoteVerifyWithCollateral)', () => {
    assert.throws(() => evaluate('go-tdx-guest/tdx_prod_quote_SPR_E4.dat', GO_TDX_2023, '2023-07-01T00:00:00Z'), refused(/below every level of the TCB Info/));
  });
});

describe('TDX TCB refusals', () => {
  test('a TCB Info with one byte changed: its signature does not verify', () => {
    const tampered = { ...DCAP_QVL, tcbInfo: DCAP_QVL.tcbInfo.replace('"tcbEvaluationDataNumber":17', '"tcbEvaluationDataNumber":18') };
    assert.notEqual(tampered.tcbInfo, DCAP_QVL.tcbInfo);
    assert.throws(() => evaluate('dcap-qvl/tdx_quote.bin', tampered, '2025-07-01T00:00:00Z'), refused(/the TCB Info signature does not verify with the Intel SGX TCB Signing certificate/));
  });

  test("collateral for another platform's FMSPC", () => {
    assert.throws(
      () => evaluate('dcap-qvl/tdx_quote.bin', DCAP_QVL_OUTDATED, '2026-03-01T00:00:00Z'),
      refused(/the TCB Info is for FMSPC 90c06f000000 but this platform's PCK certificate says FMSPC b0c06f000000: fetch the TCB Info for fmspc=b0c06f000000/),
    );
  });

  test('collateral past its nextUpdate', () => {
    assert.throws(
      () => evaluate('dcap-qvl/tdx_quote.bin', DCAP_QVL, '2025-07-20T00:00:00Z'),
      refused(/the TCB Info for FMSPC b0c06f000000 expired on 2025-07-19T10:16:03.000Z .*fetch current collateral from Intel PCS/),
    );
    assert.throws(() => evaluate('dcap-qvl/tdx_quote.bin', DCAP_QVL, '2025-06-01T00:00:00Z'), refused(/was issued at 2025-06-19T10:16:03.000Z, after the time it is checked at/));
  });

  test("a signing certificate not valid at the collateral's time (the 2025 certificate for 2023 collateral)", () => {
    assert.throws(() => evaluate('trustee/tdx_quote_4.dat', { ...GO_TDX_2023, signingChain: CHAIN_2025 }, '2023-07-01T00:00:00Z'), refused(/'Intel SGX TCB Signing' is not valid at 2023-07-01/));
  });

  describe('collateral signed by a stand-in chain', () => {
    let fake: Signer;
    before(async () => {
      fake = await signer();
    });

    test("a signing chain that does not end at Intel's root, with correctly signed collateral", () => {
      const forged = fake.resign(DCAP_QVL, (info) => info);
      assert.throws(() => evaluate('dcap-qvl/tdx_quote.bin', forged, '2025-07-01T00:00:00Z'), refused(/Intel SGX TCB Signing chain ends in a root named 'Intel SGX Root CA' whose key is not the trusted one \(fingerprint .*\): a forged root/));
      // The same collateral with the stand-in root trusted is accepted: the root was the only thing wrong.
      assert.equal(evaluate('dcap-qvl/tdx_quote.bin', forged, '2025-07-01T00:00:00Z', { intelRoots: [fake.root] }).status, 'UpToDate');
    });

    test('a QE Identity naming a different MRSIGNER', () => {
      const other = fake.resign(DCAP_QVL, undefined, (qe) => ({ ...qe, mrsigner: '00'.repeat(32) }));
      assert.throws(
        () => evaluate('dcap-qvl/tdx_quote.bin', other, '2025-07-01T00:00:00Z', { intelRoots: [fake.root] }),
        refused(/the quoting enclave's MRSIGNER DC9E2A7C6F948F17474E34A7FC43ED030F7C1563F1BABDDF6340C82E0E54A8C5 is not the QE Identity's 0{64}: not Intel's TD quoting enclave/),
      );
    });

    test('an OutOfDate quoting enclave makes an UpToDate platform OutOfDate (QVL convergeTcbStatusWithQeTcbStatus)', () => {
      const qeOld = fake.resign(DCAP_QVL, undefined, (qe) => ({ ...qe, tcbLevels: [{ tcb: { isvsvn: 4 }, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: 'OutOfDate', advisoryIDs: ['INTEL-SA-00000'] }] }));
      const tcb = evaluate('dcap-qvl/tdx_quote.bin', qeOld, '2025-07-01T00:00:00Z', { intelRoots: [fake.root] });
      assert.equal(tcb.platformStatus, 'UpToDate');
      assert.equal(tcb.qeStatus, 'OutOfDate');
      assert.equal(tcb.status, 'OutOfDate');
      assert.deepEqual(tcb.advisoryIds, ['INTEL-SA-00000']);
    });

    test('a Revoked TCB level is reported as Revoked, not refused', () => {
      const revoked = fake.resign(DCAP_QVL, (info) => ({ ...info, tcbLevels: (info.tcbLevels as object[]).map((l) => ({ ...l, tcbStatus: 'Revoked', advisoryIDs: ['INTEL-SA-99999'] })) }));
      const tcb = evaluate('dcap-qvl/tdx_quote.bin', revoked, '2025-07-01T00:00:00Z', { intelRoots: [fake.root] });
      assert.equal(tcb.status, 'Revoked');
      assert.deepEqual(tcb.advisoryIds, ['INTEL-SA-99999']);
    });

    test('a TDX module signed by someone else (MRSIGNERSEAM not the TCB Info module identity)', () => {
      const other = fake.resign(DCAP_QVL, (info) => ({
        ...info,
        tdxModuleIdentities: (info.tdxModuleIdentities as { id: string }[]).map((m) => (m.id === 'TDX_01' ? { ...m, mrsigner: 'AB'.repeat(48) } : m)),
      }));
      assert.throws(() => evaluate('dcap-qvl/tdx_quote.bin', other, '2025-07-01T00:00:00Z', { intelRoots: [fake.root] }), refused(/MRSIGNERSEAM 0{96}\) is not the one the TCB Info names \((AB){48}\)/));
    });
  });

  test('a quote whose TEE_TCB_SVN is below every TCB level', () => {
    // tdx_quote.bin is v4: the TD report starts at byte 48 with TEE_TCB_SVN 06 01 03 00…; byte 2 is the TDX
    // component every level asks at least 2 of (TDX late microcode update). Evaluation reads the parsed values;
    // the quote signature is verifyTdx's business, the QE report (signed by the PCK) is untouched.
    const quote = Buffer.from(read('dcap-qvl/tdx_quote.bin'));
    assert.equal(quote.subarray(48, 51).toString('hex'), '060103');
    quote[48 + 2] = 0;
    assert.throws(() => evaluate('dcap-qvl/tdx_quote.bin', DCAP_QVL, '2025-07-01T00:00:00Z', { quote }), refused(/the platform's TDX TCB \(TEE_TCB_SVN 060100(00)+\) is below every level of the TCB Info/));
  });

  test("a TDX module ISVSVN below every level of its module identity", () => {
    const quote = Buffer.from(read('dcap-qvl/tdx_quote.bin'));
    quote[48] = 1; // TDX_01 levels start at ISVSVN 2
    assert.throws(() => evaluate('dcap-qvl/tdx_quote.bin', DCAP_QVL, '2025-07-01T00:00:00Z', { quote }), refused(/the TDX module ISVSVN 1 \(TEE_TCB_SVN\[0\]\) is below every level of TDX_01/));
  });

  test('a PCK certificate that did not sign the quote', () => {
    const quote = read('dcap-qvl/tdx_quote.bin');
    const other = pckOf(read('trustee/tdx_quote_4.dat'));
    assert.throws(
      () => evaluateTdxTcb({ quote, pck: other, collateral: DCAP_QVL, at: new Date('2025-07-01T00:00:00Z'), intelRoots: [INTEL_ROOT] }),
      refused(/the PCK certificate given is not the one whose key signed this quote's quoting enclave report/),
    );
  });
});

// A stand-in TCB Signing chain (root → "Intel SGX TCB Signing", valid 2020..2040) that re-signs collateral after
// a change, so that checks after the signature can be reached with collateral Intel never published.

interface Signer {
  root: X509Certificate;
  resign(c: TdxCollateral, tcbInfo?: (o: Record<string, unknown>) => Record<string, unknown>, qe?: (o: Record<string, unknown>) => Record<string, unknown>): TdxCollateral;
}

async function signer(): Promise<Signer> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const validity = { notBefore: new Date('2020-01-01T00:00:00Z'), notAfter: new Date('2040-01-01T00:00:00Z') };
  const rootKeys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: 'CN=Intel SGX Root CA', keys: rootKeys, signingAlgorithm: alg, ...validity,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  const leafKeys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: '02', subject: 'CN=Intel SGX TCB Signing', issuer: root.subject, publicKey: leafKeys.publicKey, signingKey: rootKeys.privateKey, signingAlgorithm: alg, ...validity,
  });
  const key: KeyObject = createPrivateKey({ key: Buffer.from(await webcrypto.subtle.exportKey('pkcs8', leafKeys.privateKey)), format: 'der', type: 'pkcs8' });
  const body = (member: string, raw: string) => `{"${member}":${raw},"signature":"${sign('sha256', Buffer.from(raw), { key, dsaEncoding: 'ieee-p1363' }).toString('hex')}"}`;
  const inner = (response: string, member: string) => (JSON.parse(response) as Record<string, Record<string, unknown>>)[member];
  return {
    root: new X509Certificate(root.toString('pem')),
    resign(c, tcbInfo = (o) => o, qe = (o) => o) {
      return {
        tcbInfo: body('tcbInfo', JSON.stringify(tcbInfo(inner(c.tcbInfo, 'tcbInfo')))),
        qeIdentity: c.qeIdentity === undefined ? undefined : body('enclaveIdentity', JSON.stringify(qe(inner(c.qeIdentity, 'enclaveIdentity')))),
        signingChain: [leaf.toString('pem'), root.toString('pem')].join('\n'),
      };
    },
  };
}
