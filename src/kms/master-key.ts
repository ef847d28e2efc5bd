import { hkdfSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { TesseraError } from '../errors/index.js';
import { KEY_BYTES, seal, unseal } from '../crypto/aead.js';
import { writeSecretFile } from '../crypto/secret-file.js';

// The node's master key wraps every file key. It is kept in the data directory only sealed: encrypted
// under a sealing key that lives elsewhere — with the `software` provider, a 0600 file in the operator's
// home (like a TEE's sealing key, which never leaves the platform). A copied data directory is useless
// without it. Hardware providers will seal to a key derived inside the TEE instead.

const AAD = Buffer.from('tessera master key v1');

export const SEALING_KEY_ENV = 'TESSERA_SEALING_KEY_FILE';

/** Where the sealing key is: the setting, else $TESSERA_SEALING_KEY_FILE, else ~/.config/tessera/sealing.key. */
export function sealingKeyPath(configured: string): string {
  return configured || process.env[SEALING_KEY_ENV] || join(homedir(), '.config', 'tessera', 'sealing.key');
}

function loadOrCreateSealingKey(path: string, create: boolean): Buffer {
  if (!existsSync(path)) {
    if (!create) {
      throw new TesseraError(
        'not_found',
        `the sealing key ${path} is missing, so the master key cannot be unsealed; restore it, or point kms.sealing_key_file (or $${SEALING_KEY_ENV}) at it`,
      );
    }
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeSecretFile(path, randomBytes(KEY_BYTES).toString('base64') + '\n');
  }
  const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
  if (key.length !== KEY_BYTES) throw new TesseraError('invalid_input', `the sealing key ${path} is not 32 base64-encoded bytes`);
  return key;
}

/** At init: a fresh master key, sealed into `sealedPath`. */
export function createMasterKey(sealedPath: string, sealingPath: string): void {
  const sealingKey = loadOrCreateSealingKey(sealingPath, true);
  writeSecretFile(sealedPath, seal(sealingKey, randomBytes(KEY_BYTES), AAD).toString('base64') + '\n');
}

/** At start: the master key, unsealed in memory only. */
export function unsealMasterKey(sealedPath: string, sealingPath: string): Buffer {
  const sealingKey = loadOrCreateSealingKey(sealingPath, false);
  try {
    return unseal(sealingKey, Buffer.from(readFileSync(sealedPath, 'utf8').trim(), 'base64'), AAD);
  } catch {
    throw new TesseraError('permission_denied', `${sealedPath} cannot be unsealed with ${sealingPath}: it was sealed under another sealing key`);
  }
}

/** A key for one purpose, derived from the master key (HKDF-SHA-256), so the master key itself is used for nothing else. */
export const deriveKey = (masterKey: Buffer, purpose: string): Buffer => Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), `tessera ${purpose}`, 32));

/** The store's keys (store/sqlite.ts): one seals private tables' writes in the ledger, the other their rows. */
export const storeKeysOf = (masterKey: Buffer) => ({ ledgerKey: deriveKey(masterKey, 'ledger private tables'), rowKey: deriveKey(masterKey, 'store rows') });
