import { createHash } from 'node:crypto';
import { TesseraError } from '../errors/index.js';
import { CMW_OID, wrapEvidence } from './cmw.js';
import type { Measurement } from './measurement.js';
import type { PlatformReport } from './hardware-policy.js';
import type { TdxCollateral } from './tdx-tcb.js';

// Attestation evidence travels in the node's TLS certificate, in the non-critical X.509 extension
// id-pe-cmw (RFC 9999, cmw.ts) as a CMW record whose value is this JSON. Whatever the provider, the 64 bytes of report data it attests are
//   SHA-256(the certificate's SubjectPublicKeyInfo DER) ‖
//   SHA-256("tessera-evidence-v1" NUL mr_enclave NUL mr_signer NUL timestamp)
// so the evidence is bound to the TLS key (the check MesaTEE v0.1 got wrong), to the measurement,
// and to the time it was made.

/** The extension the evidence is in: id-pe-cmw (RFC 9999). */
export const EVIDENCE_OID = CMW_OID;

export type ProviderName = 'software' | 'sev-snp' | 'tdx';

export interface Evidence {
  version: 1;
  provider: ProviderName;
  mr_enclave: string;
  mr_signer: string;
  /** ISO 8601, UTC. */
  timestamp: string;
  /** The provider's report, base64. */
  report: string;
  /** What verifies the report (a signature, a certificate chain), base64; provider-specific. */
  auxiliary: string | null;
}

export function reportDataFor(spkiDer: Buffer, m: Measurement, timestamp: string): Buffer {
  return Buffer.concat([
    createHash('sha256').update(spkiDer).digest(),
    createHash('sha256').update(`tessera-evidence-v1\0${m.mr_enclave}\0${m.mr_signer}\0${timestamp}`).digest(),
  ]);
}

export interface ProviderResult {
  report: Buffer;
  auxiliary: Buffer | null;
}

/** Produces a report over 64 bytes of report data, inside whatever the provider trusts. */
export interface AttestationProvider {
  name: ProviderName;
  attest(reportData: Buffer): Promise<ProviderResult>;
}

/** Keys and roots a verifier trusts, per provider. */
export interface TrustAnchors {
  /** Software platform keys (SPKI PEM) to accept; when empty any platform key is accepted, which proves nothing anyway. */
  softwarePlatformKeys?: string[];
  /**
   * AMD root keys (ARK certificates, PEM) that a VCEK or VLEK chain must end in. Default: AMD's ARKs for Milan,
   * Genoa and Turin, pinned in Tessera (vendor-roots.ts). Given, they replace the pinned ones (a lab's own root).
   */
  sevSnpRoots?: string[];
  /** Intel SGX root CA certificates (PEM) that a PCK chain must end in. Default: Intel's, pinned in Tessera. */
  tdxRoots?: string[];
  /** What the vendors publish about revocation and TCB levels, supplied by the verifier's operator (offline, or from a cache). */
  collateral?: Collateral;
}

export interface Collateral {
  /** CRLs (PEM, DER, or DER in hex): AMD KDS's per product, Intel PCS's Root CA and PCK CA CRLs. */
  crls?: Array<string | Buffer>;
  /** Intel's TCB Info and QE Identity, one set per platform model (FMSPC) to be verified. */
  tdx?: TdxCollateral[];
}

export interface ProviderCheck {
  /** The 64 bytes the report attests. */
  reportData: Buffer;
  /** Whether a hardware root of trust stands behind the report. */
  hardware: boolean;
  /** What was verified, in words a user can read. */
  description: string;
  /** What the hardware says about its platform and guest (SEV-SNP, TDX), for the auditors' requirements. */
  platform?: PlatformReport;
}

/** Checks the provider's report; `now` is the verifier's time, against which collateral must be current. */
export type ProviderVerifier = (evidence: Evidence, trust: TrustAnchors, now?: Date) => ProviderCheck;

/** The extension value for the evidence: a CMW record wrapping its JSON. */
export const encodeEvidence = (e: Evidence): Buffer => wrapEvidence(Buffer.from(JSON.stringify(e)));

/** The evidence from its JSON (as unwrapped from the CMW). */
export function decodeEvidence(bytes: Buffer): Evidence {
  let e: Evidence;
  try {
    e = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new TesseraError('permission_denied', 'attestation check failed: the evidence in the node certificate is not valid JSON');
  }
  if (
    e?.version !== 1 ||
    typeof e.provider !== 'string' ||
    typeof e.report !== 'string' ||
    typeof e.timestamp !== 'string' ||
    typeof e.mr_enclave !== 'string' ||
    typeof e.mr_signer !== 'string' ||
    (e.auxiliary !== null && typeof e.auxiliary !== 'string')
  ) {
    throw new TesseraError('permission_denied', 'attestation check failed: the evidence in the node certificate is malformed');
  }
  return e;
}
