import {
  X509Certificate, constants, createCipheriv, createDecipheriv, createHash, createHmac, createPrivateKey, createPublicKey,
  generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes, sign, verify, type KeyObject,
} from 'node:crypto';

// ccf.crypto (ccf.md §2.4), on node:crypto. Arguments arrive copied from the sandbox; ArrayBuffers go back.

const ab = (b: Buffer): ArrayBuffer => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
const buf = (a: ArrayBuffer) => Buffer.from(a);
const HASHES: Record<string, string> = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };
const KWP_IV = Buffer.from('a65959a6', 'hex');

interface SignAlg {
  name: string;
  hash?: string;
  saltLength?: number;
}

function hashOf(alg: SignAlg, allowed = Object.keys(HASHES)): string {
  if (!alg.hash || !allowed.includes(alg.hash)) throw new RangeError(`Unsupported hash algorithm ${alg.hash}, supported: ${allowed.join(', ')}`);
  return HASHES[alg.hash];
}

function publicKeyOf(pem: string): KeyObject {
  return pem.includes('BEGIN CERTIFICATE') ? new X509Certificate(pem).publicKey : createPublicKey(pem);
}

const withKid = (jwk: object, kid?: string) => (kid === undefined ? jwk : { ...jwk, kid });
const jwkOf = (key: KeyObject, kid?: string) => withKid(key.export({ format: 'jwk' }), kid);

const kwpCipher = (kek: Buffer) => `id-aes${kek.length * 8}-wrap-pad`;
function aesKwpWrap(key: Buffer, kek: Buffer): Buffer {
  const c = createCipheriv(kwpCipher(kek), kek, KWP_IV);
  return Buffer.concat([c.update(key), c.final()]);
}
function aesKwpUnwrap(wrapped: Buffer, kek: Buffer): Buffer {
  const d = createDecipheriv(kwpCipher(kek), kek, KWP_IV);
  return Buffer.concat([d.update(wrapped), d.final()]);
}
const oaep = (pem: string, label?: ArrayBuffer) => ({ key: pem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', ...(label && label.byteLength ? { oaepLabel: buf(label) } : {}) });

function certs(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}
const current = (c: X509Certificate) => Date.parse(c.validFrom) <= Date.now() && Date.now() <= Date.parse(c.validTo);

export const CCF_CRYPTO: Record<string, (...args: any[]) => unknown> = {
  sign(alg: SignAlg, keyPem: string, data: ArrayBuffer) {
    try {
      switch (alg?.name) {
        case 'ECDSA':
          return ab(sign(hashOf(alg), buf(data), { key: createPrivateKey(keyPem), dsaEncoding: 'ieee-p1363' }));
        case 'RSA-PSS':
          return ab(sign(hashOf(alg), buf(data), { key: createPrivateKey(keyPem), padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: alg.saltLength ?? 0 }));
        case 'EdDSA':
          return ab(sign(null, buf(data), createPrivateKey(keyPem)));
        case 'HMAC':
          return ab(createHmac(hashOf(alg), keyPem).update(buf(data)).digest());
      }
    } catch (err) {
      if (err instanceof RangeError) throw err;
      throw new Error(`Failed to sign: ${(err as Error).message}`);
    }
    throw new RangeError(`Unsupported signing algorithm ${alg?.name}, supported: ECDSA, RSA-PSS, EdDSA, HMAC`);
  },
  verifySignature(alg: SignAlg, keyPem: string, signature: ArrayBuffer, data: ArrayBuffer) {
    const key = publicKeyOf(keyPem);
    switch (alg?.name) {
      case 'ECDSA':
        return verify(hashOf(alg, ['SHA-256']), buf(data), { key, dsaEncoding: 'ieee-p1363' }, buf(signature));
      case 'RSA-PSS':
        return verify(hashOf(alg, ['SHA-256']), buf(data), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: alg.saltLength ?? 0 }, buf(signature));
      case 'EdDSA':
        return verify(null, buf(data), key, buf(signature));
    }
    throw new RangeError(`Unsupported signing algorithm ${alg?.name}, supported: ECDSA, RSA-PSS, EdDSA`);
  },
  digest(algorithm: string, data: ArrayBuffer) {
    if (algorithm !== 'SHA-256') throw new RangeError('unsupported digest algorithm, supported: SHA-256');
    return ab(createHash('sha256').update(buf(data)).digest());
  },
  generateAesKey(size: number) {
    if (![128, 192, 256].includes(size)) throw new RangeError('invalid key size (not 128, 192, or 256)');
    return ab(randomBytes(size / 8));
  },
  generateRsaKeyPair(bits: number, exponent = 65537) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: exponent });
    return { privateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }), publicKey: publicKey.export({ format: 'pem', type: 'spki' }) };
  },
  generateEcdsaKeyPair(curve: string) {
    const named = ({ secp256r1: 'P-256', secp384r1: 'P-384' } as Record<string, string>)[curve];
    if (!named) throw new RangeError(`Unsupported curve ${curve}, supported: secp256r1, secp384r1`);
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: named });
    return { privateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }), publicKey: publicKey.export({ format: 'pem', type: 'spki' }) };
  },
  generateEddsaKeyPair(curve: string) {
    const type = ({ curve25519: 'ed25519', x25519: 'x25519' } as Record<string, 'ed25519' | 'x25519'>)[curve];
    if (!type) throw new RangeError(`Unsupported curve ${curve}, supported: curve25519, x25519`);
    const { privateKey, publicKey } = generateKeyPairSync(type as 'ed25519');
    return { privateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }), publicKey: publicKey.export({ format: 'pem', type: 'spki' }) };
  },
  wrapKey(key: ArrayBuffer, wrappingKey: ArrayBuffer, params: { name: string; label?: ArrayBuffer; aesKeySize?: number }) {
    switch (params?.name) {
      case 'RSA-OAEP':
        return ab(publicEncrypt(oaep(buf(wrappingKey).toString('utf8'), params.label), buf(key)));
      case 'AES-KWP':
        return ab(aesKwpWrap(buf(key), buf(wrappingKey)));
      case 'RSA-OAEP-AES-KWP': {
        const aes = randomBytes((params.aesKeySize ?? 256) / 8);
        return ab(Buffer.concat([publicEncrypt(oaep(buf(wrappingKey).toString('utf8'), params.label), aes), aesKwpWrap(buf(key), aes)]));
      }
    }
    throw new RangeError(`Unsupported wrapping algorithm ${params?.name}, supported: RSA-OAEP, AES-KWP, RSA-OAEP-AES-KWP`);
  },
  unwrapKey(wrapped: ArrayBuffer, key: ArrayBuffer, params: { name: string; label?: ArrayBuffer }) {
    switch (params?.name) {
      case 'RSA-OAEP':
        return ab(privateDecrypt(oaep(buf(key).toString('utf8'), params.label), buf(wrapped)));
      case 'AES-KWP':
        return ab(aesKwpUnwrap(buf(wrapped), buf(key)));
      case 'RSA-OAEP-AES-KWP': {
        const pem = buf(key).toString('utf8');
        const modulus = (createPrivateKey(pem).asymmetricKeyDetails?.modulusLength ?? 2048) / 8;
        const all = buf(wrapped);
        const aes = privateDecrypt(oaep(pem, params.label), all.subarray(0, modulus));
        return ab(aesKwpUnwrap(all.subarray(modulus), aes));
      }
    }
    throw new RangeError(`Unsupported wrapping algorithm ${params?.name}, supported: RSA-OAEP, AES-KWP, RSA-OAEP-AES-KWP`);
  },
  isValidX509CertBundle(pem: string) {
    try {
      return certs(pem).length > 0;
    } catch {
      return false;
    }
  },
  isValidX509CertChain(chainPem: string, trustedPem: string) {
    try {
      const chain = certs(chainPem);
      const trusted = certs(trustedPem);
      if (chain.length === 0 || trusted.length === 0 || !chain.every(current)) return false;
      for (let i = 0; i < chain.length - 1; i++) if (!chain[i].verify(chain[i + 1].publicKey)) return false;
      const last = chain[chain.length - 1];
      return trusted.some((t) => current(t) && (t.fingerprint256 === last.fingerprint256 || last.verify(t.publicKey)));
    } catch {
      return false;
    }
  },
  pubPemToJwk: (pem: string, kid?: string) => jwkOf(createPublicKey(pem), kid),
  pemToJwk: (pem: string, kid?: string) => jwkOf(createPrivateKey(pem), kid),
  pubRsaPemToJwk: (pem: string, kid?: string) => jwkOf(createPublicKey(pem), kid),
  rsaPemToJwk: (pem: string, kid?: string) => jwkOf(createPrivateKey(pem), kid),
  pubEddsaPemToJwk: (pem: string, kid?: string) => jwkOf(createPublicKey(pem), kid),
  eddsaPemToJwk: (pem: string, kid?: string) => jwkOf(createPrivateKey(pem), kid),
  pubJwkToPem: (jwk: object) => createPublicKey({ key: stripKid(jwk), format: 'jwk' }).export({ format: 'pem', type: 'spki' }),
  jwkToPem: (jwk: object) => createPrivateKey({ key: stripKid(jwk), format: 'jwk' }).export({ format: 'pem', type: 'pkcs8' }),
  pubRsaJwkToPem: (jwk: object) => createPublicKey({ key: stripKid(jwk), format: 'jwk' }).export({ format: 'pem', type: 'spki' }),
  rsaJwkToPem: (jwk: object) => createPrivateKey({ key: stripKid(jwk), format: 'jwk' }).export({ format: 'pem', type: 'pkcs8' }),
  pubEddsaJwkToPem: (jwk: object) => createPublicKey({ key: stripKid(jwk), format: 'jwk' }).export({ format: 'pem', type: 'spki' }),
  eddsaJwkToPem: (jwk: object) => createPrivateKey({ key: stripKid(jwk), format: 'jwk' }).export({ format: 'pem', type: 'pkcs8' }),
};

function stripKid(jwk: object): import('node:crypto').JsonWebKey {
  const { kid: _kid, ...rest } = jwk as Record<string, unknown>;
  return rest as import('node:crypto').JsonWebKey;
}
