import { createHash, createPublicKey, verify } from 'node:crypto';
import { TesseraError } from '../errors/index.js';
import { pemCertificates, verifyChain } from './chain.js';
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

export function verifyTdx(evidence: Evidence, trust: TrustAnchors): ProviderCheck {
  const q = Buffer.from(evidence.report, 'base64');
  if (q.length < TDX.signedBytes + 4) throw fail(`the TDX quote is ${q.length} bytes, too short for a v4 quote`);
  if (q.readUInt16LE(0) !== 4) throw fail(`TDX quote version ${q.readUInt16LE(0)} is not supported (4)`);
  if (q.readUInt16LE(2) !== 2) throw fail('the TDX quote attestation key is not ECDSA P-256');
  if (q.readUInt32LE(4) !== TDX.teeType) throw fail('the quote is not from a TDX trust domain');
  let at = TDX.signedBytes;
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
  const pck = verifyChain(pemCertificates(q.subarray(at + 6, at + 6 + innerLength).toString('utf8')), trust.tdxRoots, 'Intel PCK');

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
  if (!verify('sha256', q.subarray(0, TDX.signedBytes), { key, dsaEncoding: 'ieee-p1363' }, quoteSignature)) {
    throw fail('the TDX quote signature does not verify under its attestation key');
  }
  return {
    reportData: Buffer.from(q.subarray(TDX.reportData, TDX.reportData + 64)),
    hardware: true,
    description: `Intel TDX: quote signed by a quoting enclave whose PCK chains to a trusted Intel root; MRTD ${q.subarray(TDX.mrtd, TDX.mrtd + 48).toString('hex')}`,
  };
}
