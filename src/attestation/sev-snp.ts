import { X509Certificate, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { TesseraError } from '../errors/index.js';
import { certificatesOf, evidenceTime, nameOf, pemCertificates, revocationSummary, verifyChain } from './chain.js';
import { parseCrl } from './crl.js';
import { SNP_REPORT, checkEndorsementKey, productOf, reportedTcb, signingKeyOf } from './snp-tcb.js';
import { vendorCertificates } from './vendor-roots.js';
import { tsmReport } from './configfs-tsm.js';
import type { AttestationProvider, Evidence, ProviderCheck, TrustAnchors } from './evidence.js';

// AMD SEV-SNP ATTESTATION_REPORT (SEV-SNP ABI specification, table "ATTESTATION_REPORT structure").
export const SNP = {
  size: 0x4a0,
  version: 0x00,
  vmpl: 0x30,
  signatureAlgo: 0x34,
  reportData: 0x50,
  measurement: 0x90,
  signedBytes: 0x2a0,
  signatureR: 0x2a0,
  signatureS: 0x2e8,
  componentBytes: 0x48,
} as const;

const fail = (why: string) => new TesseraError('permission_denied', `attestation check failed: ${why}`);

// GUIDs of the certificate table the kernel returns in auxblob (GHCB specification).
const VCEK = '63da758d-e664-4564-adc5-f4b93be8accd';
const ASK = 'c0b406a4-a803-4952-9743-3fb6014cd0ae';
const ARK = '4ab7b379-bbac-4fe4-a02f-05aef327c782';

function guid(b: Buffer): string {
  const h = b.toString('hex');
  const le = (s: string) => s.match(/../g)!.reverse().join('');
  return `${le(h.slice(0, 8))}-${le(h.slice(8, 12))}-${le(h.slice(12, 16))}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The auxblob certificate table → a PEM bundle ordered VCEK, ASK, ARK. */
export function certTableToPem(aux: Buffer): string {
  const found = new Map<string, Buffer>();
  for (let at = 0; at + 24 <= aux.length; at += 24) {
    const id = guid(aux.subarray(at, at + 16));
    if (/^0{8}-0{4}-0{4}-0{4}-0{12}$/.test(id)) break;
    const offset = aux.readUInt32LE(at + 16);
    const length = aux.readUInt32LE(at + 20);
    found.set(id, aux.subarray(offset, offset + length));
  }
  return [VCEK, ASK, ARK]
    .filter((id) => found.has(id))
    .map((id) => new X509Certificate(found.get(id)!).toString())
    .join('');
}

export function sevSnpProvider(opts: { tsmDir?: string; certChainFile?: string }): AttestationProvider {
  return {
    name: 'sev-snp',
    async attest(reportData) {
      const { outblob, auxblob } = await tsmReport(reportData, 'sev_guest', opts.tsmDir);
      const pem = auxblob ? certTableToPem(auxblob) : opts.certChainFile ? readFileSync(opts.certChainFile, 'utf8') : '';
      if (!pem) throw new TesseraError('unavailable', 'the kernel returned no VCEK certificates; set attestation.sev_snp_cert_chain to a PEM file with the VCEK, ASK and ARK');
      return { report: outblob, auxiliary: Buffer.from(pem) };
    },
  };
}

/** Little-endian r and s, zero-padded to 72 bytes each, → the 96-byte big-endian r ‖ s of P-384. */
function p1363(report: Buffer): Buffer {
  const be = (at: number) => Buffer.from(report.subarray(at, at + 48)).reverse();
  return Buffer.concat([be(SNP.signatureR), be(SNP.signatureS)]);
}

export function verifySevSnp(evidence: Evidence, trust: TrustAnchors, now: Date = new Date()): ProviderCheck {
  const report = Buffer.from(evidence.report, 'base64');
  if (report.length < SNP.size) throw fail(`the SEV-SNP report is ${report.length} bytes; a report is ${SNP.size}`);
  const version = report.readUInt32LE(SNP.version);
  if (version < 2) throw fail(`SEV-SNP report version ${version} is not supported (2 or later)`);
  if (report.readUInt32LE(SNP.signatureAlgo) !== 1) throw fail('the SEV-SNP report is not signed with ECDSA P-384 / SHA-384');
  const signer = signingKeyOf(report);
  const pinned = !trust.sevSnpRoots?.length;
  const chain = verifyChain({
    certificates: pemCertificates(Buffer.from(evidence.auxiliary ?? '', 'base64').toString('utf8')),
    roots: pinned ? vendorCertificates('amd', 'root') : certificatesOf(trust.sevSnpRoots),
    intermediates: pinned ? vendorCertificates('amd', 'intermediate') : [],
    crls: (trust.collateral?.crls ?? []).map(parseCrl),
    what: 'AMD SEV-SNP',
    at: evidenceTime(evidence),
    now,
  });
  const product = productOf(chain.leaf);
  const tcb = reportedTcb(report, product);
  checkEndorsementKey(chain.leaf, report, signer, tcb);
  const signed = report.subarray(0, SNP.signedBytes);
  if (!verify('sha384', signed, { key: chain.leaf.publicKey, dsaEncoding: 'ieee-p1363' }, p1363(report))) {
    throw fail(`the SEV-SNP report signature does not verify under the ${signer}: the report was altered, or was signed by another key`);
  }
  const measurement = report.subarray(SNP.measurement, SNP.measurement + 48).toString('hex');
  const tcbText = Object.entries(tcb).map(([k, v]) => `${k} ${v}`).join(', ');
  // AMD does not revoke VCEKs or VLEKs by CRL (a compromised firmware is retired through its TCB version);
  // its KDS CRL, signed by the ARK, lists revoked ASKs and ASVKs.
  const revocation = revocationSummary(chain.revocation, [nameOf(chain.leaf)]);
  const vmpl = report.readUInt32LE(SNP.vmpl);
  const debug = Boolean((report.readBigUInt64LE(SNP_REPORT.policy) >> 19n) & 1n);
  return {
    reportData: Buffer.from(report.subarray(SNP.reportData, SNP.reportData + 64)),
    hardware: true,
    platform: { snp: { ...tcb, product, signer, measurement, vmpl, debug } },
    description: `AMD SEV-SNP (${product || 'unknown product'}): report signed by a ${signer} chaining to ${nameOf(chain.path[chain.path.length - 1])}; reported TCB ${tcbText}; ${revocation}; guest launch measurement ${measurement}, VMPL ${vmpl}${debug ? ', DEBUG allowed by the guest policy' : ''}`,
  };
}
