import { X509Certificate } from 'node:crypto';
import { TesseraError } from '../errors/index.js';

const fail = (why: string) => new TesseraError('permission_denied', `attestation check failed: ${why}`);

/** The time the evidence says it was made (Tessera's envelope), at which its certificates must be valid; now if it has none. */
export function evidenceTime(evidence: { timestamp?: string }): Date {
  const made = Date.parse(evidence.timestamp ?? '');
  return Number.isFinite(made) ? new Date(made) : new Date();
}

/** Splits a PEM bundle into certificates. */
export function pemCertificates(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

const nameOf = (c: X509Certificate) => /CN=([^\n,]+)/.exec(c.subject)?.[1] ?? c.subject.replaceAll('\n', ', ');

/**
 * Checks the chain leaf → … → root: each certificate valid at `at` (the evidence's time), each signed by the
 * next one, which names it as its subject's issuer and is a CA (basicConstraints); and the root self-signed
 * and one of `roots` (by SHA-256 fingerprint). A certificate that is not on that path (an extra one) breaks
 * it. Returns the leaf.
 */
export function verifyChain(chain: X509Certificate[], roots: string[] | undefined, what: string, at: Date = new Date()): X509Certificate {
  if (!roots?.length) throw fail(`no trusted ${what} root is configured, so the hardware report cannot be checked`);
  if (chain.length === 0) throw fail(`the evidence carries no ${what} certificate chain`);
  for (const c of chain) {
    const from = new Date(c.validFrom);
    const to = new Date(c.validTo);
    if (at < from || at > to) {
      throw fail(`the ${what} certificate '${nameOf(c)}' is not valid at ${at.toISOString()} (the evidence's time): it is valid from ${from.toISOString()} to ${to.toISOString()}; ${at > to ? 'it has expired, and the platform needs a current one from its vendor' : 'check the clocks'}`);
    }
  }
  for (let i = 0; i < chain.length - 1; i++) {
    const [child, parent] = [chain[i], chain[i + 1]];
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) throw fail(`the ${what} certificate chain is broken at '${child.subject.replaceAll('\n', ', ')}'`);
    if (!parent.ca) throw fail(`the ${what} certificate '${nameOf(parent)}' signs another but is not a CA (basicConstraints)`);
  }
  const root = chain[chain.length - 1];
  if (!root.checkIssued(root) || !root.verify(root.publicKey)) throw fail(`the ${what} chain does not end in a self-signed root`);
  const trusted = roots.flatMap(pemCertificates).map((c) => c.fingerprint256);
  if (!trusted.includes(root.fingerprint256)) throw fail(`the ${what} chain ends in a root that is not trusted`);
  return chain[0];
}
