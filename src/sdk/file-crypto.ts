import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

// Client-side file encryption, exactly as MesaTEE clients do it: AES-256-GCM under the file's key
// config (32-byte key, 12-byte nonce, 5-byte AAD), with the 16-byte tag appended.

export interface KeyConfigJson {
  key: string;
  nonce: string;
  ad: string;
}

const parts = (c: KeyConfigJson) => ({ key: Buffer.from(c.key, 'base64'), nonce: Buffer.from(c.nonce, 'base64'), ad: Buffer.from(c.ad, 'base64') });

/** Encrypts a stream, appending the tag at the end. */
export function encryptStream(config: KeyConfigJson): Transform {
  const { key, nonce, ad } = parts(config);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(ad);
  return new Transform({
    transform(chunk: Buffer, _e, done: TransformCallback) {
      done(null, cipher.update(chunk));
    },
    flush(done: TransformCallback) {
      this.push(cipher.final());
      this.push(cipher.getAuthTag());
      done();
    },
  });
}

/** Decrypts a stream whose last 16 bytes are the tag; fails at the end if the tag does not verify. */
export function decryptStream(config: KeyConfigJson): Transform {
  const { key, nonce, ad } = parts(config);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(ad);
  let tail = Buffer.alloc(0);
  return new Transform({
    transform(chunk: Buffer, _e, done: TransformCallback) {
      const joined = tail.length ? Buffer.concat([tail, chunk]) : chunk;
      const body = Math.max(0, joined.length - 16);
      tail = Buffer.from(joined.subarray(body));
      done(null, decipher.update(joined.subarray(0, body)));
    },
    flush(done: TransformCallback) {
      try {
        decipher.setAuthTag(tail);
        this.push(decipher.final());
        done();
      } catch {
        done(new Error('the downloaded file does not decrypt: its tag does not verify (altered in transit or at rest)'));
      }
    },
  });
}

/** Counts bytes as they pass, for progress. */
export function counter(onBytes: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _e, done: TransformCallback) {
      onBytes(chunk.length);
      done(null, chunk);
    },
  });
}

export const sha256Hex = (data: Buffer) => createHash('sha256').update(data).digest('hex');
