import { loadConfig } from '../../src/node/config.js';
import { dataDirPaths } from '../../src/node/datadir.js';
import { storeKeysOf, unsealMasterKey } from '../../src/kms/master-key.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { TEST_ENV } from './cli.js';

/**
 * A test node's store opened as someone holding its sealing key would (an insider, or `tessera user`):
 * private rows are sealed, so tests that alter stored state behind the node's back go through this.
 */
export function openNodeStore(dir: string): SqliteStore {
  const paths = dataDirPaths(dir);
  const config = loadConfig(paths.config);
  const masterKey = unsealMasterKey(paths.sealedMasterKey, config.kms.sealing_key_file || TEST_ENV.TESSERA_SEALING_KEY_FILE!);
  return new SqliteStore(paths.store, { ...storeKeysOf(masterKey), commit: 'each' });
}
