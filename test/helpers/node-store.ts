import { dataDirPaths } from '../../src/node/datadir.js';
import { storeKeysOf } from '../../src/kms/master-key.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { nodeMasterKey } from './cli.js';

/**
 * A test node's store opened as someone holding its sealing key would (an insider, or `tessera user`):
 * private rows are sealed, so tests that alter stored state behind the node's back go through this.
 */
export function openNodeStore(dir: string): SqliteStore {
  return new SqliteStore(dataDirPaths(dir).store, { ...storeKeysOf(nodeMasterKey(dir)), commit: 'each' });
}
