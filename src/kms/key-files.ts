import { existsSync, readFileSync, rmSync } from 'node:fs';
import { seal, unseal } from '../crypto/aead.js';
import { writeSecretFile } from '../crypto/secret-file.js';
import { TesseraError } from '../errors/index.js';
import { deriveKey } from './master-key.js';

// The private keys a node keeps in its data directory — its CA's, its TLS key, the software attestation
// provider's platform key — are stored sealed (AES-256-GCM) under a key derived from the master key, so a
// copy of the data directory without the sealing key holds no usable key (issue 16 #6). Each is bound to
// its role as associated data: the node key copied over the CA key does not open as the CA's.

export type KeyRole = 'ca' | 'node' | 'platform';

export class KeyFiles {
  private readonly key: Buffer;

  constructor(masterKey: Buffer) {
    this.key = deriveKey(masterKey, 'key files');
  }

  /** Creates `path` (0600, never overwritten) holding `pem` sealed. */
  write(path: string, role: KeyRole, pem: string): void {
    writeSecretFile(path, seal(this.key, Buffer.from(pem, 'utf8'), this.aad(role)).toString('base64') + '\n');
  }

  exists(path: string, legacyPath?: string): boolean {
    return existsSync(path) || (legacyPath !== undefined && existsSync(legacyPath));
  }

  /**
   * The PEM in `path`. A data directory made before keys were sealed has it in the clear at `legacyPath`:
   * it is sealed into `path` and the plaintext file removed, the first time it is read.
   */
  read(path: string, role: KeyRole, legacyPath?: string): string {
    if (!existsSync(path) && legacyPath !== undefined && existsSync(legacyPath)) {
      this.write(path, role, readFileSync(legacyPath, 'utf8'));
      rmSync(legacyPath);
    }
    if (!existsSync(path)) throw new TesseraError('not_found', `the ${role} key ${path} is missing from the data directory`);
    try {
      return unseal(this.key, Buffer.from(readFileSync(path, 'utf8').trim(), 'base64'), this.aad(role)).toString('utf8');
    } catch {
      throw new TesseraError('permission_denied', `${path} does not open as the ${role} key under this data directory's master key: it was altered, swapped with another key file, or comes from another data directory`);
    }
  }

  private aad(role: KeyRole): Buffer {
    return Buffer.from(`tessera key file\0${role}`, 'utf8');
  }
}
