import { type KeyObject, X509Certificate, createPublicKey } from 'node:crypto';

// The public key of a JSON Web Key as CCF takes it from `set_jwt_issuer` / `set_jwt_public_signing_keys`
// (CCF src/node/rpc/jwt_management.h, try_parse_jwk): raw RSA (`n`, `e`) first, then raw EC (`x`, `y`,
// `crv`), then the first certificate of `x5c` (base64 DER), whose subject public key is the key. `kty` does
// not choose between them: CCF's own test issuer sends `"kty": "RSA"` with an x5c certificate of any key
// type (tests/infra/jwt_issuer.py), so the key comes from whatever the JWK carries.

export interface JwkLike {
  kid?: unknown;
  kty?: unknown;
  n?: unknown;
  e?: unknown;
  x?: unknown;
  y?: unknown;
  crv?: unknown;
  x5c?: unknown;
  issuer?: unknown;
}

export class JwkError extends Error {}

const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
/** JWK members are base64url; CCF's test issuer writes them in standard base64 (to_b64): both are taken. */
const b64url = (v: string) => v.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

const CURVES: Record<string, string> = { 'P-256': 'P-256', 'P-384': 'P-384', 'P-521': 'P-521', secp256k1: 'secp256k1' };

const cache = new Map<string, KeyObject>();
const CACHE_CAP = 256;

/** The JWK's public key; throws JwkError with CCF's message when it has none CCF would accept. */
export function jwkPublicKey(jwk: JwkLike): KeyObject {
  const memo = JSON.stringify([jwk.n, jwk.e, jwk.x, jwk.y, jwk.crv, jwk.x5c]);
  const hit = cache.get(memo);
  if (hit) return hit;
  const key = parse(jwk);
  if (cache.size >= CACHE_CAP) cache.delete(cache.keys().next().value!);
  cache.set(memo, key);
  return key;
}

function parse(jwk: JwkLike): KeyObject {
  const kid = String(jwk.kid);
  if (nonEmpty(jwk.e) && nonEmpty(jwk.n)) {
    try {
      return createPublicKey({ key: { kty: 'RSA', n: b64url(jwk.n), e: b64url(jwk.e) }, format: 'jwk' });
    } catch (err) {
      throw new JwkError(`Failed to construct RSA public key: ${(err as Error).message}`);
    }
  }
  if (nonEmpty(jwk.x) && nonEmpty(jwk.y) && jwk.crv !== undefined) {
    try {
      const crv = CURVES[String(jwk.crv)];
      if (!crv) throw new Error(`unsupported curve ${String(jwk.crv)}`);
      return createPublicKey({ key: { kty: 'EC', crv, x: b64url(jwk.x), y: b64url(jwk.y) }, format: 'jwk' });
    } catch (err) {
      throw new JwkError(`Failed to construct EC public key: ${(err as Error).message}`);
    }
  }
  if (Array.isArray(jwk.x5c) && jwk.x5c.length > 0) {
    const first = jwk.x5c[0];
    if (typeof first !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(first)) throw new JwkError(`Could not parse x5c of key id ${kid}: not base64`);
    try {
      return new X509Certificate(Buffer.from(first, 'base64')).publicKey;
    } catch (err) {
      throw new JwkError(`JWKS kid ${kid} has an invalid X.509 certificate: ${(err as Error).message}`);
    }
  }
  throw new JwkError(`JWKS kid ${kid} has neither RSA/EC public key or x5c`);
}
