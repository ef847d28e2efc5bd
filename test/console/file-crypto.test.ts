import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  DecryptError,
  GcmDecryptor,
  GcmEncryptor,
  type KeyConfig,
  base64ToBytes,
  bytesToBase64,
  sha256Hasher,
} from '../../src/console/lib/file-crypto.js';
import { decryptDownload, encryptForUpload } from '../helpers/files.js';

// The console's streamed AES-256-GCM (WebCrypto AES-CTR, GHASH by segments through WebCrypto AES-GCM) against node:crypto's one-shot
// aes-256-gcm, as MesaTEE clients and the SDK use it (test/helpers/files.ts). Everything random comes from
// a seeded PRNG, and each assertion names its seed, so a failure can be replayed.

/** mulberry32: small, seedable, good enough to pick chunk splits and fill test data. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n); // 0..n-1
  const bytes = (n: number) => {
    const out = Buffer.alloc(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) out.writeUInt32LE((next() * 4294967296) >>> 0, i);
    for (; i < n; i++) out[i] = int(256);
    return out;
  };
  return { int, bytes };
}

function keyConfig(seed: number, adLength = 5): KeyConfig {
  const r = prng(seed);
  return { key: r.bytes(32).toString('base64'), nonce: r.bytes(12).toString('base64'), ad: r.bytes(adLength).toString('base64') };
}

/** Cuts `data` into random pieces: mostly small or odd sizes, sometimes empty, sometimes large. */
function split(data: Uint8Array, seed: number): Uint8Array[] {
  const r = prng(seed);
  const parts: Uint8Array[] = [];
  let at = 0;
  while (at < data.length) {
    const kind = r.int(4);
    const n = kind === 0 ? 0 : kind === 1 ? 1 + r.int(40) : kind === 2 ? 1 + r.int(5000) : 1 + r.int(Math.max(1, data.length >> 2));
    parts.push(data.subarray(at, at + n));
    at += n;
  }
  if (r.int(2)) parts.push(new Uint8Array(0));
  return parts;
}

async function encryptChunks(config: KeyConfig, chunks: Uint8Array[]): Promise<Buffer> {
  const enc = await GcmEncryptor.create(config);
  const out: Uint8Array[] = [];
  for (const c of chunks) out.push(await enc.update(c));
  out.push(await enc.final());
  return Buffer.concat(out);
}

async function decryptChunks(config: KeyConfig, chunks: Uint8Array[]): Promise<Buffer> {
  const dec = await GcmDecryptor.create(config);
  const out: Uint8Array[] = [];
  for (const c of chunks) out.push(await dec.update(c));
  out.push(await dec.final());
  return Buffer.concat(out);
}

const SIZES = [0, 1, 15, 16, 17, 31, 32, 33, 1000, (1 << 20) + 3];
const SPLITS_PER_SIZE = 6;

describe('GcmEncryptor', () => {
  test('is byte-identical to node:crypto aes-256-gcm (tag appended) for any chunking', async () => {
    for (const size of SIZES) {
      for (let s = 0; s < SPLITS_PER_SIZE; s++) {
        const seed = size * 1000 + s;
        const config = keyConfig(seed);
        const plain = prng(seed + 7).bytes(size);
        const expected = encryptForUpload(config, plain);
        const got = await encryptChunks(config, s === 0 ? [plain] : split(plain, seed));
        assert.equal(got.length, size + 16, `size ${size}, seed ${seed}`);
        assert.ok(got.equals(expected), `size ${size}, seed ${seed}: ciphertext differs from node:crypto`);
      }
    }
  });

  test('AAD of other lengths (0, 16, 17 bytes) matches too', async () => {
    for (const adLength of [0, 1, 16, 17, 40]) {
      const seed = 500 + adLength;
      const config = keyConfig(seed, adLength);
      const plain = prng(seed).bytes(333);
      assert.ok((await encryptChunks(config, split(plain, seed))).equals(encryptForUpload(config, plain)), `ad ${adLength} bytes`);
    }
  });

  test('a 5 MiB file in many chunks', async () => {
    const seed = 5;
    const config = keyConfig(seed);
    const plain = prng(seed).bytes(5 * 1024 * 1024);
    const chunks: Uint8Array[] = [];
    // 1 MiB + 7 so every chunk boundary falls mid-block, then the random splitter.
    for (let at = 0; at < plain.length; at += (1 << 20) + 7) chunks.push(plain.subarray(at, at + (1 << 20) + 7));
    const expected = encryptForUpload(config, plain);
    assert.ok((await encryptChunks(config, chunks)).equals(expected), 'fixed 1 MiB+7 chunks');
    assert.ok((await encryptChunks(config, split(plain, seed))).equals(expected), `random split, seed ${seed}`);
  });

  test('update() calls that are not awaited one by one still come out in order', async () => {
    const config = keyConfig(77);
    const plain = prng(77).bytes(100_003);
    const enc = await GcmEncryptor.create(config);
    const pieces = await Promise.all([...split(plain, 77).map((c) => enc.update(c)), enc.final()]);
    assert.ok(Buffer.concat(pieces).equals(encryptForUpload(config, plain)));
  });

  test('does not keep a reference to the caller\'s buffer', async () => {
    const config = keyConfig(78);
    const plain = prng(78).bytes(37);
    const enc = await GcmEncryptor.create(config);
    const buf = Buffer.from(plain);
    const pending = enc.update(buf); // 32 bytes out, 5 carried
    buf.fill(0); // the caller reuses its read buffer, even before the update settles
    const first = await pending;
    const rest = await enc.final();
    assert.ok(Buffer.concat([first, rest]).equals(encryptForUpload(config, plain)));
  });

  test('the AES key is imported non-extractable', async () => {
    const enc = await GcmEncryptor.create(keyConfig(1));
    const key = (enc as unknown as { key: CryptoKey }).key;
    assert.equal(key.extractable, false);
    assert.equal(key.algorithm.name, 'AES-CTR');
  });

  test('refuses wrong key or nonce lengths, and use after final()', async () => {
    const good = keyConfig(2);
    await assert.rejects(GcmEncryptor.create({ ...good, key: Buffer.alloc(16).toString('base64') }), /key is 16 bytes, expected 32/);
    await assert.rejects(GcmEncryptor.create({ ...good, nonce: Buffer.alloc(16).toString('base64') }), /nonce is 16 bytes, expected 12/);
    const enc = await GcmEncryptor.create(good);
    await enc.final();
    await assert.rejects(enc.update(new Uint8Array(1)), /final\(\) was already called/);
    await assert.rejects(enc.final(), /final\(\) was already called/);
  });
});

describe('GcmDecryptor', () => {
  test('round-trips node:crypto ciphertext for any chunking', async () => {
    for (const size of SIZES) {
      for (let s = 0; s < SPLITS_PER_SIZE; s++) {
        const seed = size * 1000 + s + 50;
        const config = keyConfig(seed);
        const plain = prng(seed + 7).bytes(size);
        const blob = encryptForUpload(config, plain);
        const got = await decryptChunks(config, s === 0 ? [blob] : split(blob, seed));
        assert.ok(got.equals(plain), `size ${size}, seed ${seed}`);
      }
    }
  });

  test('does not keep a reference to the caller\'s buffer', async () => {
    const seed = 79;
    const config = keyConfig(seed);
    const plain = prng(seed).bytes(200_000);
    const blob = encryptForUpload(config, plain);
    const dec = await GcmDecryptor.create(config);
    const reused = Buffer.alloc(7000); // one read buffer, overwritten after every update()
    const out: Uint8Array[] = [];
    for (let at = 0; at < blob.length; at += reused.length) {
      const n = blob.copy(reused, 0, at, at + reused.length);
      const pending = dec.update(reused.subarray(0, n));
      reused.fill(0xaa);
      out.push(await pending);
    }
    out.push(await dec.final());
    assert.ok(Buffer.concat(out).equals(plain));
  });

  test('update() holds back the last 16 bytes', async () => {
    const config = keyConfig(9);
    const plain = prng(9).bytes(64);
    const blob = encryptForUpload(config, plain);
    const dec = await GcmDecryptor.create(config);
    assert.equal((await dec.update(blob.subarray(0, 16))).length, 0);
    assert.equal((await dec.update(blob.subarray(16, 80))).length, 64); // 80 in, 16 held back
    assert.equal((await dec.final()).length, 0);
  });

  test('a 5 MiB file round-trips through the encryptor and node:crypto', async () => {
    const seed = 55;
    const config = keyConfig(seed);
    const plain = prng(seed).bytes(5 * 1024 * 1024 + 11);
    const blob = await encryptChunks(config, split(plain, seed));
    assert.ok(decryptDownload(config, blob).equals(plain), 'node:crypto decrypts ours');
    assert.ok((await decryptChunks(config, split(blob, seed + 1))).equals(plain), 'ours decrypts ours');
  });

  const rejectsAsTampered = async (config: KeyConfig, blob: Uint8Array, seed: number, what: string) => {
    const dec = await GcmDecryptor.create(config);
    for (const c of split(blob, seed)) await dec.update(c);
    await assert.rejects(dec.final(), (e: unknown) => {
      assert.ok(e instanceof DecryptError, `${what}: ${String(e)}`);
      assert.equal(e.message, 'the file does not decrypt: its tag does not verify (wrong key, or altered in transit or at rest)');
      return true;
    }, what);
  };

  test('a flipped bit anywhere in the ciphertext or tag throws DecryptError from final()', async () => {
    const seed = 11;
    const config = keyConfig(seed);
    const plain = prng(seed).bytes(1000);
    const blob = encryptForUpload(config, plain);
    const r = prng(seed);
    const positions = [0, 15, 16, 999, 1000, 1015, ...Array.from({ length: 10 }, () => r.int(blob.length))];
    for (const at of positions) {
      const bad = Buffer.from(blob);
      bad[at] ^= 1 << r.int(8);
      await rejectsAsTampered(config, bad, seed + at, `bit flipped at byte ${at} (${at >= 1000 ? 'tag' : 'ciphertext'})`);
    }
  });

  test('a wrong key config (AAD, key or nonce) or a truncated file throws DecryptError', async () => {
    const seed = 12;
    const config = keyConfig(seed);
    const blob = encryptForUpload(config, prng(seed).bytes(300));
    const ad = base64ToBytes(config.ad);
    ad[0] ^= 0x80;
    await rejectsAsTampered({ ...config, ad: bytesToBase64(ad) }, blob, seed, 'one AAD bit differs');
    await rejectsAsTampered({ ...config, ad: '' }, blob, seed, 'AAD missing');
    await rejectsAsTampered({ ...config, key: keyConfig(seed + 1).key }, blob, seed, 'another key');
    await rejectsAsTampered({ ...config, nonce: keyConfig(seed + 1).nonce }, blob, seed, 'another nonce');
    await rejectsAsTampered(config, blob.subarray(0, blob.length - 1), seed, 'last byte cut off');
    await rejectsAsTampered(config, blob.subarray(0, 10), seed, 'shorter than a tag');
    await rejectsAsTampered(config, new Uint8Array(0), seed, 'empty');
  });

  test('a 0-byte file (tag only) decrypts to nothing', async () => {
    const config = keyConfig(13);
    const blob = encryptForUpload(config, Buffer.alloc(0));
    assert.equal(blob.length, 16);
    assert.equal((await decryptChunks(config, [blob.subarray(0, 3), blob.subarray(3)])).length, 0);
  });
});

describe('helpers', () => {
  test('sha256Hasher matches node:crypto createHash over any chunking', () => {
    for (const size of [0, 1, 63, 64, 65, 1000, 200_001]) {
      for (let s = 0; s < 3; s++) {
        const seed = 900 + size + s;
        const data = prng(seed).bytes(size);
        const h = sha256Hasher();
        for (const c of split(data, seed)) h.update(c);
        const expected = createHash('sha256').update(data).digest('hex');
        assert.equal(h.hex(), expected, `size ${size}, seed ${seed}`);
        assert.equal(h.hex(), expected, 'hex() can be asked twice');
      }
    }
  });

  test('base64 helpers agree with Buffer', () => {
    for (const size of [0, 1, 2, 3, 4, 32, 100_000]) {
      const b = prng(size).bytes(size);
      assert.equal(bytesToBase64(b), b.toString('base64'));
      assert.ok(Buffer.from(base64ToBytes(b.toString('base64'))).equals(b));
    }
    assert.throws(() => base64ToBytes('not base64!'), /not valid base64/);
  });
});

test('throughput: encrypt and decrypt 64 MiB in 1 MiB chunks', async (t) => {
  const config = keyConfig(64);
  const chunk = prng(64).bytes(1 << 20);
  const total = 64;
  const rate = (ms: number) => ((total * 1024 * 1024) / 1e6 / (ms / 1000)).toFixed(0);

  const enc = await GcmEncryptor.create(config);
  const node = createHash('sha256'); // digest of our output, to check against a one-shot encryption below
  let start = performance.now();
  for (let i = 0; i < total; i++) node.update(await enc.update(chunk));
  const tail = await enc.final();
  const encMs = performance.now() - start;
  node.update(tail);

  const dec = await GcmDecryptor.create(config);
  const blob = encryptForUpload(config, Buffer.concat(Array.from({ length: total }, () => chunk)));
  assert.equal(node.digest('hex'), createHash('sha256').update(blob).digest('hex'), 'the streamed 64 MiB equals node:crypto');
  start = performance.now();
  for (let at = 0; at < blob.length; at += 1 << 20) await dec.update(blob.subarray(at, at + (1 << 20)));
  await dec.final();
  const decMs = performance.now() - start;

  t.diagnostic(`encrypt 64 MiB in 1 MiB chunks: ${encMs.toFixed(0)} ms, ${rate(encMs)} MB/s`);
  t.diagnostic(`decrypt 64 MiB in 1 MiB chunks: ${decMs.toFixed(0)} ms, ${rate(decMs)} MB/s`);
});
