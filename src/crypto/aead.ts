import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

// AES-256-GCM. Key, nonce and AAD lengths follow MesaTEE's AEADKeyConfig: 32, 12 and 5 bytes for
// file keys. A sealed blob (for wrapping keys) is nonce ‖ ciphertext ‖ tag with a fresh nonce.

export const KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;

export function seal(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad);
  return Buffer.concat([nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

/** Throws if the blob was not sealed under `key` with this `aad`. */
export function unseal(key: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  if (sealed.length < NONCE_BYTES + TAG_BYTES) throw new Error('sealed blob too short');
  const nonce = sealed.subarray(0, NONCE_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
}

/** MesaTEE's file encryption: ciphertext ‖ 16-byte tag, under the file's own key, nonce and AAD. */
export function encryptFile(config: { key: Buffer; nonce: Buffer; ad: Buffer }, plaintext: Buffer): Buffer {
  const cipher = createCipheriv('aes-256-gcm', config.key, config.nonce);
  cipher.setAAD(config.ad);
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

export function decryptFile(config: { key: Buffer; nonce: Buffer; ad: Buffer }, blob: Buffer): Buffer {
  if (blob.length < TAG_BYTES) throw new Error('ciphertext shorter than its tag');
  const decipher = createDecipheriv('aes-256-gcm', config.key, config.nonce);
  decipher.setAAD(config.ad);
  decipher.setAuthTag(blob.subarray(blob.length - TAG_BYTES));
  return Buffer.concat([decipher.update(blob.subarray(0, blob.length - TAG_BYTES)), decipher.final()]);
}
