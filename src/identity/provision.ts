import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TesseraError } from '../errors/index.js';
import { type PemPair, type Role, issueCertificate } from '../crypto/certificates.js';
import { writeSecretFile } from '../crypto/secret-file.js';
import type { Tx } from '../store/types.js';
import { type Principal, PrincipalService, newToken, validatePrincipalName, RESERVED_NAMES } from './principals.js';

export interface ProvisionedIdentity {
  name: string;
  role: Role;
  certId: string;
  certPath: string;
  keyPath: string;
  tokenPath: string | null;
}

/** The part of a data directory's layout (node/datadir.ts) that identities are made from and kept in. */
export interface IdentityPaths {
  caCert: string;
  caKey: string;
  legacy: { caKey: string };
  /** The folder handed to the identity's owner: cert.pem, key.pem, token (users) and the CA's ca.pem. */
  identity(name: string): { dir: string; cert: string; key: string; token: string; ca: string };
  legacyIdentities: string;
}

/** How the CA's key is read: unsealed (kms/key-files.ts's KeyFiles does this). */
export interface CaKeyReader {
  read(path: string, role: 'ca', legacyPath?: string): string;
}

/** The CA's certificate and key. */
export const readCa = (paths: Pick<IdentityPaths, 'caCert' | 'caKey' | 'legacy'>, keys: CaKeyReader): PemPair => ({
  certPem: readFileSync(paths.caCert, 'utf8'),
  keyPem: keys.read(paths.caKey, 'ca', paths.legacy.caKey),
});

/**
 * Issues a certificate (and, for a user, a bearer token) into DIR-identities/NAME, with the CA's ca.pem, and records the
 * principal in the store. The token reaches disk only in the identity's own 0600 file; the store
 * keeps just its scrypt hash.
 */
export async function provisionIdentity(
  paths: IdentityPaths,
  keys: CaKeyReader,
  principals: PrincipalService,
  name: string,
  role: Exclude<Role, 'service'>,
): Promise<ProvisionedIdentity> {
  validatePrincipalName(name);
  if (RESERVED_NAMES.has(name)) throw new TesseraError('invalid_input', `'${name}' is reserved for the node itself`);
  if (principals.byName(name)) {
    throw new TesseraError('conflict', `'${name}' already exists; run 'tessera user remove ${name}' first to replace it`);
  }
  const files = paths.identity(name);
  const ca = readCa(paths, keys);
  const pair = await issueCertificate(ca, { name, role });
  const token = role === 'user' ? newToken() : null;
  const tokenHash = token ? await principals.hashToken(token) : null;
  // A leftover folder from an earlier, removed identity of the same name is replaced.
  rmSync(files.dir, { recursive: true, force: true });
  mkdirSync(files.dir, { recursive: true, mode: 0o700 });
  try {
    writeFileSync(files.cert, pair.certPem, { flag: 'wx' });
    // The folder is all its owner needs: the CA to trust comes with it.
    writeFileSync(files.ca, ca.certPem, { flag: 'wx' });
    writeSecretFile(files.key, pair.keyPem);
    if (token) writeSecretFile(files.token, token + '\n');
    const principal = principals.add({ name, role, certPem: pair.certPem, tokenHash });
    return {
      name,
      role,
      certId: principal.certId,
      certPath: files.cert,
      keyPath: files.key,
      tokenPath: token ? files.token : null,
    };
  } catch (err) {
    rmSync(files.dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Removes the principal (refused from then on, on every listener) and its identity files; `alsoIn` runs in
 * the removal's transaction (node/users.ts archives what the principal owned there).
 */
export function deprovisionIdentity(paths: IdentityPaths, principals: PrincipalService, name: string, alsoIn?: (tx: Tx, removed: Principal) => void) {
  const principal = principals.byName(name);
  if (!principal) throw new TesseraError('not_found', `no identity named '${name}'; 'tessera user list' shows them`);
  if (principal.role === 'service') throw new TesseraError('permission_denied', `'${name}' is a service identity`);
  principals.remove(name, alsoIn);
  rmSync(paths.identity(name).dir, { recursive: true, force: true });
  rmSync(join(paths.legacyIdentities, name), { recursive: true, force: true });
  return principal;
}
