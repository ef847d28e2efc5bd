import 'reflect-metadata';
import { X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { TesseraError } from '../errors/index.js';
import { type Crl, checkRevocation } from './crl.js';

// The path from a hardware key's certificate (AMD's VCEK or VLEK, Intel's PCK) to its vendor's pinned root,
// checked as RFC 5280 asks of a path: every certificate valid at the evidence's time, every issuer a CA
// (basicConstraints, its path length respected) whose key usage allows signing certificates, the leaf's key
// usage allowing signatures, nothing revoked by the CRLs at hand, and no certificate in the evidence that is
// not on the path. @peculiar/x509 reads the extensions; node:crypto (OpenSSL) checks the signatures,
// synchronously, because this runs inside TLS's server-identity callback (docs/trust-model.md).

const fail = (why: string) => new TesseraError('permission_denied', `attestation check failed: ${why}`);

/** The time the evidence says it was made (Tessera's envelope), at which its certificates must be valid; now if it has none. */
export function evidenceTime(evidence: { timestamp?: string }): Date {
  const made = Date.parse(evidence.timestamp ?? '');
  return Number.isFinite(made) ? new Date(made) : new Date();
}

/** Splits a PEM bundle into certificates. */
export function pemCertificates(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (err) {
      throw fail(`certificate ${i + 1} of the evidence's chain is not a valid X.509 certificate (${(err as Error).message})`);
    }
  });
}

/** A distinguished name's common name, or the whole name where it has none. */
const commonName = (dn: string) => /CN=([^\n,]+)/.exec(dn)?.[1] ?? dn.replaceAll('\n', ', ');
export const nameOf = (c: X509Certificate) => commonName(c.subject);

// KeyUsage bits as @peculiar/x509 numbers them (RFC 5280 4.2.1.3).
const KU = { digitalSignature: 1, keyCertSign: 32 } as const;

export interface ChainInput {
  /** The leaf first, then whatever certificates the evidence carries (untrusted, in any order). */
  certificates: X509Certificate[];
  /** Trust anchors: self-signed roots, matched by fingerprint. */
  roots: X509Certificate[];
  /** Known intermediates (the vendor's pinned ones) that may complete a path the evidence left short. */
  intermediates?: X509Certificate[];
  /** CRLs at hand (collateral); a certificate whose issuer has none here is reported as not checked. */
  crls?: Crl[];
  /** e.g. 'AMD SEV-SNP', 'Intel PCK': named in every message. */
  what: string;
  /** The evidence's time: every certificate must be valid then. */
  at: Date;
  /** The verifier's time: CRLs must be current then (default: now). */
  now?: Date;
}

export interface ChainResult {
  leaf: X509Certificate;
  /** Leaf → root. */
  path: X509Certificate[];
  /** Certificates on the path whose revocation could be checked against a CRL, those that could not, and why not. */
  revocation: { checked: string[]; unchecked: string[]; why: string };
}

const MAX_DEPTH = 6;

function extensions(c: X509Certificate) {
  const p = new x509.X509Certificate(new Uint8Array(c.raw));
  return { bc: p.getExtension(x509.BasicConstraintsExtension), ku: p.getExtension(x509.KeyUsagesExtension) };
}

/** Builds the path leaf → … → a pinned root from the evidence's certificates and the known intermediates, then checks it. */
export function verifyChain(input: ChainInput): ChainResult {
  const { certificates, roots, what, at } = input;
  if (roots.length === 0) throw fail(`no trusted ${what} root is configured, so the hardware report cannot be checked`);
  if (certificates.length === 0) throw fail(`the evidence carries no ${what} certificate chain`);
  const trusted = new Set(roots.map((r) => r.fingerprint256));
  const pool = [...certificates.slice(1), ...roots, ...(input.intermediates ?? [])];
  const path = [certificates[0]];
  while (!trusted.has(path[path.length - 1].fingerprint256)) {
    const child = path[path.length - 1];
    if (path.length > MAX_DEPTH) throw fail(`the ${what} certificate chain is longer than ${MAX_DEPTH} certificates`);
    if (child.issuer === child.subject && child.verify(child.publicKey)) {
      const namesake = roots.find((r) => nameOf(r) === nameOf(child));
      throw fail(
        namesake
          ? `the ${what} chain ends in a root named '${nameOf(child)}' whose key is not the trusted one (fingerprint ${child.fingerprint256}, not ${namesake.fingerprint256}): a forged root`
          : `the ${what} chain ends in '${nameOf(child)}', a root that is not trusted (trusted: ${roots.map(nameOf).join(', ')})`,
      );
    }
    // By name and signature: whether the issuer may sign certificates at all is checked on the path, where
    // the message can say so (OpenSSL's checkIssued would refuse it here without saying why).
    const named = pool.filter((c) => !path.includes(c) && c.subject === child.issuer);
    const issuer = named.find((c) => child.verify(c.publicKey));
    if (!issuer) {
      throw fail(
        named.length
          ? `the ${what} certificate chain is broken at '${nameOf(child)}': its issuer's key did not sign it`
          : `the ${what} certificate '${nameOf(child)}' is issued by '${commonName(child.issuer)}', which is neither in the evidence nor a trusted ${what} authority`,
      );
    }
    path.push(issuer);
  }
  const onPath = new Set(path.map((c) => c.fingerprint256));
  const extra = certificates.find((c) => !onPath.has(c.fingerprint256));
  if (extra) {
    throw fail(`the ${what} chain carries a certificate that is not on the path to the root: '${nameOf(extra)}'; a chain must hold only its own certificates`);
  }
  path.forEach((c, i) => checkCertificate(c, i, what, at));
  const crls = input.crls ?? [];
  const revocation = { checked: [] as string[], unchecked: [] as string[], why: crls.length ? `none of the ${crls.length} CRLs supplied is from its issuer` : 'no CRL supplied' };
  for (let i = 0; i < path.length - 1; i++) {
    const found = checkRevocation(path[i], path[i + 1], crls, input.now ?? new Date(), `the ${what}`, { cert: nameOf(path[i]), issuer: nameOf(path[i + 1]) });
    (found ? revocation.checked : revocation.unchecked).push(nameOf(path[i]));
  }
  return { leaf: path[0], path, revocation };
}

/** One certificate at position `i` of a path (0 = leaf): validity, and its role's constraints. */
function checkCertificate(c: X509Certificate, i: number, what: string, at: Date) {
  const from = new Date(c.validFrom);
  const to = new Date(c.validTo);
  if (at < from || at > to) {
    throw fail(
      `the ${what} certificate '${nameOf(c)}' is not valid at ${at.toISOString()} (the evidence's time): it is valid from ${from.toISOString()} to ${to.toISOString()}; ${at > to ? 'it has expired, and the platform needs a current one from its vendor' : 'check the clocks'}`,
    );
  }
  const { bc, ku } = extensions(c);
  if (i === 0) {
    if (ku && !(ku.usages & KU.digitalSignature)) throw fail(`the ${what} certificate '${nameOf(c)}' may not sign (its key usage lacks digitalSignature)`);
    return;
  }
  if (!bc?.ca) throw fail(`the ${what} certificate '${nameOf(c)}' signs another but is not a CA (basicConstraints)`);
  // Intermediate CAs below this one: positions 1 … i-1.
  if (bc.pathLength !== undefined && i - 1 > bc.pathLength) {
    throw fail(`the ${what} certificate '${nameOf(c)}' allows ${bc.pathLength} intermediate CA(s) below it, and the chain has ${i - 1}`);
  }
  if (ku && !(ku.usages & KU.keyCertSign)) throw fail(`the ${what} certificate '${nameOf(c)}' is a CA whose key usage does not allow signing certificates (keyCertSign)`);
}

/**
 * The revocation part of a provider's description: which certificates (leaving out `except`, those its vendor
 * does not revoke by CRL) were not checked, and why; or that none is revoked.
 */
export function revocationSummary(revocation: ChainResult['revocation'], except: string[] = []): string {
  const unchecked = revocation.unchecked.filter((name) => !except.includes(name));
  return unchecked.length ? `revocation not checked for ${unchecked.join(', ')} (${revocation.why})` : 'no certificate revoked';
}

/** The trust anchors and CRL issuers a caller may pass as PEM strings. */
export const certificatesOf = (pems: string[] | undefined): X509Certificate[] => (pems ?? []).flatMap(pemCertificates);
