import { type X509Certificate, createHash, createPublicKey, verify } from 'node:crypto';
import { TesseraError } from '../errors/index.js';
import { certificatesOf, evidenceTime, nameOf, pemCertificates, revocationSummary, verifyChain } from './chain.js';
import { type Crl, parseCrl } from './crl.js';
import type { TdxEvaluation } from './hardware-policy.js';
import { type TdxCollateral, evaluateTdxTcb, pckTcb } from './tdx-tcb.js';
import { vendorCertificates } from './vendor-roots.js';
import { tsmReport } from './configfs-tsm.js';
import type { AttestationProvider, Evidence, ProviderCheck, TrustAnchors } from './evidence.js';

// Intel TDX quote, version 4 (Intel TDX DCAP Quoting Library API, "Quote Format").
export const TDX = {
  headerBytes: 48,
  bodyBytes: 584,
  mrtd: 48 + 136,
  reportData: 48 + 520,
  signedBytes: 48 + 584,
  qeReportBytes: 384,
  qeReportDataOffset: 320,
  teeType: 0x81,
} as const;

const fail = (why: string) => new TesseraError('permission_denied', `attestation check failed: ${why}`);

export function tdxProvider(opts: { tsmDir?: string }): AttestationProvider {
  return {
    name: 'tdx',
    async attest(reportData) {
      const { outblob } = await tsmReport(reportData, 'tdx_guest', opts.tsmDir);
      return { report: outblob, auxiliary: null };
    },
  };
}

/** A raw P-256 point (x ‖ y) as a public key. */
const rawP256 = (xy: Buffer) =>
  createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: xy.subarray(0, 32).toString('base64url'), y: xy.subarray(32, 64).toString('base64url') }, format: 'jwk' });

/**
 * Where a quote's TD report is, and where its signed bytes end. Version 4: the report follows the header.
 * Version 5 (Intel TDX DCAP "Quote Format", v5): a body type (2: TD report 1.0, 584 bytes; 3: TD report 1.5,
 * 648 bytes, TDX 1.5's SERVTD_HASH added at its end) and its size come first; the fields Tessera reads are
 * at the same offsets within the report in both.
 */
function layout(q: Buffer): { body: number; signedBytes: number } {
  const version = q.readUInt16LE(0);
  if (version === 4) return { body: TDX.headerBytes, signedBytes: TDX.signedBytes };
  if (version !== 5) throw fail(`TDX quote version ${version} is not supported (4 or 5)`);
  if (q.length < TDX.headerBytes + 6) throw fail(`the TDX quote is ${q.length} bytes, too short for a v5 quote`);
  const type = q.readUInt16LE(TDX.headerBytes);
  const size = q.readUInt32LE(TDX.headerBytes + 2);
  const expected = type === 2 ? TDX.bodyBytes : type === 3 ? TDX.bodyBytes + 64 : undefined;
  if (expected === undefined) throw fail(`TDX quote v5 body type ${type} is not a TD report (2 or 3)`);
  if (size !== expected) throw fail(`TDX quote v5 body type ${type} says ${size} bytes; a TD report of that type is ${expected}`);
  return { body: TDX.headerBytes + 6, signedBytes: TDX.headerBytes + 6 + size };
}

// Intel's TD quoting enclave, pinned as Intel's QVL pins it when no QE Identity is at hand: the quote header's
// QE vendor id is Intel's, and the QE report is from an enclave Intel signed (MRSIGNER) as the TD QE
// (ISVPRODID 2), not debuggable. Without this a host could have its own enclave certified by the PCE and sign
// any quote (Intel SGX DCAP "Quote Format"; the values of Intel's published TD_QE identity).
const INTEL_QE_VENDOR_ID = '939a7233f79c4ca9940a0db3957f0607';
const INTEL_TD_QE_MRSIGNER = 'dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5';
const INTEL_TD_QE_PRODID = 2;
// Offsets in the SGX enclave report (384 bytes) and in the TD report body.
const QE = { attributes: 48, mrsigner: 128, isvProdId: 256 } as const;
const TD = { tdAttributes: 120, mrtd: 136, rtmr0: 328 } as const;

/** Reads of a quote, each checked against its length first, so a short or lying quote is refused, not a RangeError. */
function reader(q: Buffer) {
  const need = (at: number, n: number, what: string) => {
    if (at < 0 || at + n > q.length) throw fail(`the TDX quote is truncated: ${what} would end at byte ${at + n}, and the quote has ${q.length}`);
  };
  return {
    u16: (at: number, what: string) => (need(at, 2, what), q.readUInt16LE(at)),
    u32: (at: number, what: string) => (need(at, 4, what), q.readUInt32LE(at)),
    bytes: (at: number, n: number, what: string) => (need(at, n, what), q.subarray(at, at + n)),
  };
}

export function verifyTdx(evidence: Evidence, trust: TrustAnchors, now: Date = new Date()): ProviderCheck {
  const q = Buffer.from(evidence.report, 'base64');
  if (q.length < TDX.signedBytes + 4) throw fail(`the TDX quote is ${q.length} bytes, too short for a quote`);
  const { body, signedBytes } = layout(q);
  const r = reader(q);
  if (q.length < signedBytes + 4) throw fail(`the TDX quote is ${q.length} bytes, too short for its TD report`);
  if (q.readUInt16LE(2) !== 2) throw fail('the TDX quote attestation key is not ECDSA P-256');
  if (q.readUInt32LE(4) !== TDX.teeType) throw fail('the quote is not from a TDX trust domain');
  if (q.subarray(12, 28).toString('hex') !== INTEL_QE_VENDOR_ID) throw fail(`the TDX quote's QE vendor id ${q.subarray(12, 28).toString('hex')} is not Intel's: it was not made by Intel's quoting enclave`);
  let at = signedBytes;
  const sigDataLength = r.u32(at, 'the signature data length');
  at += 4;
  if (q.length < at + sigDataLength) throw fail('the TDX quote signature data is truncated');
  const quoteSignature = r.bytes(at, 64, 'the quote signature');
  const attestationKey = r.bytes(at + 64, 64, 'the attestation key');
  at += 128;
  const outerType = r.u16(at, 'the certification data type');
  if (outerType !== 6) throw fail(`TDX certification data type ${outerType} is not QE report data (6)`);
  at += 6;
  const qeReport = r.bytes(at, TDX.qeReportBytes, "the quoting enclave's report");
  at += TDX.qeReportBytes;
  const qeReportSignature = r.bytes(at, 64, "the quoting enclave report's signature");
  at += 64;
  const authLength = r.u16(at, 'the QE authentication data length');
  const qeAuth = r.bytes(at + 2, authLength, 'the QE authentication data');
  at += 2 + authLength;
  const innerType = r.u16(at, 'the PCK certification data type');
  const innerLength = r.u32(at + 2, 'the PCK certification data length');
  if (innerType !== 5) throw fail(`TDX QE certification data type ${innerType} is not a PCK certificate chain (5)`);
  const pckChain = r.bytes(at + 6, innerLength, 'the PCK certificate chain');
  const roots = trust.tdxRoots?.length ? certificatesOf(trust.tdxRoots) : vendorCertificates('intel', 'root');
  const crls = (trust.collateral?.crls ?? []).map(parseCrl);
  const chain = verifyChain({ certificates: pemCertificates(pckChain.toString('utf8')), roots, crls, what: 'Intel PCK', at: evidenceTime(evidence), now });
  const pck = chain.leaf;

  // From the platform down: the PCK signed the quoting enclave's report, that enclave is Intel's TD QE, its
  // report vouches for the attestation key, and only then is the key used, to check the quote.
  if (!verify('sha256', qeReport, { key: pck.publicKey, dsaEncoding: 'ieee-p1363' }, qeReportSignature)) {
    throw fail('the quoting enclave report is not signed by the PCK certificate');
  }
  checkIntelQe(qeReport);
  const binding = createHash('sha256').update(Buffer.concat([attestationKey, qeAuth])).digest();
  if (!qeReport.subarray(TDX.qeReportDataOffset, TDX.qeReportDataOffset + 32).equals(binding)) {
    throw fail('the quoting enclave did not vouch for this attestation key');
  }
  let key: ReturnType<typeof rawP256>;
  try {
    key = rawP256(attestationKey);
  } catch {
    throw fail('the TDX quote attestation key is not a point on P-256');
  }
  if (!verify('sha256', q.subarray(0, signedBytes), { key, dsaEncoding: 'ieee-p1363' }, quoteSignature)) {
    throw fail('the TDX quote signature does not verify under its attestation key');
  }
  const evaluation = evaluate(q, pck, trust.collateral?.tdx ?? [], { at: now, roots, crls });
  const field = (offset: number, n = 48) => q.subarray(body + offset, body + offset + n).toString('hex');
  const mrtd = field(TD.mrtd);
  const rtmr = [0, 1, 2, 3].map((i) => field(TD.rtmr0 + 48 * i));
  const debug = Boolean(q[body + TD.tdAttributes] & 1);
  const reportData = body + (TDX.reportData - TDX.headerBytes);
  const tcbText = evaluation
    ? `TCB status ${evaluation.status}${evaluation.advisoryIds.length ? ` (advisories ${evaluation.advisoryIds.join(', ')})` : ''}`
    : 'TCB status not evaluated (no Intel TCB Info supplied)';
  return {
    reportData: Buffer.from(q.subarray(reportData, reportData + 64)),
    hardware: true,
    platform: { tdx: { mrtd, rtmr, debug, evaluation } },
    description: `Intel TDX: quote (v${q.readUInt16LE(0)}) signed by Intel's TD quoting enclave, whose PCK chains to ${nameOf(chain.path[chain.path.length - 1])}; ${revocationSummary(chain.revocation)}; ${tcbText}; MRTD ${mrtd}${debug ? ', DEBUG trust domain' : ''}`,
  };
}

/** The quoting enclave is Intel's TD QE and not debuggable; the full QE Identity, when supplied, is checked by tdx-tcb.ts. */
function checkIntelQe(report: Buffer) {
  const mrsigner = report.subarray(QE.mrsigner, QE.mrsigner + 32).toString('hex');
  if (mrsigner !== INTEL_TD_QE_MRSIGNER) throw fail(`the quoting enclave was signed by ${mrsigner}, not by Intel (${INTEL_TD_QE_MRSIGNER}): the quote is not from Intel's quoting enclave`);
  const prodId = report.readUInt16LE(QE.isvProdId);
  if (prodId !== INTEL_TD_QE_PRODID) throw fail(`the quoting enclave is Intel's product ${prodId}, not the TD quoting enclave (${INTEL_TD_QE_PRODID})`);
  if (report[QE.attributes] & 0x02) throw fail('the quoting enclave is a debug enclave, whose keys its host can read');
}

const fmspcOf = (tcbInfo: string): string | undefined => {
  try {
    return String((JSON.parse(tcbInfo) as { tcbInfo?: { fmspc?: string } }).tcbInfo?.fmspc ?? '').toLowerCase();
  } catch {
    return undefined;
  }
};

/** Intel's verdict from the TCB Info for the platform's FMSPC among those supplied; null when none were. */
function evaluate(quote: Buffer, pck: X509Certificate, collateral: TdxCollateral[], ctx: { at: Date; roots: X509Certificate[]; crls: Crl[] }): TdxEvaluation | null {
  if (collateral.length === 0) return null;
  const { fmspc } = pckTcb(pck);
  const mine = collateral.find((c) => fmspcOf(c.tcbInfo) === fmspc);
  if (!mine) {
    throw fail(`none of the ${collateral.length} TCB Info supplied is for this platform's FMSPC ${fmspc}: fetch it from Intel PCS (/tdx/certification/v4/tcb?fmspc=${fmspc}) or your PCCS and supply it`);
  }
  const r = evaluateTdxTcb({ quote, pck, collateral: mine, at: ctx.at, intelRoots: ctx.roots, crls: ctx.crls });
  return { status: r.status, advisoryIds: r.advisoryIds, tcbDate: r.tcbDate, fmspc: r.fmspc, ...(r.qeStatus ? { qeStatus: r.qeStatus } : {}) };
}
