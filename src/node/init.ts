import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { TesseraError } from '../errors/index.js';
import { createCertificateAuthority, issueCertificate } from '../crypto/certificates.js';
import { PrincipalService } from '../identity/principals.js';
import { type ProvisionedIdentity, provisionIdentity } from '../identity/provision.js';
import { KeyFiles } from '../kms/key-files.js';
import { createMasterKey, sealingKeyPath, unsealMasterKey } from '../kms/master-key.js';
import { configTemplate, loadConfig } from './config.js';
import { openStore } from './open-store.js';
import { setSetting } from './config-edit.js';
import { dataDirPaths } from './datadir.js';

export interface InitOptions {
  dir: string;
  users: string[];
  members: string[];
  /** Settings written into the new tessera.toml (`--set section.key=value`, parsed by config-edit.ts). */
  settings?: Array<{ path: string[]; value: unknown }>;
  onStep?: (message: string) => void;
}

export interface InitReport {
  dir: string;
  config: string;
  caCert: string;
  nodeCert: string;
  /** Where the key that seals the master key is: outside the data directory. */
  sealingKey: string;
  identities: ProvisionedIdentity[];
}

/** Creates a data directory: config, CA, the node's TLS identity, the store, users and members. */
export async function initDataDir(opts: InitOptions): Promise<InitReport> {
  const paths = dataDirPaths(resolve(opts.dir));
  const step = opts.onStep ?? (() => {});
  if (existsSync(paths.root) && readdirSync(paths.root).length > 0) {
    throw new TesseraError(
      'conflict',
      `${paths.root} already exists and is not empty; init never overwrites. Use another --data, or 'tessera serve --data ${opts.dir}' to run it`,
    );
  }
  const names = [...opts.users, ...opts.members];
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new TesseraError('invalid_input', `'${dup}' is named twice; each user and member needs its own name`);

  const createdRoot = !existsSync(paths.root);
  const createdIdentities = !existsSync(paths.identities);
  mkdirSync(paths.root, { recursive: true, mode: 0o700 });
  try {
    const template = (opts.settings ?? []).reduce((text, s) => setSetting(text, s.path, s.value), configTemplate());
    writeFileSync(paths.config, template + '\n', { flag: 'wx', mode: 0o600 });
    // The template's defaults with any TESSERA_* variable over them: TESSERA_STORE_BACKEND and _URL put a new
    // service's state in PostgreSQL (docs/cluster.md).
    const config = loadConfig(paths.config);
    step('created the configuration');

    const sealingKey = sealingKeyPath(config.kms.sealing_key_file);
    createMasterKey(paths.sealedMasterKey, sealingKey);
    const masterKey = unsealMasterKey(paths.sealedMasterKey, sealingKey);
    const keys = new KeyFiles(masterKey);
    step('created the master key, sealed');

    const ca = await createCertificateAuthority('Tessera node CA');
    writeFileSync(paths.caCert, ca.certPem, { flag: 'wx' });
    keys.write(paths.caKey, 'ca', ca.keyPem);
    step('created the certificate authority');

    const node = await issueCertificate(ca, {
      name: 'node',
      role: 'service',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1', '::1'],
    });
    mkdirSync(paths.nodeDir, { mode: 0o700 });
    writeFileSync(paths.nodeCert, node.certPem, { flag: 'wx' });
    keys.write(paths.nodeKey, 'node', node.keyPem);

    const store = openStore(config, paths, masterKey, { commit: 'each' });
    try {
      const principals = new PrincipalService(store, { N: config.security.scrypt_n, r: 8, p: 1 });
      principals.add({ name: 'node', role: 'service', certPem: node.certPem, tokenHash: null });
      step('created the node identity');
      const identities: ProvisionedIdentity[] = [];
      for (const name of opts.users) {
        identities.push(await provisionIdentity(paths, keys, principals, name, 'user'));
        step(`created user ${name}`);
      }
      for (const name of opts.members) {
        identities.push(await provisionIdentity(paths, keys, principals, name, 'member'));
        step(`created member ${name}`);
      }
      return { dir: paths.root, config: paths.config, caCert: paths.caCert, nodeCert: paths.nodeCert, sealingKey, identities };
    } finally {
      store.close();
    }
  } catch (err) {
    // Nothing half-made is left behind: a failed init can simply be run again.
    if (createdIdentities) rmSync(paths.identities, { recursive: true, force: true });
    if (createdRoot) rmSync(paths.root, { recursive: true, force: true });
    else for (const entry of readdirSync(paths.root)) rmSync(`${paths.root}/${entry}`, { recursive: true, force: true });
    throw err;
  }
}
