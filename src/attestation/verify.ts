import 'reflect-metadata';
import { X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { TesseraError } from '../errors/index.js';
import { CLOCK_SKEW_ALLOWANCE_MS } from '../crypto/certificates.js';
import { LEGACY_EVIDENCE_OID, unwrapEvidence } from './cmw.js';
import { EVIDENCE_OID, type Evidence, type ProviderName, type ProviderVerifier, type TrustAnchors, decodeEvidence, reportDataFor } from './evidence.js';
import type { AllowedMeasurement } from './enclave-info.js';
import type { Measurement } from './measurement.js';
import { type PlatformReport, checkHardwarePolicy } from './hardware-policy.js';
import { verifySoftware } from './software.js';
import { verifySevSnp } from './sev-snp.js';
import { verifyTdx } from './tdx.js';

export const VERIFIERS: Record<ProviderName, ProviderVerifier> = {
  software: verifySoftware,
  'sev-snp': verifySevSnp,
  tdx: verifyTdx,
};

export interface NodeVerification {
  measurement: Measurement;
  provider: ProviderName;
  hardware: boolean;
  description: string;
  timestamp: string;
  /** What the hardware reported about its platform and guest (SEV-SNP, TDX): measurement, TCB, debug. */
  platform?: PlatformReport;
}

export interface VerifyOptions {
  /** The measurements the auditors signed, with what they require of the hardware. */
  allowed: AllowedMeasurement[];
  /** The oldest evidence accepted. */
  maxAgeMs: number;
  trust?: TrustAnchors;
  now?: Date;
  /**
   * Apply the auditors' hardware requirements (default true). Governance turns it off: there members, not
   * auditors, decide on a joining node, and its platform must be a Trusted node's (governance/nodes.ts).
   */
  hardwarePolicy?: boolean;
}

const fail = (why: string) => new TesseraError('permission_denied', `attestation check failed: ${why}`);

/** The evidence in a node certificate: in its id-pe-cmw extension, or where nodes before the CMW put it. */
export function evidenceOf(certDer: Buffer): Evidence {
  const cert = new x509.X509Certificate(new Uint8Array(certDer));
  const cmw = cert.getExtension(EVIDENCE_OID);
  if (cmw) return decodeEvidence(unwrapEvidence(Buffer.from(cmw.value)));
  const legacy = cert.getExtension(LEGACY_EVIDENCE_OID);
  if (legacy) return decodeEvidence(Buffer.from(legacy.value));
  throw fail('the node certificate carries no attestation evidence; is this a Tessera node?');
}

/**
 * Everything a client checks about the node it reached: the evidence verifies under its provider's
 * rules, is bound to this certificate's key, is fresh, and carries a measurement the auditors signed.
 */
export function verifyNodeCertificate(certDer: Buffer, opts: VerifyOptions): NodeVerification {
  const evidence = evidenceOf(certDer);
  if (!Object.hasOwn(VERIFIERS, evidence.provider)) throw fail(`unknown attestation provider '${evidence.provider}'`);
  const now = opts.now ?? new Date();
  const check = checkedBy(() => VERIFIERS[evidence.provider](evidence, opts.trust ?? {}, now), evidence.provider);
  const measurement = { mr_enclave: evidence.mr_enclave, mr_signer: evidence.mr_signer };
  const spki = new X509Certificate(certDer).publicKey.export({ format: 'der', type: 'spki' });
  const expected = reportDataFor(spki, measurement, evidence.timestamp);
  if (!check.reportData.subarray(0, 32).equals(expected.subarray(0, 32))) {
    throw fail('the evidence is for another key: it does not match the TLS key of this connection (a relayed or stolen certificate?)');
  }
  if (!check.reportData.subarray(32, 64).equals(expected.subarray(32, 64))) {
    throw fail('the report does not attest the measurement and time the evidence claims');
  }
  const made = Date.parse(evidence.timestamp);
  if (!Number.isFinite(made)) throw fail('the evidence has no valid timestamp');
  if (made - now.getTime() > CLOCK_SKEW_ALLOWANCE_MS) throw fail(`the evidence is dated ${evidence.timestamp}, in the future; check the clocks (more than ${CLOCK_SKEW_ALLOWANCE_MS / 60_000} minutes ahead of this machine's)`);
  if (now.getTime() - made > opts.maxAgeMs) {
    throw fail(`stale evidence: made ${evidence.timestamp}, ${Math.round((now.getTime() - made) / 1000)} s ago; at most ${Math.round(opts.maxAgeMs / 1000)} s is accepted`);
  }
  const listed = opts.allowed.filter((m) => m.mr_enclave === measurement.mr_enclave && m.mr_signer === measurement.mr_signer);
  if (listed.length === 0) {
    throw fail(`the node runs measurement ${measurement.mr_enclave}, which is not in the signed enclave_info.toml; the node's code or settings changed since the auditors signed: have them measure and sign again`);
  }
  if (opts.hardwarePolicy !== false) {
    checkHardwarePolicy(evidence.provider, check.platform, listed.map((m, i) => ({ service: m.service ?? `entry ${i + 1}`, ...(m.hardware ? { hardware: m.hardware } : {}) })));
  }
  return { measurement, provider: evidence.provider, hardware: check.hardware, description: check.description, timestamp: evidence.timestamp, ...(check.platform ? { platform: check.platform } : {}) };
}

/**
 * The platform a verified node runs on, as one comparable string: the provider, and what the hardware measured
 * of the guest (governance requires a joining node's to be a Trusted node's).
 */
export function platformName(v: NodeVerification): string {
  const { snp, tdx } = v.platform ?? {};
  if (snp) return `sev-snp launch measurement ${snp.measurement}${snp.debug ? ' (debug)' : ''}`;
  if (tdx) return `tdx MRTD ${tdx.mrtd} RTMR ${tdx.rtmr.join(' ')}${tdx.debug ? ' (debug)' : ''}`;
  return v.provider;
}

/**
 * A provider's check, with anything it throws that is not a TesseraError (a malformed report the parser did
 * not foresee) turned into a refusal that says so: the TLS layer must get a clear reason, never a RangeError.
 */
function checkedBy(run: () => ReturnType<ProviderVerifier>, provider: string): ReturnType<ProviderVerifier> {
  try {
    return run();
  } catch (err) {
    if (err instanceof TesseraError) throw err;
    throw fail(`the ${provider} evidence is malformed (${(err as Error).message})`);
  }
}
