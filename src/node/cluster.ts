import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { TesseraError } from '../errors/index.js';
import { certIdOfPem, issueCertificate } from '../crypto/certificates.js';
import { PrincipalService } from '../identity/principals.js';
import { readCa } from '../identity/provision.js';
import { KeyFiles } from '../kms/key-files.js';
import { sealingKeyPath, unsealMasterKey } from '../kms/master-key.js';
import { loadConfig } from './config.js';
import { dataDirPaths } from './datadir.js';
import { openStore } from './open-store.js';

// Another node of a cluster: a data directory made from an existing node's, sharing its service (the CA, the
// master key, so every node reads what the others sealed, and tessera.toml, so it reaches the same PostgreSQL
// and NATS), with an identity of its own: its own key and certificate, issued by the service's CA, and
// recorded as a service principal in the shared store. Its ledger id, and so its EDGELESS node id, is its own.

export interface AddNodeReport {
  dir: string;
  name: string;
  nodeId: string;
}

/** Shared by every node of the service; everything else in a data directory is the node's own. */
const SHARED = ['config', 'caCert', 'caKey', 'sealedMasterKey'] as const;

export async function addClusterNode(opts: { from: string; dir: string; name?: string }): Promise<AddNodeReport> {
  const from = dataDirPaths(resolve(opts.from));
  const to = dataDirPaths(resolve(opts.dir));
  if (!existsSync(from.config)) throw new TesseraError('not_found', `${from.root} is not a Tessera data directory`);
  const config = loadConfig(from.config);
  if (config.store.backend !== 'postgres') {
    throw new TesseraError('invalid_input', `${from.root} keeps its state in SQLite (store.backend = "sqlite"): only nodes that share a PostgreSQL store form a cluster (docs/cluster.md)`);
  }
  if (config.files.blob_store !== 'nats') {
    throw new TesseraError('invalid_input', `${from.root} keeps its files in its own directory (files.blob_store = "local"): a cluster's nodes share them in NATS (docs/cluster.md)`);
  }
  if (existsSync(to.root) && readdirSync(to.root).length > 0) throw new TesseraError('conflict', `${to.root} already exists and is not empty`);
  mkdirSync(to.root, { recursive: true, mode: 0o700 });
  for (const item of SHARED) copyFileSync(from[item], to[item]);
  const masterKey = unsealMasterKey(to.sealedMasterKey, sealingKeyPath(config.kms.sealing_key_file));
  const keys = new KeyFiles(masterKey);
  const name = opts.name ?? `node-${randomBytes(4).toString('hex')}`;
  const pair = await issueCertificate(readCa(to, keys), { name, role: 'service', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] });
  mkdirSync(to.nodeDir, { mode: 0o700 });
  writeFileSync(to.nodeCert, pair.certPem, { flag: 'wx' });
  keys.write(to.nodeKey, 'node', pair.keyPem);
  const nodeId = certIdOfPem(pair.certPem);
  const store = openStore(config, to, masterKey);
  try {
    new PrincipalService(store, { N: config.security.scrypt_n, r: 8, p: 1 }).add({ name, role: 'service', certPem: pair.certPem, tokenHash: null });
  } finally {
    store.close();
  }
  return { dir: to.root, name, nodeId };
}
