import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { TesseraError } from '../errors/index.js';
import { PrincipalService } from '../identity/principals.js';
import { loadConfig } from '../node/config.js';
import { type DataDirPaths, dataDirPaths } from '../node/datadir.js';
import { SqliteStore } from '../store/sqlite.js';
import { deriveKey, sealingKeyPath, unsealMasterKey } from '../kms/master-key.js';

/** Opens an existing data directory's store for an offline command, closing it afterwards. */
export async function withDataDir<T>(dir: string, fn: (ctx: { paths: DataDirPaths; principals: PrincipalService }) => Promise<T> | T): Promise<T> {
  const paths = dataDirPaths(resolve(dir));
  if (!existsSync(paths.store)) {
    throw new TesseraError('not_found', `${paths.root} is not a Tessera data directory; create one with 'tessera init --data ${dir}'`);
  }
  const config = loadConfig(paths.config);
  const masterKey = unsealMasterKey(paths.sealedMasterKey, sealingKeyPath(config.kms.sealing_key_file));
  const store = new SqliteStore(paths.store, { ledgerKey: deriveKey(masterKey, 'ledger private tables'), commit: 'each' });
  try {
    return await fn({ paths, principals: new PrincipalService(store, { N: config.security.scrypt_n, r: 8, p: 1 }) });
  } finally {
    store.close();
  }
}

export const splitList = (value: string): string[] =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
