import 'reflect-metadata';
import { type X509Certificate, constants, verify } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificateList } from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import { CLOCK_SKEW_ALLOWANCE_MS } from '../crypto/certificates.js';
import { TesseraError } from '../errors/index.js';

// Certificate revocation lists, as the vendors publish them: AMD's KDS (/vcek/v1/<product>/crl, signed by
// the ARK, RSASSA-PSS / SHA-384) and Intel's PCS (the Root CA's CRL and the PCK Platform/Processor CA's
// CRL, ECDSA P-256 / SHA-256). @peculiar/x509 parses them; the signature is checked with node:crypto
// (OpenSSL) because the check runs inside TLS's synchronous server-identity callback, and WebCrypto's is
// asynchronous.

const fail = (why: string) => new TesseraError('permission_denied', `attestation check failed: ${why}`);

const OID = { ecdsaSha256: '1.2.840.10045.4.3.2', ecdsaSha384: '1.2.840.10045.4.3.3', rsaPss: '1.2.840.113549.1.1.10', rsaSha256: '1.2.840.113549.1.1.11', rsaSha384: '1.2.840.113549.1.1.12' };

export interface Crl {
  parsed: x509.X509Crl;
  tbs: Buffer;
  signature: Buffer;
  algorithm: string;
}

/** One CRL from PEM, DER, or DER as hex (the form Intel's PCS and dcap-qvl's collateral carry it in). */
export function parseCrl(input: string | Buffer): Crl {
  let der: Buffer;
  const text = Buffer.isBuffer(input) ? input.toString('latin1') : input;
  if (/-----BEGIN (X509 )?CRL-----/.test(text)) der = Buffer.from(text.replace(/-----(BEGIN|END) (X509 )?CRL-----|\s/g, ''), 'base64');
  else if (!Buffer.isBuffer(input) && /^[0-9a-fA-F\s]+$/.test(input)) der = Buffer.from(input.replace(/\s/g, ''), 'hex');
  else der = Buffer.isBuffer(input) ? input : Buffer.from(input, 'latin1');
  try {
    const asn = AsnConvert.parse(der, CertificateList);
    return {
      parsed: new x509.X509Crl(new Uint8Array(der)),
      tbs: firstElement(der),
      signature: Buffer.from(asn.signature),
      algorithm: asn.signatureAlgorithm.algorithm,
    };
  } catch (err) {
    throw new TesseraError('invalid_input', `a CRL in the collateral is not a DER or PEM certificate revocation list: ${(err as Error).message}`);
  }
}

/**
 * The exact bytes of the CRL's first element (tbsCertList), which its signature covers: re-encoding the
 * parsed structure need not give the same bytes back.
 */
function firstElement(der: Buffer): Buffer {
  const header = (at: number): { start: number; end: number } => {
    const first = der[at + 1];
    if (first < 0x80) return { start: at + 2, end: at + 2 + first };
    const n = first & 0x7f;
    const length = der.subarray(at + 2, at + 2 + n).reduce((v, b) => v * 256 + b, 0);
    return { start: at + 2 + n, end: at + 2 + n + length };
  };
  const outer = header(0);
  return der.subarray(outer.start, header(outer.start).end);
}

/** Whether `issuer`'s key signed this CRL (the algorithms AMD and Intel use). */
export function crlSignedBy(crl: Crl, issuer: X509Certificate): boolean {
  const key = issuer.publicKey;
  switch (crl.algorithm) {
    case OID.ecdsaSha256:
      return verify('sha256', crl.tbs, key, crl.signature);
    case OID.ecdsaSha384:
      return verify('sha384', crl.tbs, key, crl.signature);
    case OID.rsaSha256:
      return verify('sha256', crl.tbs, key, crl.signature);
    case OID.rsaSha384:
      return verify('sha384', crl.tbs, key, crl.signature);
    case OID.rsaPss:
      // AMD signs with RSASSA-PSS, SHA-384, salt length 48 (AMD SEV-SNP firmware ABI, "VCEK certificate").
      return verify('sha384', crl.tbs, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 }, crl.signature);
    default:
      return false;
  }
}

/** A serial number as hex without leading zeros, lower case: how a certificate and a CRL entry are compared. */
const serial = (hex: string) => hex.replace(/^0+(?=.)/, '').toLowerCase();

/**
 * The revocation check of one certificate against the CRLs of its issuer that are at hand: a CRL counts
 * only if the issuer signed it (and may sign CRLs); it must be current at `at` (the verifier's time, as the
 * vendors' verifiers judge collateral), and must not list the certificate. Returns whether a CRL was found,
 * so the caller can say what was not checked. `what` and `names` only word the messages.
 */
export function checkRevocation(cert: X509Certificate, issuer: X509Certificate, crls: Crl[], at: Date, what: string, names: { cert: string; issuer: string }): boolean {
  // The issuer read once, for every CRL: its name as @peculiar/x509 writes names (so it compares with a
  // CRL's issuer written the same way), and whether it may sign CRLs.
  const parsed = new x509.X509Certificate(new Uint8Array(issuer.raw));
  const ku = parsed.getExtension(x509.KeyUsagesExtension);
  if (ku && !(ku.usages & x509.KeyUsageFlags.cRLSign)) return false;
  const mine = crls.filter((crl) => crl.parsed.issuer === parsed.subject && crlSignedBy(crl, issuer));
  if (mine.length === 0) return false;
  const mySerial = serial(cert.serialNumber);
  for (const crl of mine) {
    const { thisUpdate, nextUpdate } = crl.parsed;
    if (thisUpdate.getTime() - at.getTime() > CLOCK_SKEW_ALLOWANCE_MS) {
      throw fail(`${what} CRL of '${names.issuer}' says it was issued at ${thisUpdate.toISOString()}, in the future by this machine's clock (${at.toISOString()}); check the clocks`);
    }
    if (nextUpdate && at > nextUpdate) {
      throw fail(`${what} CRL of '${names.issuer}' is out of date: its next update was due ${nextUpdate.toISOString()}; fetch a current CRL from the vendor (or your caching service) and supply it`);
    }
    const entry = crl.parsed.entries.find((e) => serial(e.serialNumber) === mySerial);
    if (entry) {
      throw fail(`${what} certificate '${names.cert}' (serial ${mySerial}) was revoked by '${names.issuer}' on ${entry.revocationDate.toISOString()}: this platform's key must not be trusted`);
    }
  }
  return true;
}
