import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';

export interface WireKeyConfig {
  key: string;
  nonce: string;
  ad: string;
}

const parts = (c: WireKeyConfig) => ({ key: Buffer.from(c.key, 'base64'), nonce: Buffer.from(c.nonce, 'base64'), ad: Buffer.from(c.ad, 'base64') });

/** What a MesaTEE client does before upload: AES-256-GCM under the file's key config, tag appended. */
export function encryptForUpload(config: WireKeyConfig, plaintext: Buffer): Buffer {
  const { key, nonce, ad } = parts(config);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(ad);
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

export function decryptDownload(config: WireKeyConfig, blob: Buffer): Buffer {
  const { key, nonce, ad } = parts(config);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(ad);
  decipher.setAuthTag(blob.subarray(blob.length - 16));
  return Buffer.concat([decipher.update(blob.subarray(0, blob.length - 16)), decipher.final()]);
}

export const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** PSI records as in MesaTEE's integration test: each a letter repeated 32 times. */
export const letterRecords = (letters: string) => Buffer.from([...letters].map((l) => l.repeat(32)).join(''));
