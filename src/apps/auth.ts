import { X509Certificate, createPublicKey, verify as verifySignature } from 'node:crypto';
import { CoseDecodeError, ECDSA_ALGS, decodeUserCoseSign1 } from '../crypto/cose-user.js';
import { JwkError, type JwkLike, jwkPublicKey } from '../crypto/jwk.js';
import { TesseraError } from '../errors/index.js';
import { GOV } from '../governance/tables.js';
import { certIdOfDer } from '../crypto/certificates.js';
import type { PrincipalService } from '../identity/principals.js';
import { RowCache } from '../store/row-cache.js';
import type { ReadTx, Store } from '../store/types.js';

// CCF's authentication policies for app endpoints, tried in order; the first that passes gives the
// `caller`. All failing gives 401 with each policy's reason. Reasons, policy names and headers follow CCF
// (src/endpoints/authentication/*.cpp, src/node/rpc/frontend.h get_authenticated_identity).

export type Policy = string | { all_of: string[] };

export interface AuthInput {
  headers: Record<string, string>;
  body: Buffer;
  /** The TLS client certificate, if any (any issuer: any_cert accepts certificates from anywhere). */
  peerCert: Buffer | null;
}

export interface PolicyFailure {
  auth_policy: string;
  code: 'InvalidAuthenticationInfo';
  message: string;
}

class Refused extends Error {}
const refuse = (message: string): never => {
  throw new Refused(message);
};

/** What each policy's set_unauthenticated_error adds to a 401 when it is the last one tried (CCF). */
const WWW_AUTHENTICATE: Record<string, string> = {
  jwt: 'Bearer realm="JWT bearer token access", error="invalid_token"',
  user_cose_sign1: 'COSE-SIGN1 realm="Signed request access"',
};

interface ParsedCert {
  validFrom: number;
  validTo: number;
  pem: string;
  /** certIdOfDer, once asked for (a SHA-256 per request otherwise). */
  id?: string;
}

// Parsing the client certificate was a tenth of a KV read's CPU; clients reuse a handful of certificates.
const PARSED_CAP = 1024;
const parsed = new Map<string, ParsedCert>();

function parse(der: Buffer): ParsedCert {
  const key = der.toString('base64');
  let cert = parsed.get(key);
  if (!cert) {
    const x = new X509Certificate(der);
    cert = { validFrom: Math.floor(Date.parse(x.validFrom) / 1000), validTo: Math.floor(Date.parse(x.validTo) / 1000), pem: x.toString() };
    if (parsed.size >= PARSED_CAP) parsed.delete(parsed.keys().next().value!);
    parsed.set(key, cert);
  }
  return cert;
}

/** The certificate, refused unless it is valid now (checked on every request, cached or not), in CCF's words (cert_auth.cpp). */
function liveCert(der: Buffer): ParsedCert {
  const cert = parse(der);
  const now = Math.floor(Date.now() / 1000);
  if (now < cert.validFrom) refuse(`Current time ${now} is before certificate's Not Before validity period ${cert.validFrom}`);
  if (now > cert.validTo) refuse(`Current time ${now} is after certificate's Not After validity period ${cert.validTo}`);
  return cert;
}

const b64urlDecode = (s: string) => Buffer.from(s, 'base64url');

/** A JWT parsed as CCF's JwtVerifier does (src/http/http_jwt.h): only RS256 and ES256, `exp` and `iss` required. */
function parseJwt(authorization: string | undefined) {
  if (authorization === undefined) refuse('Missing authorization header');
  const space = authorization!.indexOf(' ');
  if (space < 0) refuse('Authorization header only contains one field');
  if (authorization!.slice(0, space) !== 'Bearer') refuse('Authorization header does not have Bearer scheme');
  const token = authorization!.slice(space + 1);
  const parts = token.split('.');
  if (parts.length !== 3) refuse('Malformed JWT: must contain exactly 3 parts');
  let header: unknown;
  let payload: unknown;
  try {
    header = JSON.parse(b64urlDecode(parts[0]).toString('utf8'));
    payload = JSON.parse(b64urlDecode(parts[1]).toString('utf8'));
  } catch (err) {
    refuse(`JWT header or payload is not valid JSON: ${(err as Error).message}`);
  }
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(header) || !isObject(payload)) return refuse('JWT header or payload is not an object');
  if (header.alg === undefined) refuse('JWT header does not follow schema: Missing required field: alg');
  if (header.alg !== 'RS256' && header.alg !== 'ES256') refuse(`JWT header does not follow schema: at alg: Value ${JSON.stringify(header.alg)} is not a valid JwtCryptoAlgorithm`);
  if (header.kid === undefined) refuse('JWT header does not follow schema: Missing required field: kid');
  if (typeof header.kid !== 'string') refuse('JWT header does not follow schema: at kid: Expected string');
  if (payload.exp === undefined) refuse('JWT payload is missing required field: Missing required field: exp');
  if (!Number.isInteger(payload.exp) || (payload.exp as number) < 0) refuse('JWT payload is missing required field: at exp: Expected unsigned integer');
  if (payload.iss === undefined) refuse('JWT payload is missing required field: Missing required field: iss');
  if (typeof payload.iss !== 'string') refuse('JWT payload is missing required field: at iss: Expected string');
  if (payload.nbf !== undefined && (!Number.isInteger(payload.nbf) || (payload.nbf as number) < 0)) refuse('JWT payload is missing required field: at nbf: Expected unsigned integer');
  if (payload.tid !== undefined && typeof payload.tid !== 'string') refuse('JWT payload is missing required field: at tid: Expected string');
  return {
    header,
    payload,
    kid: header.kid as string,
    exp: payload.exp as number,
    nbf: payload.nbf as number | undefined,
    iss: payload.iss as string,
    tid: payload.tid as string | undefined,
    signedContent: Buffer.from(`${parts[0]}.${parts[1]}`, 'ascii'),
    signature: b64urlDecode(parts[2]),
  };
}

const ENTRA = 'login.microsoftonline.com';
const hostOf = (url: string) => {
  try {
    return new URL(url).hostname;
  } catch {
    return '';
  }
};

/** CCF's validate_issuer (jwt_auth.cpp): exact match, except Entra's multi-tenant `{tenantid}` issuers. */
function validIssuer(iss: string, tid: string | undefined, constraint: string): boolean {
  if (hostOf(constraint) !== ENTRA) return iss === constraint && tid === undefined;
  const expected = tid !== undefined ? constraint.replace('{tenantid}', tid) : constraint;
  if (iss !== expected) return false;
  let path = '';
  try {
    path = new URL(iss).pathname;
  } catch {
    return false;
  }
  const tenant = path.split('/').find((chunk) => chunk.length > 0);
  return tenant !== undefined && tid !== undefined && tid === tenant;
}

/** Verifies a JWT signature as CCF's PublicKeysCache does: the key's type, not the token's alg, picks RSA PKCS#1 or ECDSA, always with SHA-256. */
function jwtSignatureValid(key: ReturnType<typeof createPublicKey>, content: Buffer, signature: Buffer): boolean {
  try {
    if (key.asymmetricKeyType === 'rsa') return verifySignature('sha256', content, key, signature);
    if (key.asymmetricKeyType === 'ec') return verifySignature('sha256', content, { key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
  return false;
}

/** A certificate's principal as cert policies need it: its role, its PEM and its info record's data. */
interface CertCaller {
  role: string;
  certPem: string;
  data: unknown;
}

export class AppAuth {
  /**
   * user_cert and member_cert callers by certificate id, kept until anything commits (RowCache): these
   * lookups were most of an app request's authentication, and the same few clients make every request.
   */
  private readonly callers: RowCache<CertCaller> | null;

  constructor(
    private readonly principals: PrincipalService,
    store?: Store,
  ) {
    this.callers = store ? new RowCache<CertCaller>(store) : null;
  }

  /** The principal of certificate `id` with its info record's `field` (from `table`), or undefined. */
  private certCaller(tx: ReadTx, id: string, table: string, field: 'user_data' | 'member_data'): CertCaller | undefined {
    const load = () => {
      const p = this.principals.byCertIdIn(tx, id);
      if (!p) return undefined;
      return { role: p.role, certPem: p.certPem, data: tx.get<Record<string, unknown>>(table, id)?.[field] ?? null };
    };
    return this.callers ? this.callers.get(`${table}\0${id}`, load) : load();
  }

  private async one(name: string, input: AuthInput, tx: ReadTx): Promise<Record<string, unknown>> {
    switch (name) {
      case 'no_auth':
        return { policy: 'no_auth' };
      case 'any_cert': {
        if (!input.peerCert) refuse('No caller certificate');
        return { policy: 'any_cert', cert: liveCert(input.peerCert!).pem };
      }
      case 'user_cert': {
        if (!input.peerCert) refuse('No caller user certificate');
        const cert = liveCert(input.peerCert!);
        const id = (cert.id ??= certIdOfDer(input.peerCert!));
        const p = this.certCaller(tx, id, GOV.usersInfo, 'user_data');
        if (!p || p.role !== 'user') refuse('Could not find matching user certificate');
        return { policy: name, id, data: p!.data, cert: p!.certPem };
      }
      case 'member_cert': {
        // CCF checks no validity period for member certificates (MemberCertAuthnPolicy).
        if (!input.peerCert) refuse('No caller member certificate');
        const id = certIdOfDer(input.peerCert!);
        const p = this.certCaller(tx, id, GOV.membersInfo, 'member_data');
        if (!p || p.role !== 'member') refuse('Could not find matching member certificate');
        return { policy: name, id, data: p!.data, cert: p!.certPem };
      }
      case 'jwt':
        return this.jwt(input, tx);
      case 'user_cose_sign1':
        return this.userCose(input, tx);
    }
    return refuse(`Unknown authentication policy ${name}`);
  }

  /** CCF's JwtAuthnPolicy::authenticate: every key registered for the kid is tried, the last failure is the reason. */
  private jwt(input: AuthInput, tx: ReadTx): Record<string, unknown> {
    const token = parseJwt(input.headers.authorization);
    // Keys are stored per issuer as `${issuer} ${kid}` (set_jwt_issuer): several issuers may share a kid.
    const candidates = tx.list<JwkLike>(GOV.jwtKeys).filter(([key]) => key.endsWith(` ${token.kid}`));
    if (candidates.length === 0) refuse(`JWT signing key not found for kid ${token.kid}`);
    let reason = '';
    for (const [registryKey, jwk] of candidates) {
      const keyIssuer = registryKey.slice(0, registryKey.length - token.kid.length - 1);
      let key;
      try {
        key = jwkPublicKey(jwk);
      } catch (err) {
        // CCF refuses such a key when it is set; one stored before that check cannot verify anything.
        if (!(err instanceof JwkError)) throw err;
        reason = 'Signature verification failed';
        continue;
      }
      if (!jwtSignatureValid(key, token.signedContent, token.signature)) {
        reason = 'Signature verification failed';
        continue;
      }
      const now = Math.floor(Date.now() / 1000);
      if (token.nbf !== undefined && now < token.nbf) {
        reason = `Current time ${now} is before token's Not Before (nbf) claim ${token.nbf}`;
        continue;
      }
      if (now > token.exp) {
        reason = `Current time ${now} is after token's Expiration Time (exp) claim ${token.exp}`;
        continue;
      }
      const constraint = typeof jwk.issuer === 'string' ? jwk.issuer : undefined;
      if (constraint !== undefined && !validIssuer(token.iss, token.tid, constraint)) {
        reason = `Kid ${token.kid} failed issuer constraint validation ${constraint}`;
        continue;
      }
      return { policy: 'jwt', jwt: { keyIssuer, header: token.header, payload: token.payload } };
    }
    return refuse(reason);
  }

  /** CCF's UserCOSESign1AuthnPolicy: content type, alg, kid naming a user, signature; no message type or time is required. */
  private userCose(input: AuthInput, tx: ReadTx): Record<string, unknown> {
    const contentType = input.headers['content-type'];
    if (contentType === undefined) refuse('Missing content-type header');
    if (contentType !== 'application/cose') refuse('Content type is not set to application/cose');
    let msg;
    try {
      msg = decodeUserCoseSign1(input.body);
    } catch (err) {
      // CCF's COSEDecodeError escapes the policy; its frontend answers 500 InternalError with the message.
      if (err instanceof CoseDecodeError) throw new TesseraError('internal', err.message, { cause: err });
      throw err;
    }
    if (!ECDSA_ALGS[msg.alg]) refuse(`Unsupported algorithm: ${msg.alg}`);
    const p = this.principals.byCertIdIn(tx, msg.kid);
    if (!p || p.role !== 'user') refuse('Signer is not a known user');
    if (!msg.verify(createPublicKey(p!.certPem))) refuse('Failed to validate COSE Sign1');
    const content = msg.payload.buffer.slice(msg.payload.byteOffset, msg.payload.byteOffset + msg.payload.byteLength);
    return { cose: { content }, policy: 'user_cose_sign1', id: p!.certId, data: tx.get<{ user_data?: unknown }>(GOV.usersInfo, p!.certId)?.user_data ?? null, cert: p!.certPem };
  }

  /**
   * The caller for the first policy that passes; or the failures, one per policy, with the challenge
   * (www-authenticate) of the last policy tried, if it has one (CCF lets the last one set the 401's headers).
   */
  async authenticate(policies: Policy[], input: AuthInput, tx: ReadTx): Promise<{ caller: unknown } | { failures: PolicyFailure[]; challenge?: string }> {
    if (policies.length === 0) return { caller: null };
    const failures: PolicyFailure[] = [];
    let lastHeader: string | undefined;
    for (const policy of policies) {
      // all_of keeps its policies in a map keyed by name in CCF, so they run, and are named, in name order.
      const names = typeof policy === 'string' ? [policy] : [...new Set(policy.all_of)].sort();
      const label = typeof policy === 'string' ? policy : names.join('+');
      let current = names[0];
      try {
        if (typeof policy === 'string') return { caller: await this.one(policy, input, tx) };
        const caller: Record<string, unknown> = {};
        for (const name of names) {
          current = name;
          caller[name] = await this.one(name, input, tx);
        }
        return { caller: { ...caller, policy: names } };
      } catch (err) {
        if (!(err instanceof Refused)) throw err;
        failures.push({ auth_policy: label, code: 'InvalidAuthenticationInfo', message: typeof policy === 'string' ? err.message : `${current}:${err.message}` });
        lastHeader = WWW_AUTHENTICATE[current];
      }
    }
    return { failures, challenge: lastHeader };
  }
}
