import { X509Certificate, createPublicKey } from 'node:crypto';
import type { PrincipalService } from '../identity/principals.js';
import type { ReadTx } from '../store/types.js';
import { DEFAULT_CONSTITUTION } from './default-constitution.js';
import { GOV, type MemberInfo } from './tables.js';

// Read-only views of the governance tables, in the shapes of CCF's /gov service-state API
// (src/node/gov/handlers/service_state.h, api-version 2024-07-01). Written apart from service.ts so
// that reads never run governance code and never write.

/** Members' acknowledged state digests (CCF's public:ccf.gov.members.acks). */
export const MEMBER_ACKS = 'public:ccf.gov.members.acks';

export interface MemberView {
  memberId: string;
  status: string;
  memberData: unknown;
  certificate: string;
  recoveryRole: 'NonParticipant';
}

export class GovernanceReads {
  constructor(private readonly principals: PrincipalService) {}

  constitution(tx: ReadTx): string {
    return tx.get<string>(GOV.constitution, 'constitution') ?? DEFAULT_CONSTITUTION;
  }

  /** Tessera's members hold no recovery shares (there is no recovery), so each is a NonParticipant. */
  members(tx: ReadTx): MemberView[] {
    return this.principals
      .listIn(tx)
      .filter((p) => p.role === 'member')
      .map((p) => {
        const info = tx.get<MemberInfo>(GOV.membersInfo, p.certId);
        return { memberId: p.certId, status: info?.status ?? 'Active', memberData: info?.member_data ?? null, certificate: p.certPem, recoveryRole: 'NonParticipant' as const };
      });
  }

  /** CCF's userData is the whole user-info record ({user_data}), or null for a user with none. */
  users(tx: ReadTx): Array<{ userId: string; certificate: string; userData: unknown }> {
    return this.principals
      .listIn(tx)
      .filter((p) => p.role === 'user')
      .map((p) => ({ userId: p.certId, certificate: p.certPem, userData: tx.get(GOV.usersInfo, p.certId) ?? null }));
  }

  jwk(tx: ReadTx) {
    const issuers: Record<string, { autoRefresh: boolean; caCertBundleName?: string }> = {};
    for (const [issuer, meta] of tx.list<{ auto_refresh?: boolean; ca_cert_bundle_name?: string | null }>(GOV.jwtIssuers)) {
      issuers[issuer] = { autoRefresh: meta.auto_refresh ?? false, ...(meta.ca_cert_bundle_name ? { caCertBundleName: meta.ca_cert_bundle_name } : {}) };
    }
    const keys: Record<string, Array<{ publicKey: string; issuer: string; constraint: string | null }>> = {};
    for (const [key, jwk] of tx.list<Record<string, unknown>>(GOV.jwtKeys)) {
      const space = key.indexOf(' ');
      const issuer = key.slice(0, space);
      const kid = key.slice(space + 1);
      (keys[kid] ??= []).push({ publicKey: publicKeyPemOf(jwk), issuer, constraint: typeof jwk.issuer === 'string' ? jwk.issuer : null });
    }
    return { issuers, keys, caCertBundles: {} as Record<string, string> };
  }

  stateDigest(tx: ReadTx, memberId: string): string | undefined {
    return tx.get<{ state_digest: string }>(MEMBER_ACKS, memberId)?.state_digest;
  }
}

/** A stored JWK's public key as PEM: from its first x5c certificate when it has one, else the JWK itself. */
function publicKeyPemOf(jwk: Record<string, unknown>): string {
  try {
    const x5c = jwk.x5c;
    if (Array.isArray(x5c) && typeof x5c[0] === 'string') return new X509Certificate(Buffer.from(x5c[0], 'base64')).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    return createPublicKey({ key: jwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
  } catch {
    return '';
  }
}
