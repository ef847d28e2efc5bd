import 'reflect-metadata';
import type { X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { TesseraError } from '../errors/index.js';
import { nameOf } from './chain.js';

// What an SEV-SNP report says about the platform's firmware (its TCB), and the check that the key which
// signed it was issued for that chip at that TCB. Offsets: AMD SEV-SNP firmware ABI, "ATTESTATION_REPORT
// structure"; certificate extensions: AMD "Versioned Chip Endorsement Key (VCEK) Certificate and KDS
// Interface Specification" (OIDs under 1.3.6.1.4.1.3704.1).

const fail = (why: string) => new TesseraError('permission_denied', `attestation check failed: ${why}`);

export const SNP_REPORT = {
  policy: 0x08,
  flags: 0x48,
  reportedTcb: 0x180,
  cpuidFamily: 0x188,
  cpuidModel: 0x189,
  chipId: 0x1a0,
} as const;

const OID = {
  productName: '1.3.6.1.4.1.3704.1.2',
  bootloader: '1.3.6.1.4.1.3704.1.3.1',
  tee: '1.3.6.1.4.1.3704.1.3.2',
  snp: '1.3.6.1.4.1.3704.1.3.3',
  microcode: '1.3.6.1.4.1.3704.1.3.8',
  fmc: '1.3.6.1.4.1.3704.1.3.9',
  hwid: '1.3.6.1.4.1.3704.1.4',
} as const;

/** The security version numbers of an SNP platform's firmware components. */
export interface SnpTcb {
  bootloader: number;
  tee: number;
  snp: number;
  microcode: number;
  /** Turin and later only. */
  fmc?: number;
}

export type SnpSigningKey = 'VCEK' | 'VLEK';

/** Which key signed the report (its SIGNING_KEY field, bits 4:2 of the flags). */
export function signingKeyOf(report: Buffer): SnpSigningKey {
  const field = (report.readUInt32LE(SNP_REPORT.flags) >> 2) & 7;
  if (field === 0) return 'VCEK';
  if (field === 1) return 'VLEK';
  throw fail(`the SEV-SNP report is not signed by a VCEK or VLEK (its signing-key field is ${field}${field === 7 ? ': no key' : ''})`);
}

/**
 * A TCB_VERSION (8 bytes) as the product lays it out: Milan and Genoa put the boot loader in byte 0, the TEE
 * in byte 1, SNP in byte 6 and microcode in byte 7; Turin (family 1Ah) puts FMC first and shifts the others.
 */
export function parseTcb(bytes: Buffer, turin: boolean): SnpTcb {
  return turin
    ? { fmc: bytes[0], bootloader: bytes[1], tee: bytes[2], snp: bytes[3], microcode: bytes[7] }
    : { bootloader: bytes[0], tee: bytes[1], snp: bytes[6], microcode: bytes[7] };
}

/** The product the endorsement key was issued for ('Milan-B0', 'Genoa', 'Turin'…), from its certificate. */
export function productOf(key: X509Certificate): string {
  const ext = new x509.X509Certificate(new Uint8Array(key.raw)).getExtension(OID.productName);
  // An IA5String: tag 0x16, a one-byte length.
  return ext ? Buffer.from(ext.value).subarray(2).toString('latin1') : '';
}

/** The report's reported TCB, read for the product its key was issued for (or its CPUID family, version 3 on). */
export function reportedTcb(report: Buffer, product: string): SnpTcb {
  const version = report.readUInt32LE(0);
  const turin = /^Turin/i.test(product) || (version >= 3 && report[SNP_REPORT.cpuidFamily] === 0x1a);
  return parseTcb(report.subarray(SNP_REPORT.reportedTcb, SNP_REPORT.reportedTcb + 8), turin);
}

function integerExtension(p: x509.X509Certificate, oid: string): number | undefined {
  const ext = p.getExtension(oid);
  if (!ext) return undefined;
  const der = Buffer.from(ext.value);
  // A DER INTEGER: tag 0x02, a one-byte length, big-endian two's complement (the SPLs are small and positive).
  if (der[0] !== 0x02 || der[1] + 2 !== der.length || der[1] > 4) throw fail(`the SEV-SNP key certificate's extension ${oid} is not a small INTEGER`);
  return der.subarray(2).reduce((n, b) => n * 256 + b, 0);
}

/**
 * The endorsement key certificate must be the one AMD issued for this report: its kind (VCEK, or VLEK for a
 * cloud provider's fleet) as the report says, for this chip (a VCEK's hwID is the report's CHIP_ID, unless the
 * host masks chip ids and the report carries zeros), and at this TCB (each SPL extension equals the report's REPORTED_TCB component).
 */
export function checkEndorsementKey(key: X509Certificate, report: Buffer, signer: SnpSigningKey, tcb: SnpTcb): void {
  const cn = nameOf(key);
  if (!cn.startsWith(`SEV-${signer}`)) throw fail(`the SEV-SNP report says it is signed by a ${signer}, and the chain's leaf certificate is '${cn}'`);
  const p = new x509.X509Certificate(new Uint8Array(key.raw));
  if (signer === 'VCEK') {
    const hwid = p.getExtension(OID.hwid);
    const chipId = report.subarray(SNP_REPORT.chipId, SNP_REPORT.chipId + 64);
    // A host configured with MASK_CHIP_ID reports zeros; the signature below still ties the report to this VCEK.
    const masked = chipId.every((b) => b === 0);
    if (!hwid) throw fail(`the VCEK '${cn}' names no chip (hwID extension)`);
    const id = Buffer.from(hwid.value);
    if (!masked && !chipId.subarray(0, id.length).equals(id)) {
      throw fail(
        `the report is from chip ${chipId.toString('hex').slice(0, 16)}…, and its VCEK was issued for chip ${id.toString('hex').slice(0, 16)}…: a VCEK for another chip; the platform must supply its own VCEK from AMD's KDS`,
      );
    }
  }
  for (const component of Object.keys(tcb) as (keyof SnpTcb)[]) {
    const certified = integerExtension(p, OID[component]);
    if (certified === undefined) {
      if (component === 'fmc') continue;
      throw fail(`the ${signer} certificate carries no ${component} SPL (extension ${OID[component]})`);
    }
    if (certified !== tcb[component]) {
      throw fail(
        `the ${signer} certificate was issued for ${component} SPL ${certified}, and the report's reported TCB has ${tcb[component]}: the key is for another TCB; fetch the ${signer} for the reported TCB from AMD's KDS`,
      );
    }
  }
}
