import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

/**
 * Where `tessera init` and `tessera user add` put the credentials they issue, for the operator to hand
 * over: beside the data directory, never in it (DATA-identities for DATA), so that a copy of the data
 * directory holds no credential (docs/at-rest.md). The node never reads them.
 */
export const identitiesDirOf = (root: string) => join(dirname(root), `${basename(root)}-identities`);

/** Where everything lives inside a data directory. */
export function dataDirPaths(root: string) {
  return {
    root,
    config: join(root, 'tessera.toml'),
    store: join(root, 'store.sqlite'),
    sealedMasterKey: join(root, 'master.key.sealed'),
    /** Private keys, sealed (kms/key-files.ts). */
    platformKey: join(root, 'platform.key.sealed'),
    blobs: join(root, 'blobs'),
    fnPackages: join(root, 'fn-packages'),
    workflowFiles: join(root, 'workflow-files'),
    caCert: join(root, 'ca.pem'),
    caKey: join(root, 'ca.key.sealed'),
    nodeDir: join(root, 'node'),
    nodeCert: join(root, 'node', 'cert.pem'),
    nodeKey: join(root, 'node', 'key.sealed'),
    /** Where those keys were, in the clear, before they were sealed: moved at the first start. */
    legacy: { platformKey: join(root, 'platform.key.pem'), caKey: join(root, 'ca.key.pem'), nodeKey: join(root, 'node', 'key.pem') },
    identities: identitiesDirOf(root),
    identity: (name: string) => ({
      dir: join(identitiesDirOf(root), name),
      cert: join(identitiesDirOf(root), name, 'cert.pem'),
      key: join(identitiesDirOf(root), name, 'key.pem'),
      token: join(identitiesDirOf(root), name, 'token'),
      ca: join(identitiesDirOf(root), name, 'ca.pem'),
    }),
    /** Where identities were written before, inside the data directory: the node warns while it exists. */
    legacyIdentities: join(root, 'identities'),
  };
}

export type DataDirPaths = ReturnType<typeof dataDirPaths>;
export const DEFAULT_DATA_DIR = './tessera-data';

/**
 * fn.cache_dir's default: where approved packages are unpacked and function sockets live, outside the
 * data directory (plaintext code), beside the system's temporary files, named after the data directory.
 */
export const defaultFnDir = (dataRoot: string, tmp = tmpdir()) => join(tmp, `tessera-fn-${createHash('sha256').update(dataRoot).digest('hex').slice(0, 12)}`);
