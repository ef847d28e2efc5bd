import { Encoder, Tag } from 'cbor-x';

// A member's identity in the browser, and the COSE Sign1 envelopes of CCF governance signed with it.
//
// Origins of the formats copied here:
// - The envelope and its protected header: src/crypto/cose.ts (signCoseSign1 / decodeCoseSign1), itself
//   CCF's governance COSE Sign1 (RFC 9052): tag 18, [protected bstr, unprotected {}, payload, signature],
//   protected = { 1: alg, 4: kid (the member id's ASCII hex, as a BYTE string), "ccf.gov.msg.type",
//   "ccf.gov.msg.created_at" (integer epoch seconds), "ccf.gov.msg.proposal_id" (only when given) }.
//   The cbor-x Encoder options below are the same as cose.ts's, so the header bytes are the same bytes.
// - alg: -7 ES256 (P-256, SHA-256) and -35 ES384 (P-384, SHA-384), as cose.ts's ALGS table; the signature
//   is IEEE P1363 r || s, which is also what WebCrypto's ECDSA produces (RFC 9053 section 2.1).
// - The member id: lowercase hex SHA-256 of the certificate's DER (src/crypto/certificates.ts certIdOfPem).
// - Member keys are ECDSA P-256 PKCS#8 today (src/sdk/member-keys.ts, src/crypto/certificates.ts);
//   OpenSSL's `ecparam -genkey` writes SEC1 "EC PRIVATE KEY" (RFC 5915), wrapped here into PKCS#8
//   (RFC 5208) because WebCrypto imports only PKCS#8.
//
// Runs in browsers: WebCrypto, Uint8Array, atob and cbor-x only.

const encoder = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false });

/** The message types of src/crypto/cose.ts (GovMessageType), which are the ones the node accepts. */
export type GovMessageType = 'proposal' | 'ballot' | 'withdrawal' | 'ack' | 'state_digest';

export type MemberCurve = 'P-256' | 'P-384';

export interface MemberIdentity {
  /** Non-extractable ECDSA private key, usable only for 'sign'. Storable in IndexedDB as is. */
  key: CryptoKey;
  certPem: string;
  /** Lowercase hex SHA-256 of the certificate's DER, as the node's certIdOfPem. */
  memberId: string;
  curve: MemberCurve;
}

const CURVES: Record<MemberCurve, { alg: number; hash: 'SHA-256' | 'SHA-384'; oid: string }> = {
  'P-256': { alg: -7, hash: 'SHA-256', oid: '1.2.840.10045.3.1.7' },
  'P-384': { alg: -35, hash: 'SHA-384', oid: '1.3.132.0.34' },
};
const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const KNOWN_KEY_OIDS: Record<string, string> = {
  '1.2.840.113549.1.1.1': 'an RSA key',
  '1.2.840.113549.1.1.10': 'an RSA-PSS key',
  '1.3.101.112': 'an Ed25519 key',
  '1.3.101.113': 'an Ed448 key',
  '1.2.840.10040.4.1': 'a DSA key',
};
const CURVE_NAMES: Record<string, string> = { '1.3.132.0.35': 'P-521', '1.3.132.0.10': 'secp256k1' };

const fail = (why: string) => new Error(why);

// ---- PEM and a minimal DER reader (just what keys and certificates need) ----

/** The DER bytes of each PEM block, by label, in order. */
function pemBlocks(text: string): { label: string; der: Uint8Array }[] {
  const blocks: { label: string; der: Uint8Array }[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  for (let m: RegExpExecArray | null; (m = re.exec(text)); ) {
    const body = m[2].replace(/\s+/g, '');
    // Encrypted legacy PEM ("Proc-Type: 4,ENCRYPTED" headers) has a colon in its body.
    if (body.includes(':')) throw fail(`the ${m[1]} PEM block is encrypted (Proc-Type headers): decrypt it first, e.g. openssl ec -in key.pem -out plain.pem`);
    let der: Uint8Array;
    try {
      der = Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
    } catch {
      throw fail(`the ${m[1]} PEM block is not valid base64`);
    }
    blocks.push({ label: m[1], der });
  }
  return blocks;
}

interface Tlv {
  tag: number;
  /** The whole element, header included. */
  all: Uint8Array;
  /** The contents. */
  body: Uint8Array;
}

/** One DER element at `at`; throws on anything truncated or longer than 4 GiB. */
function readTlv(buf: Uint8Array, at = 0): Tlv {
  const bad = () => fail('not valid DER');
  if (at + 2 > buf.length) throw bad();
  const tag = buf[at];
  if ((tag & 0x1f) === 0x1f) throw bad(); // multi-byte tags: never in keys or certificates' outer structure
  let len = buf[at + 1];
  let off = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || off + n > buf.length) throw bad();
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[off + i];
    off += n;
  }
  if (off + len > buf.length) throw bad();
  return { tag, all: buf.subarray(at, off + len), body: buf.subarray(off, off + len) };
}

/** The elements inside a constructed element's contents. */
function children(body: Uint8Array): Tlv[] {
  const out: Tlv[] = [];
  for (let at = 0; at < body.length; ) {
    const t = readTlv(body, at);
    out.push(t);
    at += t.all.length;
  }
  return out;
}

function oidText(body: Uint8Array): string {
  const parts: number[] = [];
  let v = 0;
  for (const b of body) {
    v = v * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      if (parts.length === 0) parts.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

function oidDer(text: string): Uint8Array {
  const [a, b, ...rest] = text.split('.').map(Number);
  const bytes = [40 * a + b];
  for (const n of rest) {
    const groups = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) groups.unshift((v & 0x7f) | 0x80);
    bytes.push(...groups);
  }
  return der(0x06, Uint8Array.from(bytes));
}

function der(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const len = parts.reduce((n, p) => n + p.length, 0);
  const head = len < 0x80 ? [tag, len] : len < 0x100 ? [tag, 0x81, len] : [tag, 0x82, len >> 8, len & 0xff];
  const out = new Uint8Array(head.length + len);
  out.set(head);
  let at = head.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The curve named by an AlgorithmIdentifier { ecPublicKey, namedCurve }, or a clear refusal. */
function curveOfAlgorithm(algId: Tlv, what: string): MemberCurve {
  const [alg, params] = children(algId.body);
  if (alg?.tag !== 0x06) throw new Error('no algorithm identifier');
  const oid = oidText(alg.body);
  if (oid !== OID_EC_PUBLIC_KEY) throw fail(`${what} is ${KNOWN_KEY_OIDS[oid] ?? `of an unsupported type (${oid})`}; member keys are ECDSA P-256 or P-384`);
  return curveOfOid(params, what);
}

function curveOfOid(params: Tlv | undefined, what: string): MemberCurve {
  if (params?.tag !== 0x06) throw fail(`${what} has no named curve; member keys are ECDSA P-256 or P-384`);
  const oid = oidText(params.body);
  const curve = (Object.keys(CURVES) as MemberCurve[]).find((c) => CURVES[c].oid === oid);
  if (!curve) throw fail(`${what} is on curve ${CURVE_NAMES[oid] ?? oid}; member keys are ECDSA P-256 or P-384`);
  return curve;
}

/** The curve of a PKCS#8 PrivateKeyInfo (DER), or a clear refusal. */
function curveOfPkcs8(pkcs8: Uint8Array): MemberCurve {
  const what = 'the private key';
  // PrivateKeyInfo ::= SEQUENCE { version INTEGER, privateKeyAlgorithm AlgorithmIdentifier, privateKey OCTET STRING, ... }
  const top = readTlv(pkcs8);
  const [version, algId] = top.tag === 0x30 ? children(top.body) : [];
  if (top.all.length !== pkcs8.length || version?.tag !== 0x02 || algId?.tag !== 0x30) throw fail(`${what} is not a valid key: not a PKCS#8 PrivateKeyInfo`);
  return curveOfAlgorithm(algId, what);
}

/** A private key PEM -> PKCS#8 DER and its curve. Accepts "PRIVATE KEY" (PKCS#8) and "EC PRIVATE KEY" (SEC1). */
function privateKeyPkcs8(keyPem: string): { pkcs8: Uint8Array; curve: MemberCurve } {
  const blocks = pemBlocks(keyPem);
  const labels = blocks.map((b) => b.label);
  const pkcs8 = blocks.find((b) => b.label === 'PRIVATE KEY');
  const sec1 = blocks.find((b) => b.label === 'EC PRIVATE KEY');
  const what = 'the private key';
  try {
    if (pkcs8) return { pkcs8: pkcs8.der, curve: curveOfPkcs8(pkcs8.der) };
    if (sec1) {
      // ECPrivateKey ::= SEQUENCE { version 1, privateKey OCTET STRING, [0] parameters, [1] publicKey }
      const top = readTlv(sec1.der);
      const fields = children(top.body);
      if (top.tag !== 0x30 || fields[0]?.tag !== 0x02 || fields[1]?.tag !== 0x04) throw fail(`${what} is not a valid key: not a SEC1 ECPrivateKey`);
      const params = fields.find((f) => f.tag === 0xa0);
      if (!params) throw fail(`${what} (SEC1) names no curve; convert it with openssl pkcs8 -topk8 -nocrypt`);
      const curve = curveOfOid(children(params.body)[0], what);
      const algId = der(0x30, oidDer(OID_EC_PUBLIC_KEY), oidDer(CURVES[curve].oid));
      return { pkcs8: der(0x30, Uint8Array.of(0x02, 0x01, 0x00), algId, der(0x04, top.all)), curve };
    }
  } catch (err) {
    throw err instanceof Error && err.message.startsWith(what) ? err : fail(`${what} is not a valid key: ${(err as Error).message}`);
  }
  if (labels.includes('RSA PRIVATE KEY')) throw fail(`${what} is an RSA key; member keys are ECDSA P-256 or P-384`);
  if (labels.includes('ENCRYPTED PRIVATE KEY')) throw fail(`${what} is encrypted (ENCRYPTED PRIVATE KEY): export it unencrypted, e.g. openssl pkcs8 -in key.pem -out plain.pem`);
  if (labels.length) throw fail(`${what} PEM holds ${labels.join(', ')}, not a PRIVATE KEY or EC PRIVATE KEY block`);
  throw fail(`${what} is not PEM: expected a -----BEGIN PRIVATE KEY----- or -----BEGIN EC PRIVATE KEY----- block`);
}

/** A certificate PEM -> its DER and SubjectPublicKeyInfo (DER) and curve. */
function certificateSpki(certPem: string): { certDer: Uint8Array; spki: Uint8Array; curve: MemberCurve } {
  const block = pemBlocks(certPem).find((b) => b.label === 'CERTIFICATE');
  if (!block) throw fail('the certificate is not PEM: expected a -----BEGIN CERTIFICATE----- block');
  return certificateDerSpki(block.der);
}

function certificateDerSpki(certDer: Uint8Array): { certDer: Uint8Array; spki: Uint8Array; curve: MemberCurve } {
  const what = 'the certificate’s public key';
  try {
    // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version?, serial, signature, issuer, validity, subject, spki, ... }, ... }
    const cert = readTlv(certDer);
    const tbs = children(cert.body)[0];
    const fields = children(tbs.body);
    const spki = fields[fields[0]?.tag === 0xa0 ? 6 : 5];
    if (cert.tag !== 0x30 || tbs.tag !== 0x30 || spki?.tag !== 0x30) throw new Error('no SubjectPublicKeyInfo');
    return { certDer: cert.all, spki: spki.all, curve: curveOfAlgorithm(children(spki.body)[0], what) };
  } catch (err) {
    throw err instanceof Error && err.message.startsWith(what) ? err : fail(`the certificate is not a valid X.509 certificate: ${(err as Error).message}`);
  }
}

const hex = (bytes: ArrayBuffer | Uint8Array) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');

/** A certificate's id, as the node's certIdOfPem: the lowercase hex SHA-256 of its DER. */
export async function certIdOfPem(certPem: string): Promise<string> {
  return hex(await crypto.subtle.digest('SHA-256', certificateSpki(certPem).certDer as Uint8Array<ArrayBuffer>));
}

/**
 * Imports a member's PEM private key (PKCS#8 "PRIVATE KEY" or SEC1 "EC PRIVATE KEY") as a NON-extractable
 * WebCrypto key usable only to sign, after checking that it belongs to `certPem` (a random challenge signed
 * with it must verify with the certificate's public key).
 */
export async function importMemberIdentity(keyPem: string, certPem: string): Promise<MemberIdentity> {
  const { pkcs8, curve } = privateKeyPkcs8(keyPem);
  return identityOf(pkcs8, curve, certificateSpki(certPem), certPem);
}

/** The non-extractable signing key, once it is shown to be the certificate's. */
async function identityOf(pkcs8: Uint8Array, curve: MemberCurve, cert: { certDer: Uint8Array; spki: Uint8Array; curve: MemberCurve }, certPem: string): Promise<MemberIdentity> {
  if (cert.curve !== curve) throw fail(`the private key (${curve}) does not match the certificate, whose key is ${cert.curve}`);
  const params = { name: 'ECDSA', namedCurve: curve };
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey('pkcs8', pkcs8 as Uint8Array<ArrayBuffer>, params, false, ['sign']);
  } catch (err) {
    throw fail(`the private key could not be imported: ${(err as Error).message}`);
  }
  const publicKey = await crypto.subtle.importKey('spki', cert.spki as Uint8Array<ArrayBuffer>, params, false, ['verify']);
  const challenge = crypto.getRandomValues(new Uint8Array(32));
  const sig = { name: 'ECDSA', hash: CURVES[curve].hash };
  const proof = await crypto.subtle.sign(sig, key, challenge);
  if (!(await crypto.subtle.verify(sig, publicKey, proof, challenge))) throw fail('the private key does not match the certificate’s public key');
  return { key, certPem, memberId: hex(await crypto.subtle.digest('SHA-256', cert.certDer as Uint8Array<ArrayBuffer>)), curve };
}

/**
 * A COSE Sign1 envelope of a governance message, signed with the member's key: the body of a POST with
 * content-type application/cose to /gov/members/proposals:create, .../ballots/{memberId}:submit, :withdraw,
 * /gov/members/state-digests/{memberId}:ack. `proposalId` goes in ballots and withdrawals; `createdAt`
 * (epoch seconds) defaults to now.
 */
export async function signGovMessage(id: MemberIdentity, type: GovMessageType, payload: Uint8Array, opts: { proposalId?: string; createdAt?: number } = {}): Promise<Uint8Array> {
  const { alg, hash } = CURVES[id.curve];
  const createdAt = opts.createdAt ?? Math.floor(Date.now() / 1000);
  if (!Number.isInteger(createdAt) || createdAt < 0) throw fail(`createdAt must be whole epoch seconds, not ${createdAt}`);
  // Insertion order is encoding order: the same as cose.ts's signCoseSign1.
  const header = new Map<unknown, unknown>([
    [1, alg],
    [4, new TextEncoder().encode(id.memberId)],
    ['ccf.gov.msg.type', type],
    ['ccf.gov.msg.created_at', createdAt],
  ]);
  if (opts.proposalId) header.set('ccf.gov.msg.proposal_id', opts.proposalId);
  const protectedBytes = new Uint8Array(encoder.encode(header));
  const body = new Uint8Array(payload);
  // Sig_structure (RFC 9052 section 4.4): ["Signature1", protected, external_aad (empty), payload].
  const toSign = new Uint8Array(encoder.encode(['Signature1', protectedBytes, new Uint8Array(0), body]));
  const signature = new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash }, id.key, toSign));
  return new Uint8Array(encoder.encode(new Tag([protectedBytes, new Map(), body, signature], 18)));
}

// ---- PKCS#12 (.p12 / .pfx), RFC 7292 ----
// Only what WebCrypto can decrypt: PBES2 (PBKDF2 + AES-CBC, RFC 8018), OpenSSL 3's default for
// `openssl pkcs12 -export`. The legacy schemes (pbeWithSHAAnd3-KeyTripleDES-CBC, RC2-40: OpenSSL 1.x,
// `-legacy`, older Windows and macOS exports) use ciphers WebCrypto lacks and are refused with a hint.
// The password is checked with the file's HMAC (RFC 7292 appendix B key derivation) when it has one.

const OID = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  keyBag: '1.2.840.113549.1.12.10.1.1',
  shroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  pbmac1: '1.2.840.113549.1.5.14',
};
const HASHES: Record<string, { name: string; block: number }> = {
  '1.3.14.3.2.26': { name: 'SHA-1', block: 64 },
  '2.16.840.1.101.3.4.2.1': { name: 'SHA-256', block: 64 },
  '2.16.840.1.101.3.4.2.2': { name: 'SHA-384', block: 128 },
  '2.16.840.1.101.3.4.2.3': { name: 'SHA-512', block: 128 },
};
const PRFS: Record<string, string> = {
  '1.2.840.113549.2.7': 'SHA-1',
  '1.2.840.113549.2.9': 'SHA-256',
  '1.2.840.113549.2.10': 'SHA-384',
  '1.2.840.113549.2.11': 'SHA-512',
};
const AES_CBC: Record<string, number> = { '2.16.840.1.101.3.4.1.2': 128, '2.16.840.1.101.3.4.1.22': 192, '2.16.840.1.101.3.4.1.42': 256 };
const LEGACY_PBE: Record<string, string> = {
  '1.2.840.113549.1.12.1.1': 'RC4-128',
  '1.2.840.113549.1.12.1.2': 'RC4-40',
  '1.2.840.113549.1.12.1.3': '3DES',
  '1.2.840.113549.1.12.1.4': '2-key 3DES',
  '1.2.840.113549.1.12.1.5': 'RC2-128',
  '1.2.840.113549.1.12.1.6': 'RC2-40',
};

const p12fail = (why: string) => fail(`the PKCS#12 file ${why}`);
const int = (t: Tlv) => t.body.reduce((n, b) => n * 256 + b, 0);
/** The contents of an [0] EXPLICIT wrapper, which must hold an element of `tag`. */
const explicit = (t: Tlv | undefined, tag: number) => {
  const inner = t?.tag === 0xa0 ? children(t.body)[0] : undefined;
  if (inner?.tag !== tag) throw new Error('unexpected structure');
  return inner;
};

/** PBES2 decryption of `data` with the AlgorithmIdentifier `algId` (PBKDF2 + AES-CBC). */
async function pbes2Decrypt(algId: Tlv, data: Uint8Array, password: string): Promise<Uint8Array> {
  const [oid, params] = children(algId.body);
  const scheme = oidText(oid.body);
  if (LEGACY_PBE[scheme]) {
    throw p12fail(`is encrypted with the legacy ${LEGACY_PBE[scheme]} scheme, which browsers cannot decrypt: re-export it with AES, e.g. openssl pkcs12 -export -keypbe AES-256-CBC -certpbe AES-256-CBC -macalg sha256`);
  }
  if (scheme !== OID.pbes2) throw p12fail(`uses an unsupported encryption scheme (${scheme})`);
  const [kdf, enc] = children(params.body);
  const [kdfOid, kdfParams] = children(kdf.body);
  if (oidText(kdfOid.body) !== OID.pbkdf2) throw p12fail(`uses an unsupported key derivation (${oidText(kdfOid.body)}); only PBKDF2`);
  // PBKDF2-params ::= SEQUENCE { salt OCTET STRING, iterationCount INTEGER, keyLength INTEGER OPTIONAL, prf AlgorithmIdentifier DEFAULT hmacWithSHA1 }
  const kp = children(kdfParams.body);
  const prfAlg = kp.find((t, i) => i >= 2 && t.tag === 0x30);
  const prf = prfAlg ? PRFS[oidText(children(prfAlg.body)[0].body)] : 'SHA-1';
  const [encOid, iv] = children(enc.body);
  const bits = AES_CBC[oidText(encOid.body)];
  if (!prf || !bits || kp[0]?.tag !== 0x04 || iv?.tag !== 0x04) throw p12fail('uses PBES2 parameters this console does not support (AES-CBC with an HMAC-SHA PRF only)');
  const base = await crypto.subtle.importKey('raw', new TextEncoder().encode(password), 'PBKDF2', false, ['deriveKey']);
  const key = await crypto.subtle.deriveKey(
    { name: 'PBKDF2', salt: kp[0].body as Uint8Array<ArrayBuffer>, iterations: int(kp[1]), hash: prf },
    base,
    { name: 'AES-CBC', length: bits },
    false,
    ['decrypt'],
  );
  try {
    return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-CBC', iv: iv.body as Uint8Array<ArrayBuffer> }, key, data as Uint8Array<ArrayBuffer>));
  } catch {
    throw p12fail('could not be decrypted: wrong password?');
  }
}

/** RFC 7292 appendix B.2 with ID 3 (MAC key), for a key of exactly one hash length. */
async function pkcs12MacKey(hash: { name: string; block: number }, password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const v = hash.block;
  const fill = (src: Uint8Array) => {
    const out = new Uint8Array(v * Math.ceil(src.length / v));
    for (let i = 0; i < out.length; i++) out[i] = src[i % src.length];
    return out;
  };
  // The password as a BMPString: big-endian UTF-16 with a two-byte zero terminator.
  const bmp = new Uint8Array(password.length * 2 + 2);
  for (let i = 0; i < password.length; i++) {
    bmp[2 * i] = password.charCodeAt(i) >> 8;
    bmp[2 * i + 1] = password.charCodeAt(i) & 0xff;
  }
  const S = fill(salt);
  const P = fill(bmp);
  let a = new Uint8Array(v + S.length + P.length);
  a.fill(3, 0, v);
  a.set(S, v);
  a.set(P, v + S.length);
  for (let i = 0; i < iterations; i++) a = new Uint8Array(await crypto.subtle.digest(hash.name, a));
  return a;
}

/** Checks MacData ::= SEQUENCE { mac DigestInfo, macSalt OCTET STRING, iterations INTEGER DEFAULT 1 } over `content`. */
async function checkMac(macData: Tlv, content: Uint8Array, password: string) {
  const [digestInfo, salt, iterations] = children(macData.body);
  const [algId, digest] = children(digestInfo.body);
  const oid = oidText(children(algId.body)[0].body);
  if (oid === OID.pbmac1) throw p12fail('is protected with PBMAC1, which this console does not support: re-export it with -macalg sha256');
  const hash = HASHES[oid];
  if (!hash) throw p12fail(`uses an unsupported MAC hash (${oid})`);
  const keyBytes = await pkcs12MacKey(hash, password, salt.body, iterations ? int(iterations) : 1);
  const key = await crypto.subtle.importKey('raw', keyBytes as Uint8Array<ArrayBuffer>, { name: 'HMAC', hash: hash.name }, false, ['verify']);
  if (!(await crypto.subtle.verify('HMAC', key, digest.body as Uint8Array<ArrayBuffer>, content as Uint8Array<ArrayBuffer>))) throw p12fail('could not be opened: wrong password');
}

const pemOf = (label: string, derBytes: Uint8Array) => {
  const b64 = btoa(Array.from(derBytes, (b) => String.fromCharCode(b)).join(''));
  return `-----BEGIN ${label}-----\n${b64.replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END ${label}-----\n`;
};

/**
 * A PKCS#12 file (.p12 / .pfx) and its password -> the member identity, as importMemberIdentity. The
 * certificate is the one in the file whose public key matches the private key (a file may carry CA
 * certificates too). Only PBES2/AES files (OpenSSL 3's default); legacy 3DES/RC2 files are refused with a hint.
 */
export async function importMemberPkcs12(p12: Uint8Array, password: string): Promise<MemberIdentity> {
  const keys: Uint8Array[] = [];
  const certs: Uint8Array[] = [];
  try {
    // PFX ::= SEQUENCE { version 3, authSafe ContentInfo (data), macData MacData OPTIONAL }
    if (new TextDecoder().decode(p12.subarray(0, 10)) === '-----BEGIN') throw p12fail('is PEM text, not a .p12/.pfx file: import it as a PEM key and certificate');
    const pfx = readTlv(p12);
    const [version, authSafe, macData] = pfx.tag === 0x30 ? children(pfx.body) : [];
    if (version?.tag !== 0x02 || int(version) !== 3 || authSafe?.tag !== 0x30) throw p12fail('is not valid: not a PFX structure');
    const [authType, authContent] = children(authSafe.body);
    if (oidText(authType.body) !== OID.data) throw p12fail('is signed with a public key (not password-protected), which this console does not support');
    const safes = explicit(authContent, 0x04).body;
    if (macData) await checkMac(macData, safes, password);
    // AuthenticatedSafe ::= SEQUENCE OF ContentInfo: each plain (data) or password-encrypted (encryptedData) SafeContents.
    for (const info of children(readTlv(safes).body)) {
      const [type, content] = children(info.body);
      let safeContents: Uint8Array;
      if (oidText(type.body) === OID.data) safeContents = explicit(content, 0x04).body;
      else if (oidText(type.body) === OID.encryptedData) {
        // EncryptedData ::= SEQUENCE { version, EncryptedContentInfo SEQUENCE { contentType, algorithm, [0] IMPLICIT OCTET STRING } }
        const [, eci] = children(explicit(content, 0x30).body);
        const [, algId, encrypted] = children(eci.body);
        if (encrypted?.tag !== 0x80) throw p12fail('has a BER-encoded (constructed) encrypted part, which this console does not support');
        safeContents = await pbes2Decrypt(algId, encrypted.body, password);
      } else throw p12fail(`holds content of type ${oidText(type.body)}, which this console does not support`);
      // SafeContents ::= SEQUENCE OF SafeBag { bagId OID, [0] EXPLICIT bagValue, bagAttributes SET OPTIONAL }
      for (const bag of children(readTlv(safeContents).body)) {
        const [bagId, value] = children(bag.body);
        const id = oidText(bagId.body);
        if (id === OID.keyBag) keys.push(explicit(value, 0x30).all);
        else if (id === OID.shroudedKeyBag) {
          // EncryptedPrivateKeyInfo ::= SEQUENCE { encryptionAlgorithm, encryptedData OCTET STRING }
          const [algId, encrypted] = children(explicit(value, 0x30).body);
          keys.push(await pbes2Decrypt(algId, encrypted.body, password));
        } else if (id === OID.certBag) {
          const [certType, certValue] = children(explicit(value, 0x30).body);
          if (oidText(certType.body) === OID.x509Certificate) certs.push(explicit(certValue, 0x04).body);
        }
      }
    }
  } catch (err) {
    throw err instanceof Error && err.message.startsWith('the PKCS#12 file') ? err : p12fail(`is not valid: ${(err as Error).message}`);
  }
  if (keys.length !== 1) throw p12fail(`holds ${keys.length} private keys; expected exactly one`);
  if (!certs.length) throw p12fail('holds no certificate');
  const curve = curveOfPkcs8(keys[0]);
  const candidates = certs.map((c) => {
    try {
      return certificateDerSpki(c);
    } catch {
      return undefined;
    }
  });
  for (const cert of candidates) {
    if (!cert || cert.curve !== curve) continue;
    try {
      return await identityOf(keys[0], curve, cert, pemOf('CERTIFICATE', cert.certDer));
    } catch (err) {
      if (!(err instanceof Error) || err.message !== 'the private key does not match the certificate’s public key') throw err;
    }
  }
  throw p12fail('holds no certificate that matches its private key');
}
