// Streamed client-side file encryption for the web console, byte-identical to MesaTEE clients and to
// src/sdk/file-crypto.ts: the WHOLE plaintext is one AES-256-GCM message under the file's key config
// (32-byte key, 12-byte nonce, a few bytes of AAD, all base64 as the node returns them), with the
// 16-byte tag appended.
//
// WebCrypto's AES-GCM is one-shot, and files can be gigabytes, so GCM is assembled here from its parts
// (NIST SP 800-38D §6.4, §7.1, 96-bit IV case):
//   H    = AES_K(0^128)
//   J0   = nonce || 0x00000001
//   C    = GCTR_K(inc32(J0), P)        -> WebCrypto AES-CTR, counter given per call, length: 32
//   S    = GHASH_H(A || 0-pad || C || 0-pad || [len(A)]_64 || [len(C)]_64)
//   tag  = S XOR AES_K(J0)
// Raw AES block encryptions (H, AES_K(J0)) are AES-CTR over one zero block with that block as counter.
//
// GHASH is computed with native code too, segment by segment. WebCrypto AES-GCM over an empty plaintext
// with a segment X (m blocks, zero-padded) as its additional data returns
//   T = GHASH_H(X || [len(X)]_64 || 0^64) XOR AES_K(J0)  =  (Y_X XOR L_X)·H XOR AES_K(J0)
// where Y_X = X_1·H^m + ... + X_m·H is GHASH's running value over X and L_X the length block. GHASH is
// linear, so the running value over everything so far, kept here as Z = Y·H, absorbs a segment as
//   Z' = Z·H^m XOR (T XOR AES_K(J0)) XOR L_X·H
// and S = Z XOR LEN·H at the end. Only a few GF(2^128) products per segment are done in JS (bigint).
// Those outputs T never leave this module, so using the file's own key and nonce for them reveals
// nothing. Segments are exactly GCM's: the AAD, whole-block ciphertext pieces, and one final partial
// piece (zero padding is what GCM does to it). A JS-only GHASH (@noble/ciphers/_polyval.js) measured
// 33 MB/s in Node 24 and made the whole cipher ~30 MB/s; this way is several times faster.

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

// ---- GF(2^128) as GCM defines it (SP 800-38D §6.3): a block is a big-endian 128-bit integer whose
// most significant bit is the coefficient of x^0.

const R = 0xe1n << 120n;
const MASK64 = (1n << 64n) - 1n;

function toBig(b: Uint8Array): bigint {
  let x = 0n;
  for (let i = 0; i < BLOCK; i++) x = (x << 8n) | BigInt(b[i]);
  return x;
}

function toBytes(x: bigint): Uint8Array {
  const out = new Uint8Array(BLOCK);
  for (let i = BLOCK - 1; i >= 0; i--, x >>= 8n) out[i] = Number(x & 0xffn);
  return out;
}

/** X·Y, SP 800-38D Algorithm 1. */
function gmul(x: bigint, y: bigint): bigint {
  let z = 0n;
  let v = y;
  for (let i = 127n; i >= 0n; i--) {
    if ((x >> i) & 1n) z ^= v;
    v = v & 1n ? (v >> 1n) ^ R : v >> 1n;
  }
  return z;
}

/** The length block [a bits]_64 || [b bits]_64; byte counts stay below 2^36, so bits fit 64. */
const lengthBlock = (aBytes: number, bBytes: number) => ((BigInt(aBytes) * 8n) << 64n) | ((BigInt(bBytes) * 8n) & MASK64);

/** AES_K(block) as AES-CTR of one zero block with `block` as the counter. */
async function aesBlock(key: CryptoKey, block: Uint8Array): Promise<Uint8Array> {
  const out = await crypto.subtle.encrypt({ name: 'AES-CTR', counter: own(block), length: 32 }, key, new Uint8Array(BLOCK));
  return new Uint8Array(out);
}

/** WebCrypto wants ArrayBuffer-backed views; copy only when that is not already so. It copies the input itself. */
const source = (b: Uint8Array): Uint8Array<ArrayBuffer> => (b.buffer instanceof ArrayBuffer ? (b as Uint8Array<ArrayBuffer>) : own(b));

/** Streaming GHASH with native GCM doing the block work (see the header). Feed GCM's segments in order. */
class Ghash {
  private z = 0n; // Y·H over the segments so far
  private readonly hPow = new Map<number, bigint>(); // H^m by segment block count
  private readonly lH = new Map<number, bigint>(); // L_X·H by segment byte length

  constructor(
    private readonly gcmKey: CryptoKey,
    private readonly nonce: Uint8Array<ArrayBuffer>,
    private readonly h: bigint,
    private readonly tagMask: bigint,
  ) {}

  private pow(m: number): bigint {
    let p = this.hPow.get(m);
    if (p === undefined) {
      p = 1n << 127n; // the field's 1
      for (let b = this.h, e = m; e > 0; e >>>= 1, b = gmul(b, b)) if (e & 1) p = gmul(p, b);
      if (this.hPow.size < 8) this.hPow.set(m, p);
    }
    return p;
  }

  private lengthTimesH(bytes: number): bigint {
    let v = this.lH.get(bytes);
    if (v === undefined) {
      v = gmul(lengthBlock(bytes, 0), this.h);
      if (this.lH.size < 8) this.lH.set(bytes, v);
    }
    return v;
  }

  private done: Promise<void> = Promise.resolve(); // the last segment folded into z

  /**
   * Absorbs one segment, zero-padded to whole blocks. The native GCM call starts (and copies the segment)
   * right away; folding its result into z waits for the segments before it. Resolves once folded.
   */
  update(segment: Uint8Array): Promise<void> {
    if (segment.length === 0) return this.done;
    const params = { name: 'AES-GCM', iv: this.nonce, additionalData: source(segment), tagLength: 128 };
    const t = crypto.subtle.encrypt(params, this.gcmKey, new Uint8Array(0));
    const bytes = segment.length;
    this.done = Promise.all([t, this.done]).then(([tag]) => {
      const m = Math.ceil(bytes / BLOCK);
      this.z = gmul(this.z, this.pow(m)) ^ toBig(new Uint8Array(tag)) ^ this.tagMask ^ this.lengthTimesH(bytes);
    });
    return this.done;
  }

  /** The GCM tag for AAD and data of these lengths. */
  tag(aadBytes: number, dataBytes: number): Uint8Array {
    return toBytes(this.z ^ gmul(lengthBlock(aadBytes, dataBytes), this.h) ^ this.tagMask);
  }
}

/** State shared by both directions: the CTR key and counter, GHASH so far, sizes. */
class GcmCore {
  private blocks = 0; // data blocks already run through CTR
  private bytes = 0; // data bytes accepted (for the length block and the size limit)
  private queue: Promise<unknown> = Promise.resolve(); // serializes update()/final()
  private macQueue: Promise<void> = Promise.resolve(); // GHASH of the latest piece, overlapping the next CTR
  private finished = false;

  protected constructor(
    private readonly key: CryptoKey,
    private readonly nonce: Uint8Array,
    private readonly aadBytes: number,
    private readonly mac: Ghash,
  ) {}

  protected static async setup(config: KeyConfig) {
    const keyBytes = base64ToBytes(config.key);
    const nonce = own(base64ToBytes(config.nonce));
    const ad = base64ToBytes(config.ad);
    if (keyBytes.length !== 32) throw new Error(`key config: the key is ${keyBytes.length} bytes, expected 32 (AES-256)`);
    if (nonce.length !== 12) throw new Error(`key config: the nonce is ${nonce.length} bytes, expected 12`);
    // Both non-extractable. CTR decryption is the same operation as encryption, so 'encrypt' is all
    // either needs; the AES-GCM key only ever computes GHASH (empty plaintext), see the header.
    const key = await crypto.subtle.importKey('raw', own(keyBytes), { name: 'AES-CTR' }, false, ['encrypt']);
    const gcmKey = await crypto.subtle.importKey('raw', own(keyBytes), { name: 'AES-GCM' }, false, ['encrypt']);
    keyBytes.fill(0);
    const h = toBig(await aesBlock(key, new Uint8Array(BLOCK)));
    const j0 = new Uint8Array(BLOCK);
    j0.set(nonce);
    j0[15] = 1;
    const tagMask = toBig(await aesBlock(key, j0));
    const mac = new Ghash(gcmKey, nonce, h, tagMask);
    await mac.update(ad); // the AAD is GCM's first segment
    return { key, nonce, aadBytes: ad.length, mac };
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

  /**
   * Queues GHASH of a ciphertext piece behind the previous one, and waits for that previous one: one
   * piece's GHASH overlaps the next piece's CTR, and no more than one piece is ever held in memory.
   */
  protected async absorb(ct: Uint8Array): Promise<void> {
    const previous = this.macQueue;
    this.macQueue = this.mac.update(ct); // reads ct now
    this.macQueue.catch(() => undefined); // surfaced by the next absorb() or by tag()
    await previous;
  }

  /** AES-CTR over `data` from the current counter; `data` must be whole blocks unless it is the last piece. */
  protected async ctr(data: Uint8Array): Promise<Uint8Array> {
    if (data.length === 0) return new Uint8Array(0);
    const counter = new Uint8Array(BLOCK);
    counter.set(this.nonce);
    // Data block i uses counter inc32^(i+1)(J0), i.e. low word 2 + i.
    new DataView(counter.buffer).setUint32(12, (2 + this.blocks) >>> 0, false);
    this.blocks += Math.ceil(data.length / BLOCK);
    const out = await crypto.subtle.encrypt({ name: 'AES-CTR', counter, length: 32 }, this.key, source(data));
    return new Uint8Array(out);
  }

  /** The tag over everything absorbed. Ends the stream. */
  protected async tag(): Promise<Uint8Array> {
    this.finished = true;
    await this.macQueue;
    return this.mac.tag(this.aadBytes, this.bytes);
  }
}

/** Streams plaintext in; ciphertext out, then the tag. Output is byte-identical to one-shot AES-256-GCM. */
export class GcmEncryptor extends GcmCore {
  private carry: Uint8Array = new Uint8Array(0); // < 16 plaintext bytes not yet encrypted

  static async create(config: KeyConfig): Promise<GcmEncryptor> {
    const s = await GcmCore.setup(config);
    return new GcmEncryptor(s.key, s.nonce, s.aadBytes, s.mac);
  }

  /** Ciphertext for the whole blocks available so far (a partial block waits for more input). */
  update(input: Uint8Array): Promise<Uint8Array> {
    const chunk = own(input); // copied at the call: the step may run later, and the caller may reuse its buffer
    return this.serial(async () => {
      this.count(chunk.length);
      const data = this.carry.length ? concat(this.carry, chunk) : chunk;
      const whole = data.length - (data.length % BLOCK);
      this.carry = data.slice(whole);
      const ct = await this.ctr(data.subarray(0, whole));
      await this.absorb(ct);
      return ct;
    });
  }

  /** The remaining ciphertext followed by the 16-byte tag. */
  final(): Promise<Uint8Array> {
    return this.serial(async () => {
      const ct = await this.ctr(this.carry);
      await this.absorb(ct); // the only possibly-partial ciphertext segment
      return concat(ct, await this.tag());
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
    return new GcmDecryptor(s.key, s.nonce, s.aadBytes, s.mac);
  }

  /** Plaintext so far; holds back the last 16 bytes (the tag may be there). */
  update(input: Uint8Array): Promise<Uint8Array> {
    const chunk = own(input); // copied at the call, as in the encryptor
    return this.serial(async () => {
      const data = this.pending.length ? concat(this.pending, chunk) : chunk;
      const avail = Math.max(0, data.length - TAG);
      const whole = avail - (avail % BLOCK);
      this.pending = data.slice(whole);
      const ct = data.subarray(0, whole);
      this.count(ct.length);
      // CTR and this piece's GHASH run side by side.
      const [pt] = await Promise.all([this.ctr(ct), this.absorb(ct)]);
      return pt;
    });
  }

  /** The remaining plaintext; throws DecryptError if the tag does not verify. */
  final(): Promise<Uint8Array> {
    return this.serial(async () => {
      const p = this.pending;
      if (p.length < TAG) {
        await this.tag(); // ends the stream
        throw new DecryptError();
      }
      const ct = p.subarray(0, p.length - TAG);
      this.count(ct.length);
      await this.absorb(ct);
      const expected = await this.tag();
      const got = p.subarray(p.length - TAG);
      let diff = 0; // constant-time compare
      for (let i = 0; i < TAG; i++) diff |= expected[i] ^ got[i];
      if (diff !== 0) throw new DecryptError();
      return this.ctr(ct);
    });
  }
}
