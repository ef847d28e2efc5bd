import { readFileSync } from 'node:fs';
import type { PeerCertificate } from 'node:tls';
import { checkServerIdentity } from 'node:tls';
import { type AllowedMeasurement, loadAuditorKey, verifyEnclaveInfo, type AuditorSignature } from '../attestation/enclave-info.js';
import type { TrustAnchors } from '../attestation/evidence.js';
import { type NodeVerification, verifyNodeCertificate } from '../attestation/verify.js';
import { TesseraError } from '../errors/index.js';

/** One auditor: a public key (path, PEM or DER) and their detached signature over enclave_info.toml. */
export interface AuditorInput {
  name?: string;
  publicKey: string | Buffer;
  signature?: Buffer;
  signatureFile?: string;
  /** MesaTEE's SDK calls the signature file the auditor's digest file; these are aliases. */
  digest?: Buffer;
  digestFile?: string;
}

export interface VerificationOptions {
  /** enclave_info.toml: a path or its bytes. */
  enclaveInfo?: string | Buffer;
  auditors?: AuditorInput[];
  /** The oldest evidence accepted, in ms (default 24 h). */
  maxEvidenceAgeMs?: number;
  trust?: TrustAnchors;
  /** Connect with no auditors and no attestation check. Warns on every connect. */
  insecureSkipVerification?: boolean;
}

/** How long a verified node certificate is taken without checking it again. */
const RECHECK_MS = 10 * 60_000;

const readIfPath = (value: string | Buffer): Buffer => {
  if (Buffer.isBuffer(value)) return value;
  if (value.includes('-----BEGIN')) return Buffer.from(value);
  return readFileSync(value);
};

function auditorSignatures(auditors: AuditorInput[]): AuditorSignature[] {
  return auditors.map((a, i) => {
    const signature = a.signature ?? a.digest ?? (a.signatureFile ?? a.digestFile ? readFileSync((a.signatureFile ?? a.digestFile)!) : undefined);
    const name = a.name ?? (typeof a.publicKey === 'string' && !a.publicKey.includes('-----BEGIN') ? a.publicKey.split('/').pop()! : `auditor ${i + 1}`);
    if (!signature) throw new TesseraError('invalid_input', `auditor '${name}' has no signature: give signature or signatureFile`);
    return { name, key: loadAuditorKey(readIfPath(a.publicKey)), signature };
  });
}

/**
 * What the SDK trusts, settled before any request: the auditors' signatures over enclave_info.toml,
 * and from it the list of measurements a node may run. `check` then verifies each node certificate
 * the SDK meets, once per certificate.
 */
export class NodeVerifier {
  readonly allowed: AllowedMeasurement[];
  readonly enclaveInfoDigest: string | null;
  /** Verified certificates, each until its evidence grows too old or, at the latest, RECHECK_MS from its check. */
  private readonly verified = new Map<string, { result: NodeVerification; until: number }>();

  constructor(private readonly opts: VerificationOptions) {
    if (opts.insecureSkipVerification) {
      this.allowed = [];
      this.enclaveInfoDigest = null;
      return;
    }
    if (!opts.enclaveInfo || !opts.auditors?.length) {
      throw new TesseraError(
        'invalid_input',
        'verification needs enclaveInfo and at least one auditor; to connect without any check, pass insecureSkipVerification: true (and accept that nothing about the node is proven)',
      );
    }
    const info = verifyEnclaveInfo(readIfPath(opts.enclaveInfo), auditorSignatures(opts.auditors));
    this.allowed = Object.values(info.services);
    this.enclaveInfoDigest = info.digest;
  }

  get skipping(): boolean {
    return Boolean(this.opts.insecureSkipVerification);
  }

  /** Verifies a node certificate (cached by fingerprint); throws with the failed check. */
  check(certDer: Buffer, fingerprint: string): NodeVerification | null {
    if (this.skipping) return null;
    const cached = this.verified.get(fingerprint);
    if (cached && Date.now() < cached.until) return cached.result;
    const maxAgeMs = this.opts.maxEvidenceAgeMs ?? 86_400_000;
    const result = verifyNodeCertificate(certDer, { allowed: this.allowed, maxAgeMs, trust: this.opts.trust });
    // Checked again once the evidence passes its allowed age, and every RECHECK_MS anyway, so collateral that
    // has expired since (a CRL, Intel's TCB Info) is judged again on a long-lived client.
    this.verified.set(fingerprint, { result, until: Math.min(Date.parse(result.timestamp) + maxAgeMs, Date.now() + RECHECK_MS) });
    return result;
  }

  /** For the TLS layer: the usual host name check, then the attestation check, on every new connection. */
  readonly checkServerIdentity = (host: string, cert: PeerCertificate): Error | undefined => {
    const hostError = checkServerIdentity(host, cert);
    if (hostError) return hostError;
    try {
      this.check(cert.raw, cert.fingerprint256);
      return undefined;
    } catch (err) {
      return err as Error;
    }
  };
}
