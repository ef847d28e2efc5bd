// Run as its own process by test/files/nats-blobs.test.ts, so that its peak resident memory (VmHWM)
// measures one large upload and download through NatsBlobStore and nothing else the test runner did.
// argv: <nats url> <bucket> <MiB>. Prints one JSON line: sizes, timings and memory figures in bytes.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { NatsBlobStore } from '../../src/files/nats-blobs.js';
import { newUuid } from '../../src/crypto/random.js';
import { procStatusBytes } from './proc.js';

const [url, bucket, mib] = process.argv.slice(2);
const blocks = Number(mib);
const block = randomBytes(1024 * 1024);
const config = { key: randomBytes(32), nonce: randomBytes(12), ad: randomBytes(16) };
const plainHash = createHash('sha256');
for (let i = 0; i < blocks; i++) plainHash.update(block);
const sha256 = plainHash.digest('hex');

/** The ciphertext, made as it is read: `blocks` MiB of plaintext, then the 16-byte tag. */
function* ciphertext(): Generator<Buffer> {
  const cipher = createCipheriv('aes-256-gcm', config.key, config.nonce);
  cipher.setAAD(config.ad);
  for (let i = 0; i < blocks; i++) yield cipher.update(block);
  yield Buffer.concat([cipher.final(), cipher.getAuthTag()]);
}

const store = await NatsBlobStore.open({ servers: url, bucket, timeoutMs: 10_000 });
const fileId = newUuid();
const rssBefore = procStatusBytes(process.pid, 'VmRSS');
const t0 = Date.now();
await store.writeVerified(fileId, Readable.from(ciphertext(), { objectMode: false }), { config, fileSize: blocks * 1024 * 1024, sha256 });
const putMs = Date.now() - t0;
const peakAfterPut = procStatusBytes(process.pid, 'VmHWM');

// Read it back, decrypting and hashing as it streams, as a downloader would.
const t1 = Date.now();
const decipher = createDecipheriv('aes-256-gcm', config.key, config.nonce).setAAD(config.ad);
const hash = createHash('sha256');
let received = 0;
let tail = Buffer.alloc(0);
for await (const chunk of store.openRead(fileId)) {
  received += (chunk as Buffer).length;
  const all = Buffer.concat([tail, chunk as Buffer]);
  const body = all.subarray(0, Math.max(0, all.length - 16));
  tail = all.subarray(body.length);
  hash.update(decipher.update(body));
}
decipher.setAuthTag(tail);
hash.update(decipher.final());
const getMs = Date.now() - t1;
const roundTrip = hash.digest('hex') === sha256 && received === blocks * 1024 * 1024 + 16;
await store.remove(fileId);
await store.close();
console.log(JSON.stringify({ bytes: received, roundTrip, putMs, getMs, rssBefore, peakAfterPut, peakAfterGet: procStatusBytes(process.pid, 'VmHWM') }));

