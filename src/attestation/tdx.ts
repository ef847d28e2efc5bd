import { createHash, createPublicKey, verify } from 'node:crypto';
import { TesseraError } from '../errors/index.js';
import { certificatesOf, evidenceTime, nameOf, pemCertificates, verifyChain } from './chain.js';
import { parseCrl } from './crl.js';
import type { PlatformTcb } from './tcb-policy.js';
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

export function verifyTdx(evidence: Evidence, trust: TrustAnchors): ProviderCheck {
  const q = Buffer.from(evidence.report, 'base64');
  if (q.length < TDX.signedBytes + 4) throw fail(`the TDX quote is ${q.length} bytes, too short for a quote`);
  const { body, signedBytes } = layout(q);
  if (q.length < signedBytes + 4) throw fail(`the TDX quote is ${q.length} bytes, too short for its TD report`);
  if (q.readUInt16LE(2) !== 2) throw fail('the TDX quote attestation key is not ECDSA P-256');
  if (q.readUInt32LE(4) !== TDX.teeType) throw fail('the quote is not from a TDX trust domain');
  let at = signedBytes;
  const sigDataLength = q.readUInt32LE(at);
  at += 4;
  if (q.length < at + sigDataLength) throw fail('the TDX quote signature data is truncated');
  const quoteSignature = q.subarray(at, at + 64);
  const attestationKey = q.subarray(at + 64, at + 128);
  at += 128;
  const outerType = q.readUInt16LE(at);
  if (outerType !== 6) throw fail(`TDX certification data type ${outerType} is not QE report data (6)`);
  at += 6;
  const qeReport = q.subarray(at, at + TDX.qeReportBytes);
  at += TDX.qeReportBytes;
  const qeReportSignature = q.subarray(at, at + 64);
  at += 64;
  const authLength = q.readUInt16LE(at);
  const qeAuth = q.subarray(at + 2, at + 2 + authLength);
  at += 2 + authLength;
  const innerType = q.readUInt16LE(at);
  const innerLength = q.readUInt32LE(at + 2);
  if (innerType !== 5) throw fail(`TDX QE certification data type ${innerType} is not a PCK certificate chain (5)`);
  const roots = trust.tdxRoots?.length ? certificatesOf(trust.tdxRoots) : vendorCertificates('intel', 'root');
  const crls = (trust.collateral?.crls ?? []).map(parseCrl);
  const chain = verifyChain({
    certificates: pemCertificates(q.subarray(at + 6, at + 6 + innerLength).toString('utf8')),
    roots,
    crls,
    what: 'Intel PCK',
    at: evidenceTime(evidence),
  });
  const pck = chain.leaf;

  // From the platform down: the PCK signed the quoting enclave's report, that report vouches for the
  // attestation key, and only then is the key used, to check the quote.
  if (!verify('sha256', qeReport, { key: pck.publicKey, dsaEncoding: 'ieee-p1363' }, qeReportSignature)) {
    throw fail('the quoting enclave report is not signed by the PCK certificate');
  }
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
  const tcb = platformTcb(q, pck, trust.collateral?.tdx ?? [], { at: evidenceTime(evidence), roots, crls });
  const tcbText = tcb ? `TCB status ${tcb.status}${tcb.advisoryIds.length ? ` (advisories ${tcb.advisoryIds.join(', ')})` : ''}` : 'TCB status not evaluated (no Intel TCB Info supplied)';
  const mrtd = body + (TDX.mrtd - TDX.headerBytes);
  const reportData = body + (TDX.reportData - TDX.headerBytes);
  return {
    reportData: Buffer.from(q.subarray(reportData, reportData + 64)),
    hardware: true,
    tcb: { tdx: tcb },
    description: `Intel TDX: quote (v${q.readUInt16LE(0)}) signed by a quoting enclave whose PCK chains to ${nameOf(chain.path[chain.path.length - 1])}; ${chain.revocation.unchecked.length ? `revocation not checked for ${chain.revocation.unchecked.join(', ')} (no Intel CRL supplied)` : 'no certificate revoked'}; ${tcbText}; MRTD ${q.subarray(mrtd, mrtd + 48).toString('hex')}`,
  };
}

const fmspcOf = (tcbInfo: string): string | undefined => {
  try {
    return String((JSON.parse(tcbInfo) as { tcbInfo?: { fmspc?: string } }).tcbInfo?.fmspc ?? '').toLowerCase();
  } catch {
    return undefined;
  }
};

/** The platform's TCB status from the TCB Info for its FMSPC among those supplied; null when none were. */
function platformTcb(quote: Buffer, pck: ReturnType<typeof pemCertificates>[number], collateral: TdxCollateral[], ctx: { at: Date; roots: ReturnType<typeof pemCertificates>; crls: ReturnType<typeof parseCrl>[] }): NonNullable<PlatformTcb['tdx']> | null {
  if (collateral.length === 0) return null;
  const { fmspc } = pckTcb(pck);
  const mine = collateral.find((c) => fmspcOf(c.tcbInfo) === fmspc);
  if (!mine) {
    throw fail(`none of the ${collateral.length} TCB Info supplied is for this platform's FMSPC ${fmspc}: fetch it from Intel PCS (/tdx/certification/v4/tcb?fmspc=${fmspc}) or your PCCS and supply it`);
  }
  const r = evaluateTdxTcb({ quote, pck, collateral: mine, at: ctx.at, intelRoots: ctx.roots, crls: ctx.crls });
  return { status: r.status, advisoryIds: r.advisoryIds, tcbDate: r.tcbDate, fmspc: r.fmspc, ...(r.qeStatus ? { qeStatus: r.qeStatus } : {}) };
}
