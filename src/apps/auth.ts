import { X509Certificate } from 'node:crypto';
import { decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import { decodeCoseSign1 } from '../crypto/cose.js';
import { GOV, type MemberInfo } from '../governance/tables.js';
import { certIdOfDer } from '../crypto/certificates.js';
import type { PrincipalService } from '../identity/principals.js';
import type { ReadTx } from '../store/types.js';

// CCF's authentication policies for app endpoints (ccf.md §4), tried in order; the first that passes
// gives the `caller`. All failing gives 401 with each policy's reason.

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

interface ParsedCert {
  validFrom: number;
  validTo: number;
  pem: string;
}

// Parsing the client certificate was a tenth of a KV read's CPU; clients reuse a handful of certificates.
const PARSED_CAP = 1024;
const parsed = new Map<string, ParsedCert>();

function parse(der: Buffer): ParsedCert {
  const key = der.toString('base64');
  let cert = parsed.get(key);
  if (!cert) {
    const x = new X509Certificate(der);
    cert = { validFrom: Date.parse(x.validFrom), validTo: Date.parse(x.validTo), pem: x.toString() };
    if (parsed.size >= PARSED_CAP) parsed.delete(parsed.keys().next().value!);
    parsed.set(key, cert);
  }
  return cert;
}

/** The certificate, refused unless it is valid now (checked on every request, cached or not). */
function liveCert(der: Buffer): ParsedCert {
  const cert = parse(der);
  // CCF's wording, in Unix seconds (src/endpoints/authentication/cert_auth.cpp, ValidityPeriodsCache).
  const now = Math.floor(Date.now() / 1000);
  const from = Math.floor(cert.validFrom / 1000);
  const to = Math.floor(cert.validTo / 1000);
  if (now < from) refuse(`Current time ${now} is before certificate's Not Before validity period ${from}`);
  if (now > to) refuse(`Current time ${now} is after certificate's Not After validity period ${to}`);
  return cert;
}

export class AppAuth {
  constructor(private readonly principals: PrincipalService) {}

  private async one(name: string, input: AuthInput, tx: ReadTx): Promise<Record<string, unknown>> {
    switch (name) {
      case 'no_auth':
        return { policy: 'no_auth' };
      case 'any_cert': {
        if (!input.peerCert) refuse('No TLS client certificate');
        return { policy: 'any_cert', cert: liveCert(input.peerCert!).pem };
      }
      case 'user_cert':
      case 'member_cert': {
        if (!input.peerCert) refuse('No TLS client certificate');
        liveCert(input.peerCert!);
        const id = certIdOfDer(input.peerCert!);
        const role = name === 'user_cert' ? 'user' : 'member';
        const p = this.principals.byCertIdIn(tx, id);
        if (!p || p.role !== role) refuse(`Could not find matching ${role} certificate`);
        const data =
          role === 'user'
            ? ((tx.get<{ user_data?: unknown }>(GOV.usersInfo, id)?.user_data ?? null) as unknown)
            : ((tx.get<MemberInfo>(GOV.membersInfo, id)?.member_data ?? null) as unknown);
        return { policy: name, id, data, cert: p!.certPem };
      }
      case 'jwt':
        return this.jwt(input, tx);
      case 'user_cose_sign1': {
        if ((input.headers['content-type'] ?? '').split(';')[0].trim() !== 'application/cose') refuse('Content type is not application/cose');
        const msg = decodeCoseSign1(input.body);
        const p = this.principals.byCertIdIn(tx, msg.kid);
        if (!p || p.role !== 'user') refuse(`kid ${msg.kid} is not a user`);
        if (!msg.verify(new X509Certificate(p!.certPem))) refuse('Signature verification failed');
        const content = msg.payload.buffer.slice(msg.payload.byteOffset, msg.payload.byteOffset + msg.payload.byteLength);
        return { policy: 'user_cose_sign1', id: p!.certId, data: tx.get<{ user_data?: unknown }>(GOV.usersInfo, p!.certId)?.user_data ?? null, cert: p!.certPem, cose: { content } };
      }
    }
    return refuse(`Unknown authentication policy ${name}`);
  }

  private async jwt(input: AuthInput, tx: ReadTx): Promise<Record<string, unknown>> {
    const m = /^Bearer\s+(\S+)$/i.exec(input.headers.authorization ?? '');
    if (!m) refuse('Missing Authorization: Bearer header');
    let kid: string | undefined;
    try {
      kid = decodeProtectedHeader(m![1]).kid;
    } catch {
      refuse('Malformed JWT');
    }
    if (!kid) refuse('JWT has no kid');
    const entry = tx.list<Record<string, unknown>>(GOV.jwtKeys).find(([key]) => key.endsWith(` ${kid}`));
    if (!entry) refuse(`JWT signing key ${kid} is not registered (set_jwt_issuer)`);
    const [registryKey, jwk] = entry!;
    const keyIssuer = registryKey.slice(0, registryKey.length - kid!.length - 1);
    try {
      const key = await importJWK({ ...(jwk as object), kid: undefined } as never, (jwk as { alg?: string }).alg ?? ((jwk as { kty: string }).kty === 'RSA' ? 'RS256' : 'ES256'));
      const { payload, protectedHeader } = await jwtVerify(m![1], key, { requiredClaims: ['exp', 'iss'] });
      const constraint = (jwk as { issuer?: string }).issuer;
      if (constraint && payload.iss !== constraint) refuse(`JWT issuer ${payload.iss} does not match the key's issuer ${constraint}`);
      return { policy: 'jwt', jwt: { keyIssuer, header: protectedHeader, payload } };
    } catch (err) {
      if (err instanceof Refused) throw err;
      return refuse(`JWT validation failed: ${(err as Error).message}`);
    }
  }

  /** The caller for the first policy that passes; or the failures, one per policy. */
  async authenticate(policies: Policy[], input: AuthInput, tx: ReadTx): Promise<{ caller: unknown } | { failures: PolicyFailure[] }> {
    if (policies.length === 0) return { caller: null };
    const failures: PolicyFailure[] = [];
    for (const policy of policies) {
      const label = typeof policy === 'string' ? policy : `all_of(${policy.all_of.join(',')})`;
      try {
        if (typeof policy === 'string') return { caller: await this.one(policy, input, tx) };
        const caller: Record<string, unknown> = { policy: policy.all_of };
        for (const name of policy.all_of) caller[name] = await this.one(name, input, tx);
        return { caller };
      } catch (err) {
        if (!(err instanceof Refused)) throw err;
        failures.push({ auth_policy: label, code: 'InvalidAuthenticationInfo', message: err.message });
      }
    }
    return { failures };
  }
}
