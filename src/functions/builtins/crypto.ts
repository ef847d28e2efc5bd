import { createDecipheriv, createPrivateKey, sign } from 'node:crypto';
import { TesseraError } from '../../errors/index.js';
import type { FunctionDefinition } from '../registry.js';
import { decodeBase64, jsonArguments, lines, requirePayload, rustTrim } from './common.js';

/** MesaTEE v0.1 rsa_sign: RSASSA-PKCS1-v1_5 with SHA-256, key from the first input file (PKCS#1 DER). */
export const rsaSign: FunctionDefinition = {
  name: 'rsa_sign',
  kind: 'builtin',
  type: 'Single',
  description: 'Signs the base64 payload with the RSA key in the input file (RSASSA-PKCS1-v1_5, SHA-256); returns the base64 signature',
  interface: {
    payload: 'text',
    arguments: [{ name: 'payload', description: 'the data to sign, base64', required: true }],
    inputs: [{ name: 'rsa_key', description: 'PKCS#1 RSAPrivateKey, DER' }],
    outputs: [],
  },
  run: async (ctx) => {
    const data = decodeBase64('rsa_sign', 'the payload', requirePayload(ctx.payload, 'rsa_sign'));
    let key;
    try {
      key = createPrivateKey({ key: await ctx.readFile(ctx.inputFiles[0].file_id), format: 'der', type: 'pkcs1' });
    } catch {
      throw new TesseraError('invalid_input', 'rsa_sign: the input file is not a PKCS#1 DER RSA private key');
    }
    return sign('sha256', data, key).toString('base64');
  },
};

/** Teaclave builtin_online_decrypt: AES-GCM with the first 12 nonce bytes and an empty AAD; returns UTF-8. */
export const onlineDecrypt: FunctionDefinition = {
  name: 'online_decrypt',
  kind: 'builtin',
  type: 'Single',
  description: 'Decrypts AES-GCM ciphertext (tag appended) given in the arguments, and returns the UTF-8 plaintext',
  interface: {
    payload: 'json',
    arguments: [
      { name: 'key', description: 'base64; 16 bytes for aes128gcm, 32 for aes256gcm', required: true },
      { name: 'nonce', description: 'base64; the first 12 bytes are used', required: true },
      { name: 'encrypted_data', description: 'base64 ciphertext ‖ 16-byte tag', required: true },
      { name: 'algorithm', description: '"aes128gcm" or "aes256gcm"', required: true },
    ],
    inputs: [],
    outputs: [],
  },
  run: (ctx) => {
    const fn = 'online_decrypt';
    const args = jsonArguments<{ key: string; nonce: string; encrypted_data: string; algorithm: 'aes128gcm' | 'aes256gcm' }>(fn, ctx.payload, {
      type: 'object',
      required: ['key', 'nonce', 'encrypted_data', 'algorithm'],
      properties: { key: { type: 'string' }, nonce: { type: 'string' }, encrypted_data: { type: 'string' }, algorithm: { enum: ['aes128gcm', 'aes256gcm'] } },
    });
    const key = decodeBase64(fn, 'key', args.key);
    const nonce = decodeBase64(fn, 'nonce', args.nonce);
    const data = decodeBase64(fn, 'encrypted_data', args.encrypted_data);
    const keyLength = args.algorithm === 'aes128gcm' ? 16 : 32;
    if (key.length !== keyLength) throw new TesseraError('invalid_input', `${fn}: ${args.algorithm} needs a ${keyLength}-byte key, got ${key.length}`);
    if (nonce.length < 12) throw new TesseraError('invalid_input', `${fn}: the nonce needs at least 12 bytes, got ${nonce.length}`);
    if (data.length < 16) throw new TesseraError('invalid_input', `${fn}: encrypted_data is shorter than its 16-byte tag`);
    const decipher = createDecipheriv(args.algorithm === 'aes128gcm' ? 'aes-128-gcm' : 'aes-256-gcm', key, nonce.subarray(0, 12));
    decipher.setAuthTag(data.subarray(data.length - 16));
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]);
    } catch {
      throw new TesseraError('invalid_input', `${fn}: the tag does not verify (wrong key or nonce, or altered data)`);
    }
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(plain);
    } catch {
      throw new TesseraError('invalid_input', `${fn}: the plaintext is not UTF-8`);
    }
  },
};

/** Reads one byte array of v0.1's AEADKeyConfig (serde's Vec<u8>: a JSON array of integers 0 to 255). */
function byteArray(value: unknown, field: string): Buffer {
  if (!Array.isArray(value) || !value.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) {
    throw new TesseraError('invalid_input', `decrypt: the key file's "${field}" must be an array of bytes (integers 0 to 255)`);
  }
  return Buffer.from(value as number[]);
}

/**
 * MesaTEE v0.1 `decrypt` (its trusted_worker/online_decrypt.rs; Teaclave later renamed the function
 * online_decrypt and changed its arguments, which `online_decrypt` above follows). The first input file is
 * the key config, JSON `{"key":[32 bytes],"nonce":[12 bytes],"ad":[bytes]}` as v0.1's example writes it;
 * the payload is base64 of ciphertext ‖ 16-byte tag; AES-256-GCM with `ad` as the AAD; the result is the
 * plaintext in base64.
 */
export const decrypt: FunctionDefinition = {
  name: 'decrypt',
  kind: 'builtin',
  type: 'Single',
  description: "MesaTEE v0.1's decrypt: AES-256-GCM with the key, nonce and AAD in the input file; decrypts the base64 payload and returns the plaintext in base64",
  interface: {
    payload: 'text',
    arguments: [{ name: 'payload', description: 'base64 of ciphertext ‖ 16-byte tag', required: true }],
    inputs: [{ name: 'key_config', description: 'JSON {"key":[32 bytes],"nonce":[12 bytes],"ad":[bytes]}' }],
    outputs: [],
  },
  run: async (ctx) => {
    const fn = 'decrypt';
    const keyFile = ctx.inputFiles[0];
    if (!keyFile) throw new TesseraError('missing_value', `${fn} needs the key config as its input file`);
    let config: Record<string, unknown>;
    try {
      config = JSON.parse((await ctx.readFile(keyFile.file_id)).toString('utf8'));
    } catch {
      throw new TesseraError('invalid_input', `${fn}: the key file is not JSON`);
    }
    if (config === null || typeof config !== 'object' || Array.isArray(config)) throw new TesseraError('invalid_input', `${fn}: the key file must be a JSON object with key, nonce and ad`);
    const key = byteArray(config.key, 'key');
    const nonce = byteArray(config.nonce, 'nonce');
    const ad = byteArray(config.ad, 'ad');
    const data = decodeBase64(fn, 'the payload', requirePayload(ctx.payload, fn));
    if (key.length !== 32) throw new TesseraError('invalid_input', `${fn}: AES-256-GCM needs a 32-byte key, got ${key.length}`);
    if (nonce.length !== 12) throw new TesseraError('invalid_input', `${fn}: the nonce must be 12 bytes, got ${nonce.length}`);
    if (data.length < 16) throw new TesseraError('invalid_input', `${fn}: the ciphertext is shorter than its 16-byte tag`);
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
    decipher.setAAD(ad);
    decipher.setAuthTag(data.subarray(data.length - 16));
    try {
      return Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]).toString('base64');
    } catch {
      throw new TesseraError('invalid_input', `${fn}: the tag does not verify (wrong key, nonce or ad, or altered data)`);
    }
  },
};

/** Teaclave builtin-password-check: is the password (first line) among the exposed ones? */
/** Teaclave builtin-password-check: is the password (first line, trimmed) among the exposed ones (each trimmed)? */
export const passwordCheck: FunctionDefinition = {
  name: 'password_check',
  kind: 'builtin',
  type: 'Single',
  description: 'Returns "true" if the password (first line of the first input) is in the exposed list (second input), else "false"',
  interface: {
    payload: 'none',
    arguments: [],
    inputs: [
      { name: 'password', description: 'the password, on the first line' },
      { name: 'exposed_passwords', description: 'one exposed password per line' },
    ],
    outputs: [],
  },
  run: async (ctx) => {
    const [pw, list] = ctx.inputFiles;
    // Teaclave trims the password line and every exposed line (Rust's str::trim: Unicode white space).
    const password = lines((await ctx.readFile(pw.file_id)).toString('utf8'))[0];
    if (password === undefined) throw new TesseraError('invalid_input', 'password_check: the password file is empty');
    const wanted = rustTrim(password);
    const exposed = new Set(lines((await ctx.readFile(list.file_id)).toString('utf8')).map(rustTrim));
    return exposed.has(wanted) ? 'true' : 'false';
  },
};
