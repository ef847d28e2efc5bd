import { randomBytes } from 'node:crypto';
import { TesseraError } from '../errors/index.js';
import { KEY_BYTES, NONCE_BYTES, seal, unseal } from '../crypto/aead.js';
import { newUuid } from '../crypto/random.js';
import type { ReadTx, Store, Tx } from '../store/types.js';

const KEYS = 'kms.keys';
export const AD_BYTES = 5;

/** MesaTEE's AEADKeyConfig: one file's key, nonce and AAD. */
export interface KeyConfig {
  key: Buffer;
  nonce: Buffer;
  ad: Buffer;
}

interface StoredKey {
  /** key ‖ nonce ‖ ad, sealed under the master key with the key id as AAD. */
  wrapped: string;
  created_at: string;
}

const aadFor = (keyId: string) => Buffer.from(`tessera kms ${keyId}`);

/**
 * The key service: per-file AES-256-GCM keys, held only wrapped under the master key. The key id is
 * bound into each wrapping, so a wrapped key copied to another id does not unwrap.
 */
export class KeyService {
  constructor(
    private readonly store: Store,
    private readonly masterKey: Buffer,
  ) {}

  /** Makes a key inside a caller's transaction, so the key and what uses it commit together. */
  createIn(tx: Tx): { keyId: string; config: KeyConfig } {
    const config = { key: randomBytes(KEY_BYTES), nonce: randomBytes(NONCE_BYTES), ad: randomBytes(AD_BYTES) };
    const keyId = newUuid();
    const wrapped = seal(this.masterKey, Buffer.concat([config.key, config.nonce, config.ad]), aadFor(keyId));
    tx.put<StoredKey>(KEYS, keyId, { wrapped: wrapped.toString('base64'), created_at: new Date().toISOString() });
    return { keyId, config };
  }

  create(): { keyId: string; config: KeyConfig } {
    return this.store.transact((tx) => this.createIn(tx)).result;
  }

  getIn(tx: ReadTx, keyId: string): KeyConfig {
    const stored = tx.get<StoredKey>(KEYS, keyId);
    if (!stored) throw new TesseraError('not_found', `no key ${keyId}`);
    const raw = unseal(this.masterKey, Buffer.from(stored.wrapped, 'base64'), aadFor(keyId));
    return {
      key: raw.subarray(0, KEY_BYTES),
      nonce: raw.subarray(KEY_BYTES, KEY_BYTES + NONCE_BYTES),
      ad: raw.subarray(KEY_BYTES + NONCE_BYTES),
    };
  }

  get(keyId: string): KeyConfig {
    return this.store.read((tx) => this.getIn(tx, keyId));
  }

  deleteIn(tx: Tx, keyId: string): KeyConfig {
    const config = this.getIn(tx, keyId);
    tx.delete(KEYS, keyId);
    return config;
  }

  /** Drops a key if it exists, without reading it. */
  discardIn(tx: Tx, keyId: string): void {
    tx.delete(KEYS, keyId);
  }

  delete(keyId: string): KeyConfig {
    return this.store.transact((tx) => this.deleteIn(tx, keyId)).result;
  }
}

/** The wire form: standard base64 with padding. */
export const keyConfigJson = (c: KeyConfig) => ({
  key: c.key.toString('base64'),
  nonce: c.nonce.toString('base64'),
  ad: c.ad.toString('base64'),
});
