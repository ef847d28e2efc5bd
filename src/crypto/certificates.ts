import 'reflect-metadata';
import { X509Certificate, createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { sha256Hex } from './random.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

/**
 * How far apart the clocks of a service's machines (its nodes, its users') may be: five minutes, as Kerberos
 * allows and as governance allows a COSE message's created_at (DEFAULT_MAX_CLOCK_SKEW_S). Certificates start
 * this long before they are made, so a node or client whose clock runs behind the issuer's by up to that
 * still finds them valid; and attestation evidence may be dated up to this far in the future.
 */
export const CLOCK_SKEW_ALLOWANCE_MS = 5 * 60_000;

export type Role = 'user' | 'member' | 'service';

export interface PemPair {
  certPem: string;
  keyPem: string;
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }) as string;
}

async function importSigningKey(keyPem: string): Promise<CryptoKey> {
  const der = createPrivateKey(keyPem).export({ format: 'der', type: 'pkcs8' });
  return webcrypto.subtle.importKey('pkcs8', der, ALG, false, ['sign']) as Promise<CryptoKey>;
}

const serial = () => {
  const bytes = randomBytes(16);
  bytes[0] &= 0x7f; // a positive INTEGER
  return bytes.toString('hex');
};

/** The node's certificate authority: every user, member and service certificate chains to it. */
export async function createCertificateAuthority(commonName: string, validDays = 3650): Promise<PemPair> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}, O=Tessera`,
    notBefore: new Date(now - CLOCK_SKEW_ALLOWANCE_MS),
    notAfter: new Date(now + validDays * DAY_MS),
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) };
}

export interface IssueOptions {
  name: string;
  role: Role;
  /** DNS names and IP addresses for a server certificate. */
  dnsNames?: string[];
  ipAddresses?: string[];
  validDays?: number;
  /** Validity in milliseconds; overrides validDays. */
  validMs?: number;
  /** Extra non-critical extensions: OID → raw extnValue contents. */
  extensions?: Record<string, Uint8Array>;
}

/** Issues a leaf certificate with a fresh ECDSA P-256 key, signed by the CA. */
export async function issueCertificate(ca: PemPair, opts: IssueOptions, keyPair?: CryptoKeyPair): Promise<PemPair> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const keys = keyPair ?? ((await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair);
  const now = Date.now();
  const names = [
    ...(opts.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(opts.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${opts.name}, OU=${opts.role}, O=Tessera`,
    issuer: caCert.subject,
    notBefore: new Date(now - CLOCK_SKEW_ALLOWANCE_MS),
    notAfter: new Date(now + (opts.validMs ?? (opts.validDays ?? 825) * DAY_MS)),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: await importSigningKey(ca.keyPem),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
      ...(names.length ? [new x509.SubjectAlternativeNameExtension(names)] : []),
      ...Object.entries(opts.extensions ?? {}).map(([oid, value]) => new x509.Extension(oid, false, new Uint8Array(value))),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) };
}

/** A fresh ECDSA P-256 key pair and its SubjectPublicKeyInfo DER, for a certificate that must commit to its key first. */
export async function newKeyPair(): Promise<{ keys: CryptoKeyPair; spki: Buffer }> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  return { keys, spki: Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey)) };
}

/** A certificate's id, as in CCF: the lowercase hex SHA-256 of its DER. */
export const certIdOfDer = (der: Uint8Array): string => sha256Hex(der);
export const certIdOfPem = (pem: string): string => certIdOfDer(new X509Certificate(pem).raw);

/** True when `certPem` was signed by the CA in `caPem`. */
export const isIssuedBy = (certPem: string, caPem: string): boolean => {
  const cert = new X509Certificate(certPem);
  const ca = new X509Certificate(caPem);
  return cert.checkIssued(ca) && cert.verify(ca.publicKey);
};
