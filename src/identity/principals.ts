import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { TesseraError } from '../errors/index.js';
import { DEFAULT_SCRYPT_COST, type ScryptCost, hashSecret, verifySecret } from '../crypto/password-hash.js';
import type { ReadTx, Store, Tx } from '../store/types.js';
import { RowCache } from '../store/row-cache.js';
import { certIdOfPem, type Role } from '../crypto/certificates.js';

const PRINCIPALS = 'identity.principals';
const CERTS = 'identity.certs';

export interface Principal {
  name: string;
  role: Role;
  certId: string;
  certPem: string;
  /** scrypt hash of the bearer token; users only. */
  tokenHash: string | null;
  createdAt: string;
}

export type PrincipalSummary = Omit<Principal, 'certPem' | 'tokenHash'> & { hasToken: boolean };

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$/;
export const RESERVED_NAMES = new Set(['node']);

/**
 * The id what a removed principal owned is kept under: `removed:<certId>`. No principal can have it (':' is
 * not allowed in a name), so a principal added later under the same name owns and sees none of it.
 */
export const archiveIdOf = (removed: Pick<Principal, 'certId'>): string => `removed:${removed.certId}`;

export function validatePrincipalName(name: string): void {
  if (!NAME.test(name)) {
    throw new TesseraError(
      'invalid_input',
      `invalid name '${name}': use 1-64 letters, digits, '_', '.', '@' or '-', starting with a letter, digit or '_'`,
    );
  }
}

/** Random bearer token: 32 bytes (256 bits) from the CSPRNG, base64url. */
export const newToken = (): string => randomBytes(32).toString('base64url');

/**
 * Users, members and services, each bound to one certificate. Tokens are checked against
 * their scrypt hash once; after that a per-process HMAC of the token, held only in memory,
 * answers repeat checks without paying scrypt on every request.
 */
export class PrincipalService {
  private readonly cacheKey = randomBytes(32);
  private readonly verified = new Map<string, { tokenHash: string; mac: Buffer }>();

  private readonly byNameCache: RowCache<Principal>;
  private readonly byCertCache: RowCache<Principal>;

  constructor(
    private readonly store: Store,
    private readonly scryptCost: ScryptCost = DEFAULT_SCRYPT_COST,
  ) {
    this.byNameCache = new RowCache(store);
    this.byCertCache = new RowCache(store);
  }

  async hashToken(token: string): Promise<string> {
    return hashSecret(token, this.scryptCost);
  }

  /** Adds a principal; `tokenHash` from hashToken for users. Fails if the name or certificate is taken. */
  add(input: { name: string; role: Role; certPem: string; tokenHash: string | null }): Principal {
    return this.store.transact((tx) => this.addIn(tx, input)).result;
  }

  /** add, inside a caller's transaction (governance applies several changes atomically). */
  addIn(tx: Tx, input: { name: string; role: Role; certPem: string; tokenHash: string | null }): Principal {
    validatePrincipalName(input.name);
    const principal: Principal = {
      name: input.name,
      role: input.role,
      certPem: input.certPem,
      certId: certIdOfPem(input.certPem),
      tokenHash: input.tokenHash,
      createdAt: new Date().toISOString(),
    };
    if (tx.get(PRINCIPALS, principal.name)) {
      throw new TesseraError('conflict', `'${principal.name}' already exists; remove it first or pick another name`);
    }
    if (tx.get(CERTS, principal.certId)) {
      throw new TesseraError('conflict', `certificate ${principal.certId} already belongs to another identity`);
    }
    tx.put(PRINCIPALS, principal.name, principal);
    tx.put(CERTS, principal.certId, principal.name);
    return principal;
  }

  /** Removes a principal; `alsoIn` does more in the same transaction (archiving what it owned). */
  remove(name: string, alsoIn?: (tx: Tx, removed: Principal) => void): Principal {
    return this.store.transact((tx) => {
      const removed = this.removeIn(tx, name);
      alsoIn?.(tx, removed);
      return removed;
    }).result;
  }

  removeIn(tx: Tx, name: string): Principal {
    const principal = this.mustGet(tx, name);
    tx.delete(PRINCIPALS, name);
    tx.delete(CERTS, principal.certId);
    return principal;
  }

  byCertIdIn(tx: ReadTx, certId: string): Principal | undefined {
    const name = tx.get<string>(CERTS, certId);
    return name === undefined ? undefined : tx.get<Principal>(PRINCIPALS, name);
  }

  listIn(tx: ReadTx): Principal[] {
    return tx.list<Principal>(PRINCIPALS).map(([, p]) => p);
  }

  list(): PrincipalSummary[] {
    return this.store.read((tx) =>
      tx.list<Principal>(PRINCIPALS).map(([, p]) => ({
        name: p.name,
        role: p.role,
        certId: p.certId,
        createdAt: p.createdAt,
        hasToken: p.tokenHash !== null,
      })),
    );
  }

  byName(name: string): Principal | undefined {
    return this.byNameCache.get(name, () => this.store.read((tx) => tx.get<Principal>(PRINCIPALS, name)));
  }

  /** Every authenticated request asks this; the answer is cached until anything commits. */
  byCertId(certId: string): Principal | undefined {
    return this.byCertCache.get(certId, () =>
      this.store.read((tx) => {
        const name = tx.get<string>(CERTS, certId);
        return name === undefined ? undefined : tx.get<Principal>(PRINCIPALS, name);
      }),
    );
  }

  /** Resolves a user by name and bearer token; a wrong name or token is the same error, so neither leaks. */
  async authenticateUser(name: string, token: string): Promise<Principal> {
    const principal = this.byName(name);
    const denied = () => new TesseraError('unauthenticated', `unknown user '${name}' or wrong token`);
    if (!principal || principal.role !== 'user' || !principal.tokenHash) throw denied();
    const mac = createHmac('sha256', this.cacheKey).update(token).digest();
    const cached = this.verified.get(name);
    if (cached && cached.tokenHash === principal.tokenHash) {
      if (timingSafeEqual(cached.mac, mac)) return principal;
      throw denied();
    }
    if (!(await verifySecret(token, principal.tokenHash))) throw denied();
    this.verified.set(name, { tokenHash: principal.tokenHash, mac });
    return principal;
  }

  private mustGet(tx: Tx, name: string): Principal {
    const principal = tx.get<Principal>(PRINCIPALS, name);
    if (!principal) throw new TesseraError('not_found', `no identity named '${name}'`);
    return principal;
  }
}
