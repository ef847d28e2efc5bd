import { X509Certificate } from 'node:crypto';
import { TesseraError } from '../errors/index.js';

const fail = (why: string) => new TesseraError('permission_denied', `attestation check failed: ${why}`);

/** Splits a PEM bundle into certificates. */
export function pemCertificates(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

/**
 * Checks leaf → … → root signatures and that the root is one of `roots` (by SHA-256 fingerprint).
 * Returns the leaf.
 */
export function verifyChain(chain: X509Certificate[], roots: string[] | undefined, what: string): X509Certificate {
  if (!roots?.length) throw fail(`no trusted ${what} root is configured, so the hardware report cannot be checked`);
  if (chain.length === 0) throw fail(`the evidence carries no ${what} certificate chain`);
  for (let i = 0; i < chain.length - 1; i++) {
    if (!chain[i].verify(chain[i + 1].publicKey)) throw fail(`the ${what} certificate chain is broken at '${chain[i].subject.replaceAll('\n', ', ')}'`);
  }
  const root = chain[chain.length - 1];
  if (!root.verify(root.publicKey)) throw fail(`the ${what} chain does not end in a self-signed root`);
  const trusted = roots.flatMap(pemCertificates).map((c) => c.fingerprint256);
  if (!trusted.includes(root.fingerprint256)) throw fail(`the ${what} chain ends in a root that is not trusted`);
  return chain[0];
}
