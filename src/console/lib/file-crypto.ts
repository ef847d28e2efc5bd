// Streamed client-side file encryption for the web console, byte-identical to MesaTEE clients and to
// src/sdk/file-crypto.ts: the WHOLE plaintext is one AES-256-GCM message under the file's key config
// (32-byte key, 12-byte nonce, a few bytes of AAD, all base64 as the node returns them), with the
// 16-byte tag appended.
//
// WebCrypto's AES-GCM is one-shot, and files can be gigabytes, so GCM is assembled here from its parts
// (NIST SP 800-38D §7.1, 96-bit IV case):
//   H    = AES_K(0^128)
//   J0   = nonce || 0x00000001
//   C    = GCTR_K(inc32(J0), P)        -> WebCrypto AES-CTR, counter given per call, length: 32
//   S    = GHASH_H(A || 0-pad || C || 0-pad || [len(A)]_64 || [len(C)]_64)
//   tag  = S XOR AES_K(J0)
// AES-CTR runs at native speed; GHASH is @noble/ciphers/_polyval.js. Noble's GHASH zero-pads EVERY
// update() call to a 16-byte boundary (see its _polyval.ts, and computeTag() in aes.ts, which feeds AAD,
// data and the length block as three separate updates), so the AAD is fed once, the ciphertext is fed in
// whole 16-byte blocks with only the very last piece possibly partial, and then the length block, exactly
// mirroring noble's own gcm(). Raw AES block encryptions (H, AES_K(J0)) are AES-CTR over one zero block.

import { ghash } from '@noble/ciphers/_polyval.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';

/** A file's key config, base64 fields, as the node returns it. */
export interface KeyConfig {
  key: string;
  nonce: string;
  ad: string;
}

const DECRYPT_MESSAGE = 'the file does not decrypt: its tag does not verify (wrong key, or altered in transit or at rest)';

export class DecryptError extends Error {
  constructor(message: string = DECRYPT_MESSAGE) {
    super(message);
    this.name = 'DecryptError';
  }
}

const BLOCK = 16;
const TAG = 16;
// SP 800-38D §5.2.1.1: len(P) <= 2^39 - 256 bits, i.e. 2^32 - 2 blocks. It also guarantees the 32-bit
// counter, which starts at 2, never wraps, so every CTR call can simply say `length: 32`.
const MAX_BYTES = 2 ** 36 - 32;

/** Copy into a fresh ArrayBuffer-backed array (what WebCrypto's BufferSource typing wants). */
function own(b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(b.length);
  out.set(b);
  return out;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

export function base64ToBytes(s: string): Uint8Array {
  let bin: string;
  try {
    bin = atob(s);
  } catch {
    throw new Error('not valid base64');
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function bytesToBase64(b: Uint8Array): string {
  // String.fromCharCode(...) in slices: spreading a large array at once overflows the call stack.
  let bin = '';
  for (let i = 0; i < b.length; i += 0x8000) bin += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(bin);
}

/** Incremental SHA-256 (lowercase hex) of a plaintext read in chunks. */
export function sha256Hasher(): { update(chunk: Uint8Array): void; hex(): string } {
  const h = sha256.create();
  let done: string | undefined;
  return {
    update(chunk) {
      if (done !== undefined) throw new Error('sha256Hasher: update() after hex()');
      h.update(chunk);
    },
    hex() {
      return (done ??= bytesToHex(h.digest()));
    },
  };
}

type Ghash = ReturnType<typeof ghash.create>;

/** State shared by both directions: the key, the counter prefix, GHASH over AAD so far, AES_K(J0). */
class GcmCore {
  private blocks = 0; // whole data blocks already run through CTR
  private bytes = 0; // data bytes accepted (for the length block and the size limit)
  private queue: Promise<unknown> = Promise.resolve();
  private finished = false;

  protected constructor(
    private readonly key: CryptoKey,
    private readonly nonce: Uint8Array,
    private readonly aadBytes: number,
    protected readonly mac: Ghash,
    private readonly tagMask: Uint8Array,
  ) {}

  protected static async setup(config: KeyConfig) {
    const keyBytes = base64ToBytes(config.key);
    const nonce = base64ToBytes(config.nonce);
    const ad = base64ToBytes(config.ad);
    if (keyBytes.length !== 32) throw new Error(`key config: the key is ${keyBytes.length} bytes, expected 32 (AES-256)`);
    if (nonce.length !== 12) throw new Error(`key config: the nonce is ${nonce.length} bytes, expected 12`);
    // Non-extractable; CTR decryption is the same operation as encryption, so 'encrypt' is all we need.
    const key = await crypto.subtle.importKey('raw', own(keyBytes), { name: 'AES-CTR' }, false, ['encrypt']);
    keyBytes.fill(0);
    const zero = new Uint8Array(BLOCK);
    const h = await aesBlock(key, zero);
    const j0 = new Uint8Array(BLOCK);
    j0.set(nonce);
    j0[15] = 1;
    const tagMask = await aesBlock(key, j0);
    // expectedLength only sizes noble's precompute table; a large hint picks its fastest (8-bit) window.
    const mac = ghash.create(h, 1 << 20);
    h.fill(0);
    if (ad.length) mac.update(ad); // its own segment, zero-padded by noble as GCM requires
    return { key, nonce, aadBytes: ad.length, mac, tagMask };
  }

  /** Runs the steps one at a time, in call order, even if the caller does not await between calls. */
  protected serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => {
      if (this.finished) throw new Error('this stream is finished: final() was already called');
      return fn();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  protected count(n: number): void {
    this.bytes += n;
    if (this.bytes > MAX_BYTES) throw new Error(`the file is larger than AES-GCM allows (${MAX_BYTES} bytes)`);
  }

  /** AES-CTR over `data` from the current counter; `data` must be whole blocks unless it is the last piece. */
  protected async ctr(data: Uint8Array): Promise<Uint8Array> {
    if (data.length === 0) return new Uint8Array(0);
    const counter = new Uint8Array(BLOCK);
    counter.set(this.nonce);
    // Data block i uses counter inc32^(i+1)(J0), i.e. low word 2 + i.
    new DataView(counter.buffer).setUint32(12, (2 + this.blocks) >>> 0, false);
    this.blocks += Math.ceil(data.length / BLOCK);
    const out = await crypto.subtle.encrypt({ name: 'AES-CTR', counter, length: 32 }, this.key, own(data));
    return new Uint8Array(out);
  }

  /** GHASH the length block and mask: the tag over everything fed to `mac`. Ends the stream. */
  protected tag(): Uint8Array {
    this.finished = true;
    const len = new Uint8Array(BLOCK);
    const v = new DataView(len.buffer);
    const aadBits = this.aadBytes * 8;
    const dataBits = this.bytes * 8; // < 2^39: exact in a double
    v.setUint32(0, Math.floor(aadBits / 2 ** 32), false);
    v.setUint32(4, aadBits >>> 0, false);
    v.setUint32(8, Math.floor(dataBits / 2 ** 32), false);
    v.setUint32(12, dataBits % 2 ** 32, false);
    this.mac.update(len);
    const t = this.mac.digest();
    for (let i = 0; i < TAG; i++) t[i] ^= this.tagMask[i];
    return t;
  }
}

/** AES_K(block) as AES-CTR of one zero block with `block` as the counter. */
async function aesBlock(key: CryptoKey, block: Uint8Array): Promise<Uint8Array> {
  const out = await crypto.subtle.encrypt({ name: 'AES-CTR', counter: own(block), length: 32 }, key, new Uint8Array(BLOCK));
  return new Uint8Array(out);
}

/** Streams plaintext in; ciphertext out, then the tag. Output is byte-identical to one-shot AES-256-GCM. */
export class GcmEncryptor extends GcmCore {
  private carry: Uint8Array = new Uint8Array(0); // < 16 plaintext bytes not yet encrypted

  static async create(config: KeyConfig): Promise<GcmEncryptor> {
    const s = await GcmCore.setup(config);
    return new GcmEncryptor(s.key, s.nonce, s.aadBytes, s.mac, s.tagMask);
  }

  /** Ciphertext for the whole blocks available so far (a partial block waits for more input). */
  update(chunk: Uint8Array): Promise<Uint8Array> {
    return this.serial(async () => {
      this.count(chunk.length);
      const data = this.carry.length ? concat(this.carry, chunk) : chunk;
      const whole = data.length - (data.length % BLOCK);
      this.carry = own(data.subarray(whole)); // a copy: the caller may reuse its buffer (and Buffer#slice does not copy)
      const ct = await this.ctr(data.subarray(0, whole));
      if (ct.length) this.mac.update(ct);
      return ct;
    });
  }

  /** The remaining ciphertext followed by the 16-byte tag. */
  final(): Promise<Uint8Array> {
    return this.serial(async () => {
      const ct = await this.ctr(this.carry);
      if (ct.length) this.mac.update(ct); // the only possibly-partial GHASH segment, padded by noble
      return concat(ct, this.tag());
    });
  }
}

/**
 * Streams ciphertext-with-tag in; plaintext out. As with any streamed AEAD, the plaintext handed out by
 * update() is unauthenticated until final() returns: if final() throws, discard everything.
 */
export class GcmDecryptor extends GcmCore {
  private pending: Uint8Array = new Uint8Array(0); // < 32 bytes: the last 16 (maybe the tag) + a partial block

  static async create(config: KeyConfig): Promise<GcmDecryptor> {
    const s = await GcmCore.setup(config);
    return new GcmDecryptor(s.key, s.nonce, s.aadBytes, s.mac, s.tagMask);
  }

  /** Plaintext so far; holds back the last 16 bytes (the tag may be there). */
  update(chunk: Uint8Array): Promise<Uint8Array> {
    return this.serial(async () => {
      const data = this.pending.length ? concat(this.pending, chunk) : chunk;
      const avail = Math.max(0, data.length - TAG);
      const whole = avail - (avail % BLOCK);
      this.pending = own(data.subarray(whole)); // a copy, as in the encryptor
      const ct = data.subarray(0, whole);
      this.count(ct.length);
      if (ct.length) this.mac.update(ct);
      return this.ctr(ct);
    });
  }

  /** The remaining plaintext; throws DecryptError if the tag does not verify. */
  final(): Promise<Uint8Array> {
    return this.serial(async () => {
      const p = this.pending;
      if (p.length < TAG) {
        this.tag(); // ends the stream
        throw new DecryptError();
      }
      const ct = p.subarray(0, p.length - TAG);
      this.count(ct.length);
      if (ct.length) this.mac.update(ct);
      const expected = this.tag();
      const got = p.subarray(p.length - TAG);
      let diff = 0; // constant-time compare
      for (let i = 0; i < TAG; i++) diff |= expected[i] ^ got[i];
      if (diff !== 0) throw new DecryptError();
      return this.ctr(ct);
    });
  }
}
