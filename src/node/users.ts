import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { TesseraError } from '../errors/index.js';
import type { Role } from '../crypto/certificates.js';
import { archiveFilesOf } from '../files/service.js';
import { archiveFunctionsOf } from '../functions/user.js';
import { archiveProcessFunctionsOf } from '../functions/process/service.js';
import { PrincipalService, archiveIdOf } from '../identity/principals.js';
import { deprovisionIdentity, provisionIdentity } from '../identity/provision.js';
import { sealingKeyPath, unsealMasterKey } from '../kms/master-key.js';
import { KeyFiles } from '../kms/key-files.js';
import { archiveTasksOf } from '../tasks/service.js';
import { archiveWorkflowsOf } from '../workflows/service.js';
import { loadConfig } from './config.js';
import { openStore } from './open-store.js';
import { type DataDirPaths, dataDirPaths } from './datadir.js';

// The users, members and services of a data directory, managed offline (`tessera user`); this works
// while the node runs, which looks its callers up in the store on every request.

/** Opens an existing data directory's store for an offline command, closing it afterwards. */
async function withDataDir<T>(dir: string, fn: (ctx: { paths: DataDirPaths; keys: KeyFiles; principals: PrincipalService }) => Promise<T> | T): Promise<T> {
  const paths = dataDirPaths(resolve(dir));
  if (!existsSync(paths.config)) {
    throw new TesseraError('not_found', `${paths.root} is not a Tessera data directory; create one with 'tessera init --data ${dir}'`);
  }
  const config = loadConfig(paths.config);
  const masterKey = unsealMasterKey(paths.sealedMasterKey, sealingKeyPath(config.kms.sealing_key_file));
  const store = openStore(config, paths, masterKey, { commit: 'each' });
  try {
    return await fn({ paths, keys: new KeyFiles(masterKey), principals: new PrincipalService(store, { N: config.security.scrypt_n, r: 8, p: 1 }) });
  } finally {
    store.close();
  }
}

/**
 * Issues a user's certificate and token into DATA-identities/NAME (beside the data directory) and records
 * the principal. Only users: after init, a member joins only through governance (set_member), as in CCF,
 * so that no one with the data directory can make a voting member outside the consortium's votes.
 */
export const addIdentity = (dir: string, name: string, role: Exclude<Role, 'service'> = 'user') => {
  if (role !== 'user') throw new TesseraError('permission_denied', `members join only through governance: propose set_member (tessera gov propose-member ${name}), not an offline member`);
  return withDataDir(dir, ({ paths, keys, principals }) => provisionIdentity(paths, keys, principals, name, role));
};

export const listIdentities = (dir: string) => withDataDir(dir, ({ principals }) => principals.list());

/**
 * Removes a user or member and its identity files; refused on every listener from the next request on. In
 * the same transaction, what it owned moves to `removed:<its certId>` (archiveIdOf), which no principal can
 * be: its files and its place in files' collaborator lists, its place in tasks, its registered functions,
 * its directly deployed process functions and apps, its running workflows and all its workflow state. A
 * user added again under the name starts with nothing (issue 16 #5). A node running on the data directory
 * sees the commit as a new store version: it refuses the archived functions and ingress routes at once and
 * stops their processes and instances within GONE_CHECK_MS (250 ms). See docs/RELIABILITY.md for what is
 * not moved.
 */
export const removeIdentity = (dir: string, name: string) =>
  withDataDir(dir, ({ paths, principals }) =>
    deprovisionIdentity(paths, principals, name, (tx, removed) => {
      const archiveId = archiveIdOf(removed);
      archiveFilesOf(tx, name, archiveId);
      archiveTasksOf(tx, name, archiveId);
      archiveFunctionsOf(tx, name, archiveId);
      archiveProcessFunctionsOf(tx, name, archiveId);
      archiveWorkflowsOf(tx, name, archiveId);
    }),
  );
