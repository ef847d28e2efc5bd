import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { TesseraError } from '../errors/index.js';
import { issueCertificate } from '../crypto/certificates.js';
import { measure } from '../attestation/measurement.js';
import { type NodeInfo, nodeIdOfPem, nodeRows } from '../governance/nodes.js';
import { GOV } from '../governance/tables.js';
import { measuredSettings } from './measured-settings.js';
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
// recorded Pending in the service's nodes table (governance/nodes.ts). It becomes a service principal, and
// serves, only once members trust it (transition_node_to_trusted). Its ledger id, and so its EDGELESS node id,
// is its own.

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
  const nodeId = nodeIdOfPem(pair.certPem);
  const store = openStore(config, to, masterKey);
  try {
    store.transact((tx) => {
      if (new PrincipalService(store, { N: config.security.scrypt_n, r: 8, p: 1 }).listIn(tx).some((p) => p.name === name)) {
        throw new TesseraError('conflict', `a principal named ${name} already exists: choose another --name`);
      }
      // The node it was made from is recorded first, Trusted, if the table is still empty: the service's first
      // node, made by init, was Trusted without a row. Its measurement is this installation's (the same code and
      // shared settings); it records its own evidence when it next starts.
      if (nodeRows(tx).length === 0) {
        const fromCert = readFileSync(from.nodeCert, 'utf8');
        tx.put<NodeInfo>(GOV.nodesInfo, nodeIdOfPem(fromCert), row(fromCert, 'Trusted', 'node', measure(measuredSettings(config)).mr_enclave));
      }
      tx.put<NodeInfo>(GOV.nodesInfo, nodeId, row(pair.certPem, 'Pending', name, null));
    });
  } finally {
    store.close();
  }
  return { dir: to.root, name, nodeId };
}

const row = (cert: string, status: NodeInfo['status'], name: string, measurement: string | null): NodeInfo => ({
  cert,
  status,
  quote_info: null,
  measurement,
  attested_cert: null,
  node_data: { name },
  ledger_secret_seqno: 0,
  retired_committed: false,
});
