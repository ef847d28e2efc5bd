import { jwkPublicKey } from '../crypto/jwk.js';

// What CCF's node checks when an issuer's signing keys are stored (src/node/rpc/jwt_management.h,
// set_jwt_public_signing_keys): a set with no keys, a key without kid, or a key it cannot take a public key
// from is refused as a whole, and nothing is stored. Both constitutions go through this: Tessera's own at
// validate time (the member hears why before anyone votes), CCF's through ccf.setJwtPublicSigningKeys.

/** Why this key set would be refused, in CCF's words; null if every key is usable. */
export function jwksProblem(jwks: { keys?: unknown } | undefined): string | null {
  const keys = Array.isArray(jwks?.keys) ? (jwks!.keys as unknown[]) : [];
  if (keys.length === 0) return 'JWKS has no keys';
  for (const k of keys) {
    const jwk = (k ?? {}) as Record<string, unknown>;
    if (typeof jwk.kid !== 'string') return 'Missing kid for JWT signing key';
    try {
      jwkPublicKey(jwk);
    } catch (err) {
      return `JWT signing key ${jwk.kid}: ${(err as Error).message}`;
    }
  }
  return null;
}

/** CCF's shape check of each JWK in a proposal (samples/constitutions/default/actions.js, checkJwks). */
export function jwkShapeProblem(jwk: Record<string, unknown>, field: string): string | null {
  if (typeof jwk.kid !== 'string') return `${field}.kid must be of type string but is of type ${typeof jwk.kid}`;
  if (typeof jwk.kty !== 'string') return `${field}.kty must be of type string but is of type ${typeof jwk.kty}`;
  if (jwk.x5c) return Array.isArray(jwk.x5c) && jwk.x5c.length >= 1 && jwk.x5c.every((c) => typeof c === 'string') ? null : `${field}.x5c must be an array of at least 1 base64 DER certificate`;
  if (jwk.n && jwk.e) return typeof jwk.n === 'string' && typeof jwk.e === 'string' ? null : `${field}.n and .e must be strings`;
  if (jwk.x && jwk.y) return typeof jwk.x === 'string' && typeof jwk.y === 'string' && typeof jwk.crv === 'string' ? null : `${field}.x, .y and .crv must be strings`;
  return 'JWK must contain either x5c, or n/e for RSA key type, or x/y/crv for EC key type';
}
